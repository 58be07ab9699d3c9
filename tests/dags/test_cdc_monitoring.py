"""cdc_monitoring under `airflow dags test` on a healthy pipeline: the run succeeds and every metric is recorded.

Healthy means: the connector RUNNING, the stage group caught up, every landing file in bronze, gold built
by dbt from that bronze (the real chain: source -> Debezium -> Kafka -> landing -> DuckDB bronze -> dbt).
The run has Airflow's OpenTelemetry metrics on, exporting to an OTLP/HTTP receiver in the test, which
checks that the gauges arrive under their documented names.
"""

from __future__ import annotations

import email
import email.policy
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from importlib.resources import files
from pathlib import Path
from typing import Any

import duckdb
import pytest

from banking_cdc.capture.config import CaptureConfig
from banking_cdc.monitoring.metrics import GOLD_MODELS, METRICS
from banking_cdc.monitoring.store import MetricsStore
from banking_cdc.transfers.kafka_to_s3 import KafkaToS3Operator
from banking_cdc.transfers.s3_to_duckdb import S3ToDuckDBBronzeOperator
from tests.dags.dag_test_runner import run_dag_test
from tests.source_changes import change_every_table, wait_for_backlog

pytestmark = pytest.mark.integration

CAPTURE = CaptureConfig.load()
TOPICS = [CAPTURE.topic(table) for table in CAPTURE.source.tables]


@pytest.fixture
def otlp_gauges(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[tuple[str, str | None], float]]:
    """An OTLP/HTTP metrics receiver on loopback; Airflow's OTel metrics point at it. Yields received gauges."""
    from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2

    gauges: dict[tuple[str, str | None], float] = {}

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            request = metrics_service_pb2.ExportMetricsServiceRequest.FromString(body)
            for resource in request.resource_metrics:
                for scope in resource.scope_metrics:
                    for metric in scope.metrics:
                        for point in metric.gauge.data_points:
                            subject = {a.key: a.value.string_value for a in point.attributes}.get("subject")
                            gauges[(metric.name, subject)] = point.as_double or float(point.as_int)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.end_headers()
            self.wfile.write(metrics_service_pb2.ExportMetricsServiceResponse().SerializeToString())

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    for key, value in {"OTEL_ON": "True", "OTEL_HOST": "127.0.0.1", "OTEL_PORT": str(server.server_port),
                       "OTEL_SSL_ACTIVE": "False", "OTEL_INTERVAL_MILLISECONDS": "1000"}.items():  # fmt: skip
        monkeypatch.setenv(f"AIRFLOW__METRICS__{key}", value)
    yield gauges
    server.shutdown()
    server.server_close()


