"""Health operators: failures become errors that name the service (hooks faked here)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest

from banking_cdc.exceptions import ServiceUnhealthyError
from banking_cdc.operators.health import (
    DEBEZIUM_POSTGRES_CONNECTOR,
    KafkaConnectHealthOperator,
    KafkaHealthOperator,
    PostgresHealthOperator,
)


def test_postgres_without_logical_wal_is_unhealthy() -> None:
    op = PostgresHealthOperator(task_id="pg")
    with mock.patch(
        "airflow.providers.postgres.hooks.postgres.PostgresHook.get_first", return_value=("15.8", "replica")
    ):
        with pytest.raises(
            ServiceUnhealthyError, match="PostgreSQL: wal_level is 'replica'; change-data capture needs 'logical'"
        ):
            op.execute(context={})  # type: ignore[arg-type]


def test_postgres_with_logical_wal_reports_version() -> None:
    op = PostgresHealthOperator(task_id="pg")
    with mock.patch(
        "airflow.providers.postgres.hooks.postgres.PostgresHook.get_first", return_value=("15.8", "logical")
    ):
        assert op.execute(context={}) == {"server_version": "15.8", "wal_level": "logical"}  # type: ignore[arg-type]


def test_unexpected_exception_is_wrapped_naming_the_service() -> None:
    op = KafkaHealthOperator(task_id="kafka", kafka_config_id="kafka_default")
    admin = mock.MagicMock()
    admin.list_topics.side_effect = RuntimeError("KafkaError{code=_TRANSPORT}")
    with mock.patch("airflow.providers.apache.kafka.hooks.client.KafkaAdminClientHook.get_conn", admin):
        with pytest.raises(
            ServiceUnhealthyError, match=r"Kafka is unhealthy: RuntimeError: KafkaError\{code=_TRANSPORT\}"
        ):
            op.execute(context={})  # type: ignore[arg-type]


def test_kafka_without_brokers_is_unhealthy() -> None:
    op = KafkaHealthOperator(task_id="kafka")
    admin = mock.MagicMock()
    admin.list_topics.return_value = SimpleNamespace(brokers={}, topics={}, cluster_id="c")
    with mock.patch("airflow.providers.apache.kafka.hooks.client.KafkaAdminClientHook.get_conn", admin):
        with pytest.raises(ServiceUnhealthyError, match="metadata lists no broker"):
            op.execute(context={})  # type: ignore[arg-type]


def test_connect_missing_debezium_plugin_is_named() -> None:
    op = KafkaConnectHealthOperator(task_id="connect")
    fake: Any = mock.MagicMock(base_url="http://connect:8083")
    fake.get_worker_info.return_value = {"version": "4.3.1"}
    fake.list_connector_plugins.return_value = [{"class": "org.apache.kafka.connect.mirror.MirrorSourceConnector"}]
    with mock.patch("banking_cdc.hooks.kafka_connect.KafkaConnectHook", return_value=fake):
        with pytest.raises(
            ServiceUnhealthyError, match=f"lacks connector plugin\\(s\\): {DEBEZIUM_POSTGRES_CONNECTOR}"
        ):
            op.execute(context={})  # type: ignore[arg-type]
