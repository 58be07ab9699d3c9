"""Health-check operators for the services the pipeline depends on.

Each operator performs one real round trip with its service through the upstream hook and fails
with :class:`~banking_cdc.exceptions.ServiceUnhealthyError` naming the service when it cannot.
The returned dict (pushed to XCom) holds facts about the service, never row data.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context

from banking_cdc.exceptions import ServiceUnhealthyError

DEBEZIUM_POSTGRES_CONNECTOR = "io.debezium.connector.postgresql.PostgresConnector"


class ServiceHealthOperator(BaseOperator):
    """
    Base class: run :meth:`check` and turn any failure into an error naming the service.

    :param service_name: Human name of the service, used in logs and errors.
    """

    ui_color = "#e8f5e9"

    def __init__(self, *, service_name: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.service_name = service_name

    def check(self, context: Context) -> dict[str, Any]:
        """Talk to the service; return facts about it or raise."""
        raise NotImplementedError

    def execute(self, context: Context) -> dict[str, Any]:
        try:
            facts = self.check(context)
        except ServiceUnhealthyError:
            raise
        except Exception as exc:
            raise ServiceUnhealthyError(f"{self.service_name} is unhealthy: {type(exc).__name__}: {exc}") from exc
        self.log.info("%s is healthy: %s", self.service_name, facts)
        return facts


class PostgresHealthOperator(ServiceHealthOperator):
    """
    Check the source PostgreSQL: a SQL round trip, and logical WAL for change-data capture.

    :param postgres_conn_id: Airflow connection to the source database.
    :param require_logical_wal: Fail unless ``wal_level`` is ``logical`` (needed by Debezium).
    """

    template_fields: Sequence[str] = ("postgres_conn_id",)

    def __init__(
        self,
        *,
        postgres_conn_id: str = "postgres_source",
        require_logical_wal: bool = True,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("service_name", "PostgreSQL")
        super().__init__(**kwargs)
        self.postgres_conn_id = postgres_conn_id
        self.require_logical_wal = require_logical_wal

    def check(self, context: Context) -> dict[str, Any]:
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        hook = PostgresHook(postgres_conn_id=self.postgres_conn_id)
        row = hook.get_first("SELECT current_setting('server_version'), current_setting('wal_level')")
        if row is None:
            raise ServiceUnhealthyError(f"{self.service_name}: the version query returned no row")
        version, wal_level = row
        if self.require_logical_wal and wal_level != "logical":
            raise ServiceUnhealthyError(
                f"{self.service_name}: wal_level is {wal_level!r}; change-data capture needs 'logical'"
            )
        return {"server_version": version, "wal_level": wal_level}


class KafkaHealthOperator(ServiceHealthOperator):
    """
    Check the Kafka cluster: fetch broker metadata through the Kafka provider's admin hook.

    :param kafka_config_id: Airflow connection to Kafka (``bootstrap.servers`` in its extra).
    :param timeout: Seconds to wait for the metadata answer.
    """

    template_fields: Sequence[str] = ("kafka_config_id",)

    def __init__(self, *, kafka_config_id: str = "kafka_default", timeout: float = 10.0, **kwargs: Any) -> None:
        kwargs.setdefault("service_name", "Kafka")
        super().__init__(**kwargs)
        self.kafka_config_id = kafka_config_id
        self.timeout = timeout

    def check(self, context: Context) -> dict[str, Any]:
        from airflow.providers.apache.kafka.hooks.client import KafkaAdminClientHook

        admin = KafkaAdminClientHook(kafka_config_id=self.kafka_config_id).get_conn
        metadata = admin.list_topics(timeout=self.timeout)
        if not metadata.brokers:
            raise ServiceUnhealthyError(f"{self.service_name}: cluster metadata lists no broker")
        return {
            "cluster_id": metadata.cluster_id,
            "brokers": len(metadata.brokers),
            "topics": len([name for name in metadata.topics if not name.startswith("__")]),
        }


class KafkaConnectHealthOperator(ServiceHealthOperator):
    """
    Check the Kafka Connect worker: REST API answers and the required plugins are installed.

    :param kafka_connect_conn_id: Airflow connection to the Kafka Connect worker.
    :param required_plugins: Connector classes that must be on the worker's plugin path.
    """

    template_fields: Sequence[str] = ("kafka_connect_conn_id",)

    def __init__(
        self,
        *,
        kafka_connect_conn_id: str = "kafka_connect_default",
        required_plugins: Sequence[str] = (DEBEZIUM_POSTGRES_CONNECTOR,),
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("service_name", "Kafka Connect")
        super().__init__(**kwargs)
        self.kafka_connect_conn_id = kafka_connect_conn_id
        self.required_plugins = list(required_plugins)

    def check(self, context: Context) -> dict[str, Any]:
        from banking_cdc.hooks.kafka_connect import KafkaConnectHook

        hook = KafkaConnectHook(kafka_connect_conn_id=self.kafka_connect_conn_id)
        info = hook.get_worker_info()
        installed = {plugin.get("class"): plugin.get("version") for plugin in hook.list_connector_plugins()}
        missing = [name for name in self.required_plugins if name not in installed]
        if missing:
            raise ServiceUnhealthyError(
                f"{self.service_name} at {hook.base_url} lacks connector plugin(s): {', '.join(missing)}"
            )
        return {
            "version": info.get("version"),
            "plugins": {name: installed[name] for name in self.required_plugins},
            "connectors": hook.list_connectors(),
        }


class ObjectStoreHealthOperator(ServiceHealthOperator):
    """
    Check the S3-compatible object store: write, list, read back and delete a probe object.

    The endpoint comes from the AWS connection (``endpoint_url`` in its extra), so any
    S3-compatible server works.

    :param aws_conn_id: Airflow connection to the object store.
    :param bucket_name: The landing bucket; it must exist.
    :param probe_prefix: Key prefix of the probe object.
    """

    template_fields: Sequence[str] = ("aws_conn_id", "bucket_name")

    def __init__(
        self,
        *,
        bucket_name: str,
        aws_conn_id: str | None = "aws_default",
        probe_prefix: str = "_health/",
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("service_name", "Object store")
        super().__init__(**kwargs)
        self.aws_conn_id = aws_conn_id
        self.bucket_name = bucket_name
        self.probe_prefix = probe_prefix

    def check(self, context: Context) -> dict[str, Any]:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        hook = S3Hook(aws_conn_id=self.aws_conn_id)
        if not hook.check_for_bucket(self.bucket_name):
            raise ServiceUnhealthyError(f"{self.service_name}: bucket {self.bucket_name!r} does not exist")
        key = f"{self.probe_prefix}probe-{secrets.token_hex(8)}.bin"
        payload = secrets.token_bytes(256)
        hook.load_bytes(payload, key=key, bucket_name=self.bucket_name, replace=True)
        try:
            listed = hook.list_keys(bucket_name=self.bucket_name, prefix=key)
            read_back = hook.get_key(key, bucket_name=self.bucket_name).get()["Body"].read()
        finally:
            hook.delete_objects(bucket=self.bucket_name, keys=[key])
        if key not in listed:
            raise ServiceUnhealthyError(f"{self.service_name}: probe object {key!r} was written but not listed")
        if read_back != payload:
            raise ServiceUnhealthyError(f"{self.service_name}: probe object {key!r} read back different bytes")
        return {"bucket": self.bucket_name, "endpoint": hook.conn_config.endpoint_url, "probe_bytes": len(payload)}