def test_monitoring_run_on_a_healthy_pipeline_records_every_metric(
    airflow_db: Path,
    capture_ready: dict[str, object],
    tmp_path: Path,
    otlp_gauges: dict[tuple[str, str | None], float],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from banking_cdc.hooks.kafka_connect import KafkaConnectHook

    # a warehouse of its own: in the shared one, a model that takes in no change this time (daily balances: the
    # new deposit is pending) keeps the _built_at of whatever run came before, and its freshness is that old
    monkeypatch.setenv(
        "AIRFLOW_CONN_DUCKDB_DEFAULT", json.dumps({"conn_type": "duckdb", "host": str(tmp_path / "warehouse.duckdb")})
    )
    KafkaConnectHook().wait_for_connector_running(CAPTURE.connector.name, expected_tasks=1, timeout=120)
    change_every_table()
    wait_for_backlog(TOPICS, "bcdc-stage")
    for topic in TOPICS:  # the stage DAG's work: the group catches up, files land
        KafkaToS3Operator(
            task_id="stage", topics=[topic], group_id="bcdc-stage", bucket_name="banking-landing", deferrable=False
        ).execute(context={})  # type: ignore[arg-type]
    S3ToDuckDBBronzeOperator(task_id="load", bucket_name="banking-landing").execute(context={})  # type: ignore[arg-type]
    database = Path(json.loads(os.environ["AIRFLOW_CONN_DUCKDB_DEFAULT"])["host"])
    # dbt in its own process, like a Cosmos task: DuckDB allows one process at a time, and it must be gone
    # before the monitoring DAG opens the warehouse
    project = Path(__file__).resolve().parents[2] / "banking_dbt"
    subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), "build", "--resource-type", "model", "--resource-type", "snapshot",
         "--project-dir", str(project), "--profiles-dir", str(project), "--target", "duckdb",
         "--target-path", str(tmp_path / "dbt"), "--log-path", str(tmp_path / "dbt"), "--quiet"],
        env={**os.environ, "BCDC_DUCKDB_PATH": str(database)}, check=True, timeout=600,
    )  # fmt: skip
    with duckdb.connect(str(database), read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM gold.fct_transactions").fetchone()[0] > 0

    output = run_dag_test("cdc_monitoring")
    run_id = re.search(r"DagRun Finished: dag_id=cdc_monitoring, .*?run_id=([^,\s]+)", output)[1]  # type: ignore[index]

    rows = [row for row in MetricsStore().read() if row.run_id == run_id]
    assert {row.metric for row in rows} == set(METRICS)
    breached = [(r.metric, r.subject, r.value, r.status) for r in rows if r.breached]
    assert breached == []
    by = {(row.metric, row.subject): row for row in rows}
    assert {s for m, s in by if m == "gold.freshness_seconds"} == set(GOLD_MODELS)
    assert by[("connect.connector_state", CAPTURE.connector.name)].status == "RUNNING"
    assert by[("postgres.slot_active", CAPTURE.connector.config["slot.name"])].value == 1.0
    assert by[("postgres.slot_retained_wal_bytes", CAPTURE.connector.config["slot.name"])].status == "reserved"
    assert {s for m, s in by if m == "kafka.consumer_lag"} == {
        f"bcdc-stage/{topic}/{p}" for topic, count in CAPTURE.topic_partitions().items() for p in range(count)
    }
    assert {by[("landing.unloaded_files", topic)].value for topic in TOPICS} == {0.0}
    for table in CAPTURE.qualified_tables():  # every captured table is published; none has unstreamed changes
        assert by[("capture.table_published", table)].value == 1.0
        assert by[("capture.unstreamed_changes", table)].value in (None, 0.0)
        assert by[("capture.source_changes", table)].value > 0
    for model in GOLD_MODELS:  # built minutes ago at most; a model with no row yet (no posted money) is EMPTY
        row = by[("gold.freshness_seconds", model)]
        assert (row.value is not None and 0 <= row.value < 600) or (row.value, row.status) == (None, "EMPTY"), row
    assert by[("gold.freshness_seconds", "fct_transactions")].value is not None
    print({f"{m} {s}": r.value for (m, s), r in sorted(by.items())})

    # the same observations reached Airflow's metrics (OpenTelemetry), tagged and per subject
    slot = CAPTURE.connector.config["slot.name"]
    assert otlp_gauges[("airflow.bcdc.connect.connector_state", CAPTURE.connector.name)] == 1.0
    assert otlp_gauges[(f"airflow.bcdc.connect.task_state.{CAPTURE.connector.name}.0", None)] == 1.0
    assert otlp_gauges[("airflow.bcdc.postgres.slot_active", slot)] == 1.0
    assert otlp_gauges[(f"airflow.bcdc.postgres.slot_retained_wal_bytes.{slot}", None)] > 0
    assert otlp_gauges[("airflow.bcdc.kafka.consumer_lag.bcdc-stage.bank__public__accounts.0", None)] == 0.0
    assert ("airflow.bcdc.gold.freshness_seconds", "fct_transactions") in otlp_gauges
    assert ("airflow.bcdc.landing.unloaded_files", TOPICS[0]) in otlp_gauges
    assert ("airflow.bcdc.bronze.load_rows_per_s", TOPICS[0]) in otlp_gauges
    assert otlp_gauges[("airflow.bcdc.monitoring.breaches.warehouse", None)] == 0.0


@pytest.fixture
def smtp_sink(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """An SMTP server on loopback that keeps every message; Airflow's smtp_default points at it."""
    import socket

    from aiosmtpd.controller import Controller

    received: list[Any] = []

    class Sink:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            received.append(envelope)
            return "250 OK"

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    smtp = Controller(Sink(), hostname="127.0.0.1", port=port)
    smtp.start()
    monkeypatch.setenv(
        "AIRFLOW_CONN_SMTP_DEFAULT",
        json.dumps({"conn_type": "smtp", "host": "127.0.0.1", "port": port,
                    "extra": {"disable_tls": True, "disable_ssl": True}}),
    )  # fmt: skip
    try:
        yield received
    finally:
        smtp.stop()


def _monitoring_run() -> str:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "airflow"), "dags", "test", "cdc_monitoring"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    return result.stdout + result.stderr


def _alert_body(received: list[Any], output: str) -> str:
    assert re.search(r"DagRun Finished: dag_id=cdc_monitoring.*state=failed", output), output[-3000:]
    assert len(received) == 1, output[-3000:]
    message = email.message_from_bytes(received[0].content, policy=email.policy.default)
    assert message["Subject"].startswith("[banking-cdc] Monitoring alert: cdc_monitoring / manual__")
    assert received[0].rcpt_tos == ["data-oncall@banking-cdc.invalid"]
    return message.get_body(("html",)).get_content()  # type: ignore[union-attr,no-any-return]


def test_a_stopped_connector_fails_the_verdict_and_emails_the_breach(
    airflow_db: Path, capture_ready: dict[str, object], smtp_sink: list[Any]
) -> None:
    from tests.integration.monitoring.conftest import set_connector, settled

    set_connector("stop", "STOPPED")
    try:
        output = _monitoring_run()
    finally:
        set_connector("resume", "RUNNING")
    body = _alert_body(smtp_sink, output)
    # both consequences of the stop are listed: the connector, and the slot nobody reads any more
    assert f"connect.connector_state {CAPTURE.connector.name} = 0 [STOPPED] (&lt; threshold 1)" in body, body
    assert f"postgres.slot_active {CAPTURE.connector.config['slot.name']} = 0 (&lt; threshold 1)" in body, body
    assert settled("RUNNING")


def test_changes_that_never_reach_the_topic_fail_the_verdict_and_email_the_table(
    airflow_db: Path, user_source: Any, smtp_sink: list[Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The silent loss of a RUNNING connector: a captured table out of the publication, written by a client."""
    import yaml

    from banking_cdc.monitoring.config import MonitoringConfig
    from banking_cdc.operators.monitoring import CaptureCoverageOperator
    from tests.support.user_source import RATES_DDL, topic_values

    schema = user_source.name
    user_source.sql(RATES_DDL)
    user_source.configure(["fx_rates"])
    user_source.setup()
    assert len(topic_values(f"{schema}.{schema}.fx_rates", 25)) == 25  # the connector's snapshot is in
    monitoring = yaml.safe_load(files("banking_cdc").joinpath("config/monitoring.yaml").read_text())
    monitoring["capture"] = {"grace_seconds": 2}
    config_path = tmp_path / "monitoring.yaml"
    config_path.write_text(yaml.safe_dump(monitoring))
    assert MonitoringConfig.load(config_path).grace_seconds == 2
    monkeypatch.setenv("BCDC_CAPTURE_CONFIG", str(user_source.path))  # the DAG run watches this source
    monkeypatch.setenv("BCDC_MONITORING_CONFIG", str(config_path))
    observe = CaptureCoverageOperator(task_id="capture_coverage")

    observe.execute({"run_id": "before"})  # type: ignore[arg-type]
    user_source.sql(f"ALTER PUBLICATION {schema}_pub DROP TABLE {schema}.fx_rates")
    for pair in range(1, 11):  # ten committed changes, by a plain client
        user_source.sql("UPDATE {schema}.fx_rates SET rate = rate + 1 WHERE pair = %s", parameters=(f"EUR{pair}",))
    time.sleep(3)
    observe.execute({"run_id": "after the changes"})  # type: ignore[arg-type]
    time.sleep(3)

    body = _alert_body(smtp_sink, _monitoring_run())
    assert f"capture.unstreamed_changes {schema}.fx_rates = 10 (&gt; threshold 0)" in body, body
    assert f"capture.table_published {schema}.fx_rates = 0 (&lt; threshold 1)" in body, body
