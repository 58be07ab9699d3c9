"""Hook for the Kafka Connect REST API (connectors, tasks, plugins)."""

from __future__ import annotations

from functools import cached_property
from typing import Any
from urllib.parse import quote

import requests
from airflow.sdk import BaseHook
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from banking_cdc.exceptions import KafkaConnectError


class KafkaConnectHook(BaseHook):
    """
    Talk to a Kafka Connect worker through its REST API.

    The connection holds the worker's address: ``host``, ``port`` and, in ``schema``, the URL
    scheme (``http`` by default, ``https`` for TLS). ``login`` / ``password`` enable HTTP basic
    authentication. Extra options: ``verify`` (bool or CA bundle path, default ``true``) and
    ``timeout`` (seconds per request, default ``10``).

    Idempotent reads (``GET``) are retried with back-off on connection errors and 5xx answers;
    writes are not retried by the hook.

    :param kafka_connect_conn_id: The Airflow connection to the Kafka Connect worker.
    """

    conn_name_attr = "kafka_connect_conn_id"
    default_conn_name = "kafka_connect_default"
    conn_type = "kafka_connect"
    hook_name = "Kafka Connect"

    def __init__(self, kafka_connect_conn_id: str = default_conn_name) -> None:
        super().__init__()
        self.kafka_connect_conn_id = kafka_connect_conn_id

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Return custom field behaviour for the connection form."""
        return {
            "hidden_fields": [],
            "relabeling": {"schema": "Scheme (http or https)"},
            "placeholders": {
                "host": "kafka-connect",
                "port": "8083",
                "schema": "http",
                "extra": '{"verify": true, "timeout": 10}',
            },
        }

    @cached_property
    def _settings(self) -> dict[str, Any]:
        conn = self.get_connection(self.kafka_connect_conn_id)
        if not conn.host:
            raise KafkaConnectError(f"connection {self.kafka_connect_conn_id!r} has no host")
        scheme = (conn.schema or "http").lower()
        if scheme not in ("http", "https"):
            raise KafkaConnectError(
                f"connection {self.kafka_connect_conn_id!r}: schema must be 'http' or 'https', got {scheme!r}"
            )
        extra = conn.extra_dejson
        port = f":{conn.port}" if conn.port else ""
        return {
            "base_url": f"{scheme}://{conn.host}{port}",
            "auth": (conn.login, conn.password) if conn.login else None,
            "verify": extra.get("verify", True),
            "timeout": float(extra.get("timeout", 10)),
        }

    @property
    def base_url(self) -> str:
        """Root URL of the worker's REST API, for example ``http://127.0.0.1:8083``."""
        return str(self._settings["base_url"])

    def get_conn(self) -> requests.Session:
        """Return a ``requests`` session for the worker, retrying idempotent reads."""
        session = requests.Session()
        session.auth = self._settings["auth"]
        session.verify = self._settings["verify"]
        session.headers.update({"Accept": "application/json", "Content-Type": "application/json"})
        retry = Retry(
            total=3,
            connect=3,
            backoff_factor=0.5,
            status_forcelist=(500, 502, 503, 504),
            allowed_methods=frozenset({"GET"}),
            raise_on_status=False,
        )
        session.mount("http://", HTTPAdapter(max_retries=retry))
        session.mount("https://", HTTPAdapter(max_retries=retry))
        return session

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        url = f"{self.base_url}{path}"
        try:
            with self.get_conn() as session:
                response = session.request(method, url, timeout=self._settings["timeout"], **kwargs)
        except requests.RequestException as exc:
            raise KafkaConnectError(
                f"Kafka Connect at {self.base_url} is unreachable ({method} {path}): {exc}"
            ) from exc
        if response.status_code >= 400:
            try:
                detail = response.json().get("message", response.text)
            except ValueError:
                detail = response.text
            raise KafkaConnectError(
                f"Kafka Connect answered {response.status_code} to {method} {path}: {detail}",
                http_status=response.status_code,
            )
        if not response.content:
            return None
        return response.json()

    def get_worker_info(self) -> dict[str, Any]:
        """Return the worker's version, commit and Kafka cluster id (``GET /``)."""
        return self._request("GET", "/")

    def list_connector_plugins(self) -> list[dict[str, Any]]:
        """Return the connector plugins installed on the worker (``GET /connector-plugins``)."""
        return self._request("GET", "/connector-plugins")

    def has_connector_plugin(self, class_name: str) -> bool:
        """Tell whether the worker has the connector plugin ``class_name`` installed."""
        return any(plugin.get("class") == class_name for plugin in self.list_connector_plugins())

    def list_connectors(self) -> list[str]:
        """Return the names of the connectors defined on the cluster (``GET /connectors``)."""
        return self._request("GET", "/connectors")

    def get_connector_status(self, name: str) -> dict[str, Any]:
        """Return the state of a connector and of its tasks (``GET /connectors/<name>/status``)."""
        return self._request("GET", f"/connectors/{quote(name, safe='')}/status")

    def test_connection(self) -> tuple[bool, str]:
        """Check that the worker answers and report its version and installed connector plugins."""
        try:
            info = self.get_worker_info()
            plugins = self.list_connector_plugins()
        except KafkaConnectError as exc:
            return False, str(exc)
        connectors = sum(1 for plugin in plugins if plugin.get("type") == "source" or plugin.get("type") == "sink")
        return True, f"Kafka Connect {info.get('version', '?')} at {self.base_url}: {connectors} connector plugins"
