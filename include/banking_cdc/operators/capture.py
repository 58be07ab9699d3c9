"""Operators that set up change-data capture: source schema, Kafka topics, Debezium connector.

Each one is idempotent: running it again against a set-up system changes nothing (no DDL effect,
no topic change, no connector write, so no task restart), and reports what it found.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator, Context

from banking_cdc.capture.config import CaptureConfig, redacted
from banking_cdc.exceptions import TopicMismatchError


def slot_active_pid(postgres_conn_id: str, slot: str) -> int | None:
    """The process id of the walsender streaming ``slot`` now (``None``: nobody streams it, or no such slot)."""
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    row = PostgresHook(postgres_conn_id=postgres_conn_id).get_first(
        "SELECT active_pid FROM pg_replication_slots WHERE slot_name = %s", parameters=(slot,)
    )
    return None if row is None or row[0] is None else int(row[0])


class CaptureConfigOperator(BaseOperator):
    """
    Base of the operators driven by the capture configuration (tables, topics, connector).

    :param capture_config_path: Capture configuration file; ``None`` uses the packaged ``capture.yaml``.
    """

    def __init__(self, *, capture_config_path: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.capture_config_path = capture_config_path

    def load_capture_config(self) -> CaptureConfig:
        """The capture configuration (read when the task runs: the path may be templated)."""
        return CaptureConfig.load(self.capture_config_path)


class ApplySourceSchemaOperator(CaptureConfigOperator):
    """
    Make every table of ``capture.yaml`` capturable and published, or fail naming each one that is not.

    Creates the connector's heartbeat and signal tables (and the banking demo tables when
    ``source.create_demo_tables``), checks each configured table (exists, plain table, primary key or declared
    key columns, ``REPLICA IDENTITY FULL``, readable by the connector's user), then makes the publication
    publish exactly them (``source.manage_publication``) or verifies it. See
    :func:`~banking_cdc.capture.source_setup.ensure_source`.

    :param postgres_conn_id: Airflow connection to the source database, as the owner of its tables.
    :param connector_conn_id: Airflow connection the Debezium connector signs in with (its user's privileges
        are checked); ``None``: the same as ``postgres_conn_id``.
    """

    template_fields: Sequence[str] = ("postgres_conn_id", "connector_conn_id", "capture_config_path")

    def __init__(
        self, *, postgres_conn_id: str = "postgres_source", connector_conn_id: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.postgres_conn_id = postgres_conn_id
        self.connector_conn_id = connector_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow.providers.postgres.hooks.postgres import PostgresHook
        from airflow.sdk import BaseHook

        from banking_cdc.capture.source_setup import ensure_source

        capture = self.load_capture_config()
        connector_user = BaseHook.get_connection(self.connector_conn_id or self.postgres_conn_id).login or ""
        conn = PostgresHook(postgres_conn_id=self.postgres_conn_id).get_conn()
        try:
            setup = ensure_source(conn, capture, connector_user=connector_user)
        finally:
            conn.close()
        self.log.info(
            "Source ready: %d captured table(s), keys %s; publication %s publishes %s (added %s, removed %s)",
            len(capture.source.tables), setup.keys, capture.source.publication, setup.published,
            setup.added or "none", setup.removed or "none",
        )  # fmt: skip
        return {
            "tables": list(capture.source.tables),
            "publication": capture.source.publication,
            "published": setup.published,
            "added": setup.added,
            "removed": setup.removed,
            "keys": setup.keys,
        }


class EnsureKafkaTopicsOperator(CaptureConfigOperator):
    """
    Create the change topics up front, with their partition counts and topic configuration.

    A topic that already exists is checked, not changed: a different partition count fails the task
    (changing it would move keys between partitions and break per-row ordering).

    :param kafka_config_id: Airflow connection to Kafka (the Kafka provider's ``kafka`` type).
    :param timeout: Seconds to wait for the broker's answers.
    """

    template_fields: Sequence[str] = ("kafka_config_id", "capture_config_path")

    def __init__(self, *, kafka_config_id: str = "kafka_default", timeout: float = 30.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kafka_config_id = kafka_config_id
        self.timeout = timeout

    def execute(self, context: Context) -> dict[str, str]:
        from airflow.providers.apache.kafka.hooks.client import KafkaAdminClientHook
        from confluent_kafka.admin import NewTopic

        capture = self.load_capture_config()
        admin = KafkaAdminClientHook(kafka_config_id=self.kafka_config_id).get_conn
        wanted = capture.topic_partitions()
        existing = admin.list_topics(timeout=self.timeout).topics
        outcome: dict[str, str] = {}
        mismatched = []
        for topic, partitions in wanted.items():
            if topic in existing:
                actual = len(existing[topic].partitions)
                if actual != partitions:
                    mismatched.append(f"{topic} has {actual} partitions, capture.yaml declares {partitions}")
                outcome[topic] = "exists"
        if mismatched:
            raise TopicMismatchError("; ".join(mismatched))
        to_create = [
            NewTopic(
                topic,
                num_partitions=partitions,
                replication_factor=capture.topics.replication_factor,
                config=dict(capture.topics.config),
            )
            for topic, partitions in wanted.items()
            if topic not in existing
        ]
        if to_create:
            for topic, future in admin.create_topics(to_create, request_timeout=self.timeout).items():
                future.result()
                outcome[topic] = "created"
                self.log.info("Created topic %s with %d partitions", topic, wanted[topic])
        for topic, state in outcome.items():
            if state == "exists":
                self.log.info("Topic %s exists with %d partitions", topic, wanted[topic])
        return outcome


class EnsureDebeziumConnectorOperator(CaptureConfigOperator):
    """
    Create or update the Debezium connector from ``capture.yaml``, then wait until it runs.

    The database details and password come from the source's Airflow connection, never from the
    file. An unchanged configuration is not written again (no restart). Failed tasks are restarted
    once before the operator gives up.

    :param kafka_connect_conn_id: Airflow connection to the Kafka Connect worker.
    :param postgres_conn_id: Airflow connection to the source database (replication user). Its
        ``extra`` may hold ``connect_host`` / ``connect_port`` when Kafka Connect reaches the database
        under another address than Airflow does.
    :param wait_timeout: Seconds to wait for the connector and its tasks to be RUNNING.
    :param restart_failed: Restart failed tasks once before failing.
    """

    template_fields: Sequence[str] = ("kafka_connect_conn_id", "postgres_conn_id", "capture_config_path")

    def __init__(
        self,
        *,
        kafka_connect_conn_id: str = "kafka_connect_default",
        postgres_conn_id: str = "postgres_source",
        wait_timeout: float = 180.0,
        restart_failed: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.kafka_connect_conn_id = kafka_connect_conn_id
        self.postgres_conn_id = postgres_conn_id
        self.wait_timeout = wait_timeout
        self.restart_failed = restart_failed

    def render_connector_config(self, capture: CaptureConfig) -> dict[str, str]:
        """The full connector configuration, with the source connection merged in."""
        from airflow.sdk import BaseHook

        conn = BaseHook.get_connection(self.postgres_conn_id)
        extra = conn.extra_dejson
        return capture.connector_config(
            host=str(extra.get("connect_host") or conn.host or ""),
            port=int(extra.get("connect_port") or conn.port or 5432),
            user=conn.login or "",
            password=conn.password or "",
            dbname=conn.schema or "",
        )

    def execute(self, context: Context) -> dict[str, Any]:
        from banking_cdc.exceptions import KafkaConnectError
        from banking_cdc.hooks.kafka_connect import KafkaConnectHook

        capture = self.load_capture_config()
        name = capture.connector.name
        config = self.render_connector_config(capture)
        self.log.info("Desired configuration of connector %s: %s", name, redacted(config))
        hook = KafkaConnectHook(kafka_connect_conn_id=self.kafka_connect_conn_id)
        previous = hook.get_connector_config(name)
        # the walsender streaming the slot before the change: a new one shows the restarted task streams
        slot_pid = slot_active_pid(self.postgres_conn_id, config["slot.name"]) if previous is not None else None
        outcome = hook.create_or_update_connector(name, config)
        expected_tasks = int(config.get("tasks.max", "1"))
        try:
            status = hook.wait_for_connector_running(name, expected_tasks=expected_tasks, timeout=self.wait_timeout)
        except KafkaConnectError as exc:
            if not self.restart_failed or "failed" not in str(exc):
                raise
            self.log.warning("Connector %s is failing (%s); restarting its failed parts once", name, exc)
            hook.restart_connector(name, include_tasks=True, only_failed=True)
            status = hook.wait_for_connector_running(name, expected_tasks=expected_tasks, timeout=self.wait_timeout)
            outcome = f"{outcome}, restarted"  # type: ignore[assignment]
        tasks = {str(task["id"]): task["state"] for task in status.get("tasks", [])}
        self.log.info("Connector %s %s; connector %s, tasks %s", name, outcome, status["connector"]["state"], tasks)
        previous_tables = (
            None if previous is None else [t for t in previous.get("table.include.list", "").split(",") if t]
        )
        return {
            "connector": name,
            "outcome": outcome,
            "state": status["connector"]["state"],
            "tasks": tasks,
            "previous_tables": previous_tables,
            "slot_pid_before": slot_pid,
        }
