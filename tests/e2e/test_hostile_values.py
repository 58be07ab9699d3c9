"""End to end under a real Airflow: a hostile burst in a generator workload never stops gold, never changes silently.

While the generator writes the bank, valid Debezium envelopes carrying values the typed layers cannot hold exactly
are produced into the transactions topic beside the connector's own messages: an update of a real transaction with
one decimal too many, inserts with an amount that is not a number, an impossible booking time, an account id of the
wrong JSON type, a null key and a missing amount. Then the chain drains and ``banking_dbt_transform`` builds gold
under the scheduler. The test asserts:

- every dbt run ended ``success`` (no run fails on a value) and the strict reconciliation exits 0: every
  non-hostile change reached gold exactly, and the real transaction keeps its real amount (never rounded);
- every hostile record is in ``silver.rejects``, for the banking model and the generic one, with its Kafka
  coordinates and its reason;
- a ``cdc_monitoring`` run records the rejects per model and breaches on the new ones (its alert);
- a model that fails for a reason other than a value (its bronze relation renamed away) is recorded by the task
  failure listener with its error line;
- the health page, rendered by headless Chromium (screenshot kept under ``.state/artefacts``), shows the rejected
  values with their reasons and the failing model with its error.

Last module of the package: it leaves hostile events in the topics and breaks a relation (restored at the end).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from banking_cdc.capture.config import CaptureConfig
from banking_cdc.monitoring.store import MetricsStore
from banking_cdc.settings import NEW_REJECTS, REJECTED_VALUES, TASK_FAILING
from tests.e2e.conftest import group_of
from tests.e2e.pipeline import _read_only, assert_reconciled, build_gold, drain, say
from tests.stack_env import STATE
from tests.support.pipeline import Pipeline, generator_summary, start_generator

pytestmark = pytest.mark.integration

ARTEFACTS = STATE / "artefacts"
RATE, DURATION, SEED = 15, 40, 21
SCALE = "more decimal places than numeric(18,2) holds"
HOSTILE_TX = 1  # the source txId of every hostile envelope (PostgreSQL never assigns it)


def latest_image(warehouse: Path) -> dict[str, Any]:
    """The newest bronze image of a posted transaction whose latest event is not a delete (hostile envelopes of
    an earlier run on the same stack left aside)."""
    con = _read_only(warehouse)
    try:
        (text,) = con.execute(
            """SELECT image FROM (
                   SELECT op, coalesce(after_json, before_json)::VARCHAR AS image, row_number() OVER (
                       PARTITION BY coalesce(after_json, before_json) ->> 'transaction_id'
                       ORDER BY source_lsn DESC, kafka_offset DESC) AS n
                   FROM bronze.transactions
                   WHERE op IN ('c', 'u', 'r', 'd') AND source_tx_id IS DISTINCT FROM ?)
               WHERE n = 1 AND op <> 'd' AND image::JSON ->> 'status' = 'posted'
               ORDER BY (image::JSON ->> 'transaction_id')::BIGINT LIMIT 1""",
            [HOSTILE_TX],
        ).fetchone()
    finally:
        con.close()
    return dict(json.loads(text))


def current_lsn() -> int:
    """An LSN above every change committed so far and below every later one (the insert position - 1)."""
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    ((lsn,),) = PostgresHook(postgres_conn_id="postgres_source").get_records(
        "SELECT (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::bigint"
    )
    return int(lsn) - 1


def hostile_burst(victim: dict[str, Any]) -> list[dict[str, Any]]:
    """The hostile envelopes, each with the (column, reason) it must be rejected for."""
    lsn, now_ms = current_lsn(), int(time.time() * 1000)
    fake = 2_000_000_000 + int(time.time()) % 1_000_000
    cases = [
        ("u", {**victim, "amount": victim["amount"] + "1"}, "amount", SCALE),
        ("c", {**victim, "transaction_id": fake, "amount": "12.3.4"}, "amount", "not a decimal number"),
        ("c", {**victim, "transaction_id": fake + 1, "booked_at": "2026-02-30T10:00:00Z"}, "booked_at",
         "impossible timestamp"),
        ("c", {**victim, "transaction_id": fake + 2, "account_id": "abc"}, "account_id",
         "wrong JSON type: string, expected number"),
        ("c", {**victim, "transaction_id": None}, "transaction_id", "null in a required column"),
        ("c", {k: v for k, v in {**victim, "transaction_id": fake + 3}.items() if k != "amount"}, "amount",
         "required field missing"),
    ]  # fmt: skip
    burst = []
    for number, (op, row, column, reason) in enumerate(cases):
        envelope = {
            "before": victim if op == "u" else None,
            "after": row,
            "source": {"version": "hostile", "lsn": lsn - len(cases) + number, "txId": HOSTILE_TX, "ts_ms": now_ms,
                       "snapshot": "false", "db": "banking", "schema": "public", "table": "transactions"},
            "op": op,
            "ts_ms": now_ms,
        }  # fmt: skip
        burst.append({"key": row.get("transaction_id"), "value": envelope, "column": column, "reason": reason})
    return burst


def produce(topic: str, burst: list[dict[str, Any]]) -> None:
    """Produce the burst; record each message's partition and offset in it."""
    from confluent_kafka import Producer

    extra = json.loads(os.environ["AIRFLOW_CONN_KAFKA_DEFAULT"])["extra"]
    producer = Producer({"bootstrap.servers": extra["bootstrap.servers"]})
    for item in burst:

        def delivered(err: Any, msg: Any, item: dict[str, Any] = item) -> None:
            assert err is None, err
            item["partition"], item["offset"] = msg.partition(), msg.offset()

        producer.produce(
            topic, key=json.dumps({"transaction_id": item["key"]}).encode(), value=json.dumps(item["value"]).encode(),
            on_delivery=delivered,
        )  # fmt: skip
    assert producer.flush(30) == 0
    assert all("offset" in item for item in burst)


