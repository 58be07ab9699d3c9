"""Apache Kafka, one KRaft node (broker + controller): its properties, storage format on first run, health."""

from __future__ import annotations

import subprocess

from .java import ensure_java_libs, java_argv
from .settings import HOST, KAFKA_CONTROLLER_PORT, KAFKA_PORT, STATE, StackError, log
from .supervisor import Service


def prepare_kafka() -> list[str]:
    ensure_java_libs("kafka", "kafka")
    home = STATE / "kafka"
    data = home / "data"
    props = home / "server.properties"
    home.mkdir(parents=True, exist_ok=True)
    props.write_text(
        "process.roles=broker,controller\n"
        "node.id=1\n"
        f"controller.quorum.bootstrap.servers={HOST}:{KAFKA_CONTROLLER_PORT}\n"
        f"listeners=PLAINTEXT://{HOST}:{KAFKA_PORT},CONTROLLER://{HOST}:{KAFKA_CONTROLLER_PORT}\n"
        f"advertised.listeners=PLAINTEXT://{HOST}:{KAFKA_PORT}\n"
        "controller.listener.names=CONTROLLER\n"
        "inter.broker.listener.name=PLAINTEXT\n"
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT\n"
        f"log.dirs={data}\n"
        "num.partitions=3\n"
        "default.replication.factor=1\n"
        "min.insync.replicas=1\n"
        "offsets.topic.replication.factor=1\n"
        "offsets.topic.num.partitions=10\n"
        "transaction.state.log.replication.factor=1\n"
        "transaction.state.log.min.isr=1\n"
        "share.coordinator.state.topic.replication.factor=1\n"
        "share.coordinator.state.topic.min.isr=1\n"
        "group.initial.rebalance.delay.ms=0\n"
        "auto.create.topics.enable=false\n"
        "log.retention.hours=168\n"
    )
    if not (data / "meta.properties").exists():
        cluster_file = home / "cluster.id"
        if not cluster_file.exists():
            result = subprocess.run(
                java_argv("kafka", "kafka", "256m", "kafka.tools.StorageTool", "random-uuid"),
                capture_output=True,
                text=True,
            )
            if result.returncode != 0:
                raise StackError("kafka", f"StorageTool random-uuid failed: {result.stderr.strip()[-800:]}")
            cluster_file.write_text(result.stdout.strip().splitlines()[-1])
        log("kafka: formatting KRaft storage (first run)")
        result = subprocess.run(
            java_argv(
                "kafka",
                "kafka",
                "256m",
                "kafka.tools.StorageTool",
                "format",
                "--standalone",
                "-t",
                cluster_file.read_text().strip(),
                "-c",
                str(props),
            ),
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise StackError("kafka", f"StorageTool format failed: {(result.stdout + result.stderr).strip()[-800:]}")
    return java_argv("kafka", "kafka", "1g", "kafka.Kafka", str(props))


def kafka_health() -> None:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": f"{HOST}:{KAFKA_PORT}", "socket.timeout.ms": 3000})
    metadata = admin.list_topics(timeout=3)
    if not metadata.brokers:
        raise StackError("kafka", "broker metadata lists no broker")


SERVICE = Service(
    "kafka",
    [KAFKA_PORT, KAFKA_CONTROLLER_PORT],
    f"{HOST}:{KAFKA_PORT} (KRaft controller :{KAFKA_CONTROLLER_PORT})",
    prepare_kafka,
    kafka_health,
)
