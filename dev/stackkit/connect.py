"""Kafka Connect in distributed mode with the Debezium PostgreSQL connector in its plugin folder.

``plugin.path`` names the parent folder ``connect-plugins/`` that the ``debezium`` Maven module fills.
"""

from __future__ import annotations

import json
import urllib.request

from .java import ensure_java_libs, java_argv
from .settings import CONNECT_PORT, DEBEZIUM_CLASS, HOST, KAFKA_PORT, STATE, StackError
from .supervisor import Service


def prepare_connect() -> list[str]:
    ensure_java_libs("kafka", "kafka-connect")
    plugins = ensure_java_libs("debezium", "kafka-connect") / "connect-plugins"
    home = STATE / "connect"
    home.mkdir(parents=True, exist_ok=True)
    props = home / "connect-distributed.properties"
    props.write_text(
        f"bootstrap.servers={HOST}:{KAFKA_PORT}\n"
        "group.id=banking-cdc-connect\n"
        "key.converter=org.apache.kafka.connect.json.JsonConverter\n"
        "value.converter=org.apache.kafka.connect.json.JsonConverter\n"
        "key.converter.schemas.enable=false\n"
        "value.converter.schemas.enable=false\n"
        "offset.storage.topic=_connect-offsets\n"
        "offset.storage.replication.factor=1\n"
        "offset.storage.partitions=5\n"
        "config.storage.topic=_connect-configs\n"
        "config.storage.replication.factor=1\n"
        "status.storage.topic=_connect-status\n"
        "status.storage.replication.factor=1\n"
        "status.storage.partitions=5\n"
        "offset.flush.interval.ms=5000\n"
        f"listeners=http://{HOST}:{CONNECT_PORT}\n"
        f"rest.advertised.host.name={HOST}\n"
        f"rest.advertised.port={CONNECT_PORT}\n"
        f"plugin.path={plugins}\n"
        "plugin.discovery=hybrid_warn\n"
        # topics the worker needs are created by the worker itself; the broker does not auto-create
        "topic.creation.enable=true\n"
    )
    return java_argv("kafka-connect", "kafka", "1g", "org.apache.kafka.connect.cli.ConnectDistributed", str(props))


def connect_health() -> None:
    with urllib.request.urlopen(f"http://{HOST}:{CONNECT_PORT}/connector-plugins", timeout=3) as resp:
        plugins = json.load(resp)
    classes = {plugin.get("class") for plugin in plugins}
    if DEBEZIUM_CLASS not in classes:
        raise StackError("kafka-connect", f"REST API is up but does not list {DEBEZIUM_CLASS}")


SERVICE = Service(
    "kafka-connect",
    [CONNECT_PORT],
    f"http://{HOST}:{CONNECT_PORT} (REST, Debezium {DEBEZIUM_CLASS.rsplit('.', 1)[-1]})",
    prepare_connect,
    connect_health,
)