def chromium(url: str, *args: str, profile: Path) -> subprocess.CompletedProcess[str]:
    browser = shutil.which("chromium")
    if browser is None:
        pytest.fail("headless Chromium missing: install the Debian package `chromium` (dev/bootstrap.sh does)")
    command = [
        browser, "--headless=new", "--disable-gpu", "--hide-scrollbars", "--no-first-run", "--disable-dev-shm-usage",
        f"--user-data-dir={profile}", "--window-size=1400,2600", "--virtual-time-budget=10000", *args, url,
    ]  # fmt: skip
    if os.geteuid() == 0:
        command.insert(2, "--no-sandbox")
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def writable(warehouse: Path, statement: str, attempts: int = 60) -> None:
    """Run one statement on the warehouse once no task holds it."""
    import duckdb

    for attempt in range(attempts):
        try:
            with duckdb.connect(str(warehouse)) as con:
                con.execute(statement)
            return
        except duckdb.IOException:
            if attempt == attempts - 1:
                raise
            time.sleep(2)


def wait_for_failure(subject: str, since: datetime, timeout: float = 900) -> Any:
    """The first ``airflow.task_failing`` failure of ``subject`` recorded after ``since``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = [r for r in MetricsStore().read([TASK_FAILING], since=since, subject=subject) if (r.value or 0) >= 1]
        if rows:
            return rows[0]
        time.sleep(5)
    raise AssertionError(f"no failure of {subject} recorded within {timeout:.0f} s")


@pytest.mark.timeout(2400)
def test_hostile_burst_is_rejected_with_reasons_and_everything_else_reconciles(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    began, started_at = time.monotonic(), datetime.now(UTC)
    group = group_of(pipeline)
    victim = latest_image(pipeline.warehouse)
    generator = start_generator(RATE, DURATION, SEED)
    time.sleep(DURATION / 3)
    burst = hostile_burst(victim)
    produce(CaptureConfig.load().topic("transactions"), burst)
    say(f"hostile burst of {len(burst)} produced beside the generator; victim transaction {victim['transaction_id']}")
    generator_summary(generator, timeout=DURATION + 120)
    drain(pipeline, group)
    build_gold(pipeline, group)  # asserts every dbt run ended success: no run failed on a value
    report = assert_reconciled(pipeline.warehouse)
    rejected_keys = [r for r in report["results"] if r["check"] == "rejected_keys"]
    say(f"reconciled: {report['checks']} checks; rejected keys listed: {[r['source_value'] for r in rejected_keys]}")

    con = _read_only(pipeline.warehouse)
    try:
        rejects = con.execute(
            "SELECT model, kafka_partition, kafka_offset, column_name, reason, op FROM silver.rejects "
            "WHERE table_name = 'transactions'"
        ).fetchall()
        (amount,) = con.execute(
            "SELECT CAST(amount AS VARCHAR) FROM gold.fct_transactions WHERE transaction_id = ?",
            [victim["transaction_id"]],
        ).fetchone()
    finally:
        con.close()
    assert amount == victim["amount"], "the real transaction's amount changed"
    for item in burst:
        for model in ("stg_transactions", "current_transactions"):
            found = [
                (column, reason)
                for m, partition, offset, column, reason, _op in rejects
                if (m, partition, offset) == (model, item["partition"], item["offset"])
            ]
            assert (item["column"], item["reason"]) in found, (model, item["column"], found)

    # a monitoring run (the one triggered here, or a scheduled one the unpause started first) alerts on them;
    # run ids "test-..." are the monitoring integration tests' direct writes to the same metrics store
    monitoring = f"hostile_{int(time.time())}"
    pipeline.airflow.trigger("cdc_monitoring", monitoring)
    try:
        pipeline.airflow.wait_for_run("cdc_monitoring", monitoring, timeout=600)
    finally:
        pipeline.airflow.airflow("dags", "pause", "cdc_monitoring")
    observed = [
        r for r in MetricsStore().read([REJECTED_VALUES, NEW_REJECTS], since=started_at)
        if r.subject == "stg_transactions" and not str(r.run_id).startswith("test-")
    ]  # fmt: skip
    alerts = [r for r in observed if r.metric == NEW_REJECTS and r.breached and (r.value or 0) >= len(burst)]
    assert alerts, f"no alert on the new rejects: {observed}"
    totals = [r for r in observed if r.metric == REJECTED_VALUES and r.run_id == alerts[0].run_id]
    assert totals and totals[0].value >= len(burst) and SCALE in (totals[0].status or "")
    (verdict,) = pipeline.airflow.query(
        "SELECT state FROM dag_run WHERE dag_id = 'cdc_monitoring' AND run_id = ?", alerts[0].run_id
    )
    assert verdict[0] == "failed", "the monitoring verdict did not raise the rejects alert"

    # a model failing for a non-value reason: its bronze relation is renamed away for one run
    writable(pipeline.warehouse, "ALTER TABLE bronze.accounts RENAME TO accounts_hidden_by_test")
    transform = f"missing_{int(time.time())}"
    broken_since = datetime.now(UTC)
    try:
        pipeline.airflow.trigger("banking_dbt_transform", transform)
        failure = wait_for_failure("banking_dbt_transform/stg_accounts.run", broken_since)
        assert "accounts" in failure.status and "does not exist" in failure.status.lower(), failure.status

        url = f"http://127.0.0.1:{pipeline.airflow.port}/bcdc-health/?hours=1"
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        screenshot = ARTEFACTS / "health_page_rejects.png"
        screenshot.unlink(missing_ok=True)
        chromium(url, f"--screenshot={screenshot}", profile=tmp_path / "profile-shot")
        dom = chromium(url, "--dump-dom", profile=tmp_path / "profile-dom").stdout
        assert screenshot.stat().st_size > 20_000 and screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        for text in ("silver.rejected_values", "stg_transactions", SCALE, "banking_dbt_transform/stg_accounts.run"):
            assert text in dom, f"{text!r} missing from the health page"
        assert "does not exist" in dom
        say(f"health page screenshot: {screenshot}; total {time.monotonic() - began:.0f} s")
    finally:
        pipeline.airflow.airflow("dags", "pause", "banking_dbt_transform")
        writable(pipeline.warehouse, "ALTER TABLE bronze.accounts_hidden_by_test RENAME TO accounts")
