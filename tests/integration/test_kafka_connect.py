"""Kafka Connect of the native stack, through the provider's KafkaConnectHook."""

from __future__ import annotations

import pytest

from banking_cdc.exceptions import KafkaConnectError
from banking_cdc.hooks.kafka_connect import KafkaConnectHook

pytestmark = pytest.mark.integration

DEBEZIUM = "io.debezium.connector.postgresql.PostgresConnector"


def test_rest_api_lists_the_debezium_postgres_connector(stack: dict[str, str]) -> None:
    hook = KafkaConnectHook()
    plugins = {plugin["class"]: plugin for plugin in hook.list_connector_plugins()}
    assert DEBEZIUM in plugins
    assert plugins[DEBEZIUM]["type"] == "source"
    assert plugins[DEBEZIUM]["version"] == "3.6.1.Final"
    assert hook.has_connector_plugin(DEBEZIUM)


def test_connection_test_reports_worker_version(stack: dict[str, str]) -> None:
    ok, message = KafkaConnectHook().test_connection()
    assert ok, message
    assert "Kafka Connect 4.3.1" in message


def test_unknown_connector_status_raises_with_http_status(stack: dict[str, str]) -> None:
    with pytest.raises(KafkaConnectError, match="404") as err:
        KafkaConnectHook().get_connector_status("no-such-connector")
    assert err.value.http_status == 404
