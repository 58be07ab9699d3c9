"""Hook for the Kafka Connect REST API (connectors, tasks, plugins)."""

from __future__ import annotations

import time
from functools import cached_property
from typing import Any, Literal
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

    def get_connector_config(self, name: str) -> dict[str, str] | None:
        """Return a connector's configuration, or ``None`` if no connector has that name."""
        try:
            return self._request("GET", f"/connectors/{quote(name, safe='')}/config")
        except KafkaConnectError as exc:
            if exc.http_status == 404:
                return None
            raise

    def create_or_update_connector(
        self, name: str, config: dict[str, str]
    ) -> Literal["created", "updated", "unchanged"]:
        """
        Make the connector ``name`` run with exactly ``config``; idempotent.

        An identical configuration is left untouched (no write, so no task restart). Otherwise the
        configuration is written with ``PUT /connectors/<name>/config``, which creates or updates.

        :param name: Connector name.
        :param config: Complete connector configuration (string values, as Connect stores them).
        """
        desired = {key: str(value) for key, value in config.items() if key != "name"}
        current = self.get_connector_config(name)
        if current is not None:
            current = {key: value for key, value in current.items() if key != "name"}
            if current == desired:
                self.log.info("Connector %s already has the desired configuration", name)
                return "unchanged"
            changed = sorted(key for key in desired.keys() | current.keys() if desired.get(key) != current.get(key))
            self.log.info("Updating connector %s; changed keys: %s", name, ", ".join(changed))
        self._request("PUT", f"/connectors/{quote(name, safe='')}/config", json=desired)
        outcome: Literal["created", "updated"] = "created" if current is None else "updated"
        self.log.info("Connector %s %s", name, outcome)
        return outcome

    def restart_connector(self, name: str, *, include_tasks: bool = True, only_failed: bool = True) -> None:
        """Restart a connector and (by default) only its failed tasks."""
        params = {"includeTasks": str(include_tasks).lower(), "onlyFailed": str(only_failed).lower()}
        self._request("POST", f"/connectors/{quote(name, safe='')}/restart", params=params)

    def delete_connector(self, name: str) -> None:
        """Delete a connector (its offsets stay in Connect's offset topic)."""
        self._request("DELETE", f"/connectors/{quote(name, safe='')}")

    @staticmethod
    def failed_parts(status: dict[str, Any]) -> list[str]:
        """Describe the FAILED parts of a connector status: the connector and/or its tasks."""
        failed = []
        connector = status.get("connector", {})
        if connector.get("state") == "FAILED":
            failed.append(f"connector: {str(connector.get('trace', '')).splitlines()[:1]}")
        for task in status.get("tasks", []):
            if task.get("state") == "FAILED":
                failed.append(f"task {task.get('id')}: {str(task.get('trace', '')).splitlines()[:1]}")
        return failed

    def wait_for_connector_running(
        self, name: str, *, expected_tasks: int = 1, timeout: float = 120.0, poll_interval: float = 2.0
    ) -> dict[str, Any]:
        """
        Wait until the connector and ``expected_tasks`` tasks are RUNNING; return the final status.

        :param name: Connector name.
        :param expected_tasks: How many tasks must be RUNNING.
        :param timeout: Seconds to wait before failing.
        :param poll_interval: Seconds between status reads.
        :raises KafkaConnectError: on a FAILED connector or task, naming it, or on timeout.
        """
        deadline = time.monotonic() + timeout
        status: dict[str, Any] = {}
        while True:
            try:
                status = self.get_connector_status(name)
            except KafkaConnectError as exc:
                if exc.http_status != 404:  # just created: status not yet published
                    raise
            failed = self.failed_parts(status) if status else []
            if failed:
                raise KafkaConnectError(f"connector {name} failed: {'; '.join(failed)}")
            tasks = status.get("tasks", []) if status else []
            if (
                status
                and status.get("connector", {}).get("state") == "RUNNING"
                and len(tasks) >= expected_tasks
                and all(task.get("state") == "RUNNING" for task in tasks)
            ):
                return status
            if time.monotonic() >= deadline:
                raise KafkaConnectError(f"connector {name} not RUNNING after {timeout:.0f}s; last status: {status}")
            time.sleep(poll_interval)

    def test_connection(self) -> tuple[bool, str]:
        """Check that the worker answers and report its version and installed connector plugins."""
        try:
            info = self.get_worker_info()
            plugins = self.list_connector_plugins()
        except KafkaConnectError as exc:
            return False, str(exc)
        connectors = sum(1 for plugin in plugins if plugin.get("type") == "source" or plugin.get("type") == "sink")
        return True, f"Kafka Connect {info.get('version', '?')} at {self.base_url}: {connectors} connector plugins"
