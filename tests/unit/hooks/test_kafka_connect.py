"""KafkaConnectHook against a scripted in-process HTTP server (no Kafka Connect needed)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from banking_cdc.exceptions import KafkaConnectError
from banking_cdc.hooks.kafka_connect import KafkaConnectHook


class ScriptedConnect:
    """Answers requests from a "METHOD /path" -> [(status, body), ...] script; records every request.

    A path scripted without a method answers GET. The last answer of a list repeats.
    """

    def __init__(self) -> None:
        self.script: dict[str, list[tuple[int, Any]]] = {}
        self.requests: list[tuple[str, str, str | None]] = []
        self.bodies: list[Any] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw_in = self.rfile.read(length) if length else b""
                outer.requests.append((self.command, self.path, self.headers.get("Authorization")))
                outer.bodies.append(json.loads(raw_in) if raw_in else None)
                key = f"{self.command} {self.path}"
                if key not in outer.script and self.command == "GET":
                    key = self.path
                answers = outer.script.get(key) or [(404, {"error_code": 404, "message": "not scripted"})]
                status, body = answers.pop(0) if len(answers) > 1 else answers[0]
                raw = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_PUT = do_POST = do_DELETE = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ScriptedConnect:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def connect(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedConnect]:
    with ScriptedConnect() as server:
        monkeypatch.setenv(
            "AIRFLOW_CONN_TEST_CONNECT",
            json.dumps(
                {
                    "conn_type": "kafka_connect",
                    "host": "127.0.0.1",
                    "port": server.port,
                    "schema": "http",
                    "extra": {"timeout": 5},
                }
            ),
        )
        yield server


def test_hook_declares_its_connection_type() -> None:
    assert KafkaConnectHook.conn_type == "kafka_connect"
    assert KafkaConnectHook.conn_name_attr == "kafka_connect_conn_id"
    assert KafkaConnectHook.default_conn_name == "kafka_connect_default"
    assert KafkaConnectHook().kafka_connect_conn_id == "kafka_connect_default"


def test_base_url_is_built_from_the_connection(connect: ScriptedConnect) -> None:
    assert KafkaConnectHook("test_connect").base_url == f"http://127.0.0.1:{connect.port}"


def test_lists_plugins_and_finds_one_by_class(connect: ScriptedConnect) -> None:
    connect.script["/connector-plugins"] = [(200, [{"class": "a.B", "type": "source", "version": "1"}])]
    hook = KafkaConnectHook("test_connect")
    assert hook.list_connector_plugins() == [{"class": "a.B", "type": "source", "version": "1"}]
    assert hook.has_connector_plugin("a.B")
    assert not hook.has_connector_plugin("a.C")


def test_error_answer_raises_with_status_and_worker_message(connect: ScriptedConnect) -> None:
    connect.script["/connectors/bank%2Fcdc/status"] = [
        (404, {"error_code": 404, "message": "Connector bank/cdc not found"})
    ]
    with pytest.raises(
        KafkaConnectError, match="404 to GET /connectors/bank%2Fcdc/status: Connector bank/cdc not found"
    ) as err:
        KafkaConnectHook("test_connect").get_connector_status("bank/cdc")
    assert err.value.http_status == 404


def test_get_is_retried_on_server_error(connect: ScriptedConnect) -> None:
    connect.script["/connectors"] = [(503, {"message": "rebalancing"}), (200, ["cdc"])]
    assert KafkaConnectHook("test_connect").list_connectors() == ["cdc"]
    assert [path for _, path, _ in connect.requests] == ["/connectors", "/connectors"]


def test_basic_auth_is_sent_when_login_is_set(connect: ScriptedConnect, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_TEST_CONNECT_AUTH",
        json.dumps(
            {
                "conn_type": "kafka_connect",
                "host": "127.0.0.1",
                "port": connect.port,
                "login": "ops",
                "password": "pw-from-connection",
            }
        ),
    )
    connect.script["/connectors"] = [(200, [])]
    KafkaConnectHook("test_connect_auth").list_connectors()
    assert connect.requests[-1][2] is not None and connect.requests[-1][2].startswith("Basic ")


def test_test_connection_reports_version(connect: ScriptedConnect) -> None:
    connect.script["/"] = [(200, {"version": "4.3.1", "commit": "x", "kafka_cluster_id": "c"})]
    connect.script["/connector-plugins"] = [
        (200, [{"class": "a.B", "type": "source"}, {"class": "m.M", "type": "sink"}])
    ]
    ok, message = KafkaConnectHook("test_connect").test_connection()
    assert ok
    assert message == f"Kafka Connect 4.3.1 at http://127.0.0.1:{connect.port}: 2 connector plugins"


def test_test_connection_fails_clearly_when_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_DEAD_CONNECT",
        json.dumps({"conn_type": "kafka_connect", "host": "127.0.0.1", "port": 9, "extra": {"timeout": 1}}),
    )
    ok, message = KafkaConnectHook("dead_connect").test_connection()
    assert not ok
    assert message.startswith("Kafka Connect at http://127.0.0.1:9 is unreachable (GET /)")


@pytest.mark.parametrize(
    ("spec", "error"),
    [
        ({"conn_type": "kafka_connect", "port": 8083}, "has no host"),
        ({"conn_type": "kafka_connect", "host": "h", "schema": "ftp"}, "schema must be 'http' or 'https', got 'ftp'"),
    ],
)
def test_bad_connection_fields_are_named(monkeypatch: pytest.MonkeyPatch, spec: dict[str, Any], error: str) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_BAD_CONNECT", json.dumps(spec))
    with pytest.raises(KafkaConnectError, match=error):
        _ = KafkaConnectHook("bad_connect").base_url


CONFIG = {"connector.class": "io.debezium.connector.postgresql.PostgresConnector", "tasks.max": "1"}


def test_create_or_update_creates_a_missing_connector(connect: ScriptedConnect) -> None:
    connect.script["PUT /connectors/cdc/config"] = [(201, {"name": "cdc", "config": CONFIG, "tasks": []})]
    assert KafkaConnectHook("test_connect").create_or_update_connector("cdc", CONFIG) == "created"
    assert [(m, p) for m, p, _ in connect.requests] == [
        ("GET", "/connectors/cdc/config"),
        ("PUT", "/connectors/cdc/config"),
    ]
    assert connect.bodies[-1] == CONFIG


def test_create_or_update_leaves_an_identical_connector_untouched(connect: ScriptedConnect) -> None:
    connect.script["/connectors/cdc/config"] = [(200, {**CONFIG, "name": "cdc"})]
    assert KafkaConnectHook("test_connect").create_or_update_connector("cdc", CONFIG) == "unchanged"
    assert [m for m, _, _ in connect.requests] == ["GET"]  # no write, so no task restart


def test_create_or_update_writes_a_changed_connector(connect: ScriptedConnect) -> None:
    connect.script["/connectors/cdc/config"] = [(200, {**CONFIG, "tasks.max": "2", "name": "cdc"})]
    connect.script["PUT /connectors/cdc/config"] = [(200, {"name": "cdc", "config": CONFIG, "tasks": []})]
    assert KafkaConnectHook("test_connect").create_or_update_connector("cdc", CONFIG) == "updated"
    assert connect.requests[-1][0] == "PUT"


def test_restart_asks_for_failed_tasks_only(connect: ScriptedConnect) -> None:
    connect.script["POST /connectors/cdc/restart?includeTasks=true&onlyFailed=true"] = [(202, None)]
    KafkaConnectHook("test_connect").restart_connector("cdc")
    assert connect.requests[-1][:2] == ("POST", "/connectors/cdc/restart?includeTasks=true&onlyFailed=true")


def test_wait_for_running_returns_once_connector_and_tasks_run(connect: ScriptedConnect) -> None:
    connect.script["/connectors/cdc/status"] = [
        (404, {"message": "not yet"}),
        (200, {"connector": {"state": "RUNNING"}, "tasks": []}),
        (200, {"connector": {"state": "RUNNING"}, "tasks": [{"id": 0, "state": "RUNNING"}]}),
    ]
    status = KafkaConnectHook("test_connect").wait_for_connector_running("cdc", timeout=10, poll_interval=0.01)
    assert status["tasks"] == [{"id": 0, "state": "RUNNING"}]


def test_wait_for_running_names_the_failed_task(connect: ScriptedConnect) -> None:
    connect.script["/connectors/cdc/status"] = [
        (
            200,
            {
                "connector": {"state": "RUNNING"},
                "tasks": [{"id": 0, "state": "FAILED", "trace": "PSQLException: x\n at"}],
            },
        )
    ]
    with pytest.raises(KafkaConnectError, match=r"connector cdc failed: task 0: \['PSQLException: x'\]"):
        KafkaConnectHook("test_connect").wait_for_connector_running("cdc", timeout=5, poll_interval=0.01)


def test_wait_for_running_times_out_with_last_status(connect: ScriptedConnect) -> None:
    connect.script["/connectors/cdc/status"] = [(200, {"connector": {"state": "UNASSIGNED"}, "tasks": []})]
    with pytest.raises(KafkaConnectError, match=r"not RUNNING after 0s.*UNASSIGNED"):
        KafkaConnectHook("test_connect").wait_for_connector_running("cdc", timeout=0.2, poll_interval=0.05)
