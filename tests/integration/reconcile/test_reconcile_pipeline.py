"""Reconciliation against gold built by the real pipeline from real source changes.

A generator workload with every kind of change (sign-ups, profile / tier / KYC changes, GDPR erasure,
account open / freeze / unfreeze / close, deposits, withdrawals, transfers, reversals, pending -> posted /
cancelled, deletion of cancelled ones) runs in the source PostgreSQL; Debezium captures it; the stage
operator lands every topic from its start (a fresh consumer group and landing prefix); the loader puts it
into a fresh DuckDB bronze; ``dbt build`` makes gold. Then:

- ``python -m banking_cdc.reconcile`` (strict) exits 0: gold equals the source;
- tampering with gold (a cent on one amount, a deleted fact row, a reopened deleted customer, a changed
  tracked attribute, an extra SCD2 version, a balance off by a cent) exits 1 naming that check and table;
- ``airflow dags test cdc_reconcile`` succeeds on the reconciled warehouse and fails on a tampered one,
  its error listing the failing check.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from airflow.providers.postgres.hooks.postgres import PostgresHook

from banking_cdc.reconcile import cli
from banking_cdc.reconcile.gold import tracked_changes_sql
from banking_cdc.reconcile.spec import ACCOUNTS
from banking_cdc.settings import DEFAULT_LANDING_BUCKET
from tests.source_changes import change_every_table

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
TABLES = ("customers", "accounts", "transactions")
TOPICS = [f"bank.public.{table}" for table in TABLES]
BUCKET = os.environ.get("BCDC_LANDING_BUCKET", DEFAULT_LANDING_BUCKET)
#: every operation of the generator happens in this workload, whatever the shared source database holds from
#: earlier tests: the generator opens every run with a tour of all its operations, done within its first
#: ``COVERING_BOUND`` operations (asserted below; tests/integration/generator checks it from such states)
EVENTS, SEED = 450, 8


def wait_until_captured(topic: str, key: dict[str, int], timeout: float = 120.0) -> None:
    """Read ``topic`` from its start until the event of ``key`` arrives (Debezium streams in commit order)."""
    from confluent_kafka import Consumer

    extra = json.loads(os.environ["AIRFLOW_CONN_KAFKA_DEFAULT"])["extra"]
    consumer = Consumer({"bootstrap.servers": extra["bootstrap.servers"], "group.id": f"recon-wait-{uuid.uuid4().hex}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})  # fmt: skip
    consumer.subscribe([topic])
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            for message in consumer.consume(num_messages=1000, timeout=1.0):
                if message.error() is None and message.key() and json.loads(message.key()) == key:
                    return
        raise AssertionError(f"{topic}: no event for {key} within {timeout:.0f}s")
    finally:
        consumer.close()


def dbt_build(database: Path, work: Path) -> None:
    """``dbt build`` in its own process (dbt-duckdb keeps the file open in-process)."""
    project = str(ROOT / "banking_dbt")
    result = subprocess.run(
        [str(BIN / "dbt"), "build", "--project-dir", project, "--profiles-dir", project, "--target", "duckdb",
         "--target-path", str(work / "target"), "--log-path", str(work / "logs")],
        capture_output=True, text=True, env={**os.environ, "BCDC_DUCKDB_PATH": str(database)}, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


@pytest.fixture(scope="module")
def workload(capture_ready: dict[str, object]) -> dict[str, Any]:
    """The generator's workload in the source database, captured up to its last commit."""
    from banking_cdc.generator import GeneratorConfig, run

    summary = run(GeneratorConfig(seed=SEED, events=EVENTS, conn_id="postgres_source", progress=False, verify=True))
    assert summary["invariants"] == [], summary["invariants"]
    change_every_table()  # a last commit on every table: once its events are in Kafka, so is everything before
    conn = PostgresHook(postgres_conn_id="postgres_source").get_conn()
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT max(transaction_id) FROM transactions")
            (last,) = cur.fetchone()
    finally:
        conn.close()
    wait_until_captured("bank.public.transactions", {"transaction_id": int(last)})
    return summary


@pytest.fixture(scope="module")
def warehouse(workload: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Gold built by the pipeline's own pieces: stage -> load -> dbt build, in a fresh prefix and DuckDB file."""
    from banking_cdc.transfers.kafka_to_s3 import KafkaToS3Operator
    from banking_cdc.transfers.s3_to_duckdb import S3ToDuckDBBronzeOperator

    work = tmp_path_factory.mktemp("reconcile")
    database = work / "warehouse.duckdb"
    run_id = uuid.uuid4().hex[:10]
    prefix = f"reconcile-test-{run_id}/raw"
    os.environ["AIRFLOW_CONN_DUCKDB_RECON"] = json.dumps({"conn_type": "duckdb", "host": str(database)})
    for topic in TOPICS:  # a fresh consumer group stages each topic from its first offset
        KafkaToS3Operator(
            task_id="stage", topics=[topic], group_id=f"reconcile-test-{run_id}", bucket_name=BUCKET,
            landing_prefix=prefix, deferrable=False,
        ).execute(context={})  # type: ignore[arg-type]  # fmt: skip
    S3ToDuckDBBronzeOperator(
        task_id="load", bucket_name=BUCKET, landing_prefix=prefix, duckdb_conn_id="duckdb_recon"
    ).execute(context={})  # type: ignore[arg-type]
    dbt_build(database, work)
    yield database
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    from banking_cdc.stage.listing import iter_keys

    s3 = S3Hook(aws_conn_id="aws_default")
    keys = list(iter_keys(s3, BUCKET, f"reconcile-test-{run_id}/"))
    for start in range(0, len(keys), 500):
        s3.delete_objects(bucket=BUCKET, keys=keys[start : start + 500])


def reconcile_json(
    database: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> tuple[int, dict[str, Any]]:
    """Run the CLI in-process on ``database``; return its exit code and JSON report."""
    monkeypatch.setenv("AIRFLOW_CONN_DUCKDB_CHECKED", json.dumps({"conn_type": "duckdb", "host": str(database)}))
    capsys.readouterr()
    code = cli.main(["--json", "--warehouse", "duckdb", "--duckdb-conn-id", "duckdb_checked"])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else {}


def test_workload_has_every_kind_of_change(workload: dict[str, Any]) -> None:
    from banking_cdc.generator.mix import OPERATION_WEIGHTS

    done = {name for name, count in workload["operations"].items() if count}
    # the summary names KYC decisions and profile changes by their outcome / kind
    refined = {
        "customer_kyc_change": ("customer_kyc_",),
        "customer_profile_update": ("customer_address_", "customer_email_", "customer_phone_", "customer_postal"),
    }
    missing = [op for op in OPERATION_WEIGHTS
               if op not in done and not any(n.startswith(refined.get(op, (op,))) for n in done)]  # fmt: skip
    assert missing == [], workload["operations"]


def test_cli_reconciles_pipeline_gold_exactly(warehouse: Path) -> None:
    env = {**os.environ, "AIRFLOW_CONN_DUCKDB_CHECKED": json.dumps({"conn_type": "duckdb", "host": str(warehouse)})}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "banking_cdc.reconcile", "--json", "--warehouse", "duckdb",
         "--duckdb-conn-id", "duckdb_checked"],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    report = json.loads(result.stdout)
    assert report["verdict"] == "reconciled" and report["mode"] == "strict"
    results = {(r["check"], r["table"], r["scope"]): r for r in report["results"]}
    # the comparison covered real data of every kind, not empty tables
    assert results[("row_count", "fct_transactions", "")]["source_value"] > EVENTS // 2
    assert results[("deleted_keys_closed", "dim_customers", "")]["source_value"] >= 1, "no erased customer"
    assert results[("deleted_keys_closed", "fct_transactions", "")]["source_value"] >= 1, "no deleted transaction"
    assert results[("amount_sum", "fct_transactions", "status=posted direction=credit")]["source_value"] != "0.00"
    assert results[("balance_per_account", "fct_daily_account_balances", "")]["source_value"] > 0
    print(f"strict reconciliation of {report['checks']} checks in {time.monotonic() - started:.1f}s (CLI process)")


TAMPERING = {
    "one_amount_off_by_a_cent": (
        "UPDATE gold.fct_transactions SET amount = amount + 0.01 WHERE transaction_id = "
        "(SELECT min(transaction_id) FROM gold.fct_transactions WHERE status = 'posted' AND NOT is_deleted)",
        {("amount_sum", "fct_transactions"), ("fact_rows", "fct_transactions")},
    ),
    "one_fact_row_deleted": (
        "DELETE FROM gold.fct_transactions WHERE transaction_id = "
        "(SELECT max(transaction_id) FROM gold.fct_transactions WHERE NOT is_deleted)",
        {("row_count", "fct_transactions"), ("fact_rows", "fct_transactions"), ("amount_sum", "fct_transactions")},
    ),
    "deleted_customer_reopened": (
        "UPDATE gold.dim_customers SET is_current = true WHERE customer_sk = "
        "(SELECT customer_sk FROM gold.dim_customers WHERE is_deleted ORDER BY customer_id LIMIT 1)",
        {("deleted_keys_closed", "dim_customers"), ("row_count", "dim_customers")},
    ),
    "tracked_attribute_changed": (
        "UPDATE gold.dim_accounts SET account_type = 'business' WHERE is_current AND account_id = "
        "(SELECT min(account_id) FROM gold.dim_accounts WHERE is_current AND account_type <> 'business')",
        {("current_rows", "dim_accounts")},
    ),
    "extra_scd2_version": (
        "INSERT INTO gold.dim_accounts SELECT * REPLACE (false AS is_current, md5(account_sk) AS account_sk, "
        "valid_from - INTERVAL 1 SECOND AS valid_to) FROM gold.dim_accounts WHERE version_number = 1 AND account_id = ("
        f"SELECT min(c.key) FROM ({tracked_changes_sql(ACCOUNTS)}) AS c JOIN (SELECT account_id, count(*) AS n "
        "FROM gold.dim_accounts GROUP BY 1) AS v ON v.account_id = c.key WHERE v.n = c.changes)",
        {("scd2_versions", "dim_accounts")},
    ),
    "closing_balance_off_by_a_cent": (
        "UPDATE gold.fct_daily_account_balances SET closing_balance = closing_balance - 0.01 WHERE account_day_key = "
        "(SELECT account_day_key FROM gold.fct_daily_account_balances ORDER BY account_id, balance_date DESC LIMIT 1)",
        {("balance_total", "fct_daily_account_balances"), ("balance_per_account", "fct_daily_account_balances")},
    ),
}


@pytest.mark.parametrize("case", sorted(TAMPERING))
def test_tampered_gold_exits_1_naming_the_check_and_table(
    case: str, warehouse: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sql, expected = TAMPERING[case]
    copy = tmp_path / "tampered.duckdb"
    shutil.copy(warehouse, copy)
    with duckdb.connect(str(copy)) as conn:
        conn.execute(sql)
        assert conn.fetchone()[0] == 1, f"{case}: the tampering statement changed no row"  # type: ignore[index]
    code, report = reconcile_json(copy, monkeypatch, capsys)
    assert code == 1, report
    failing = {(r["check"], r["table"]) for r in report["results"] if not r["ok"]}
    assert failing == expected, [r for r in report["results"] if not r["ok"]]


def test_dags_test_cdc_reconcile_succeeds_on_a_reconciled_warehouse(
    warehouse: Path, airflow_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.dags.dag_test_runner import run_dag_test

    monkeypatch.setenv("AIRFLOW_CONN_DUCKDB_DEFAULT", json.dumps({"conn_type": "duckdb", "host": str(warehouse)}))
    output = run_dag_test("cdc_reconcile", "--conf", json.dumps({"grace_minutes": 0}))
    assert "verdict: reconciled" in output


def test_dags_test_cdc_reconcile_fails_listing_the_difference(
    warehouse: Path, airflow_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / "tampered.duckdb"
    shutil.copy(warehouse, copy)
    sql, _ = TAMPERING["one_fact_row_deleted"]
    with duckdb.connect(str(copy)) as conn:
        conn.execute(sql)
    monkeypatch.setenv("AIRFLOW_CONN_DUCKDB_DEFAULT", json.dumps({"conn_type": "duckdb", "host": str(copy)}))
    result = subprocess.run(
        [str(BIN / "airflow"), "dags", "test", "cdc_reconcile", "--conf", json.dumps({"grace_minutes": 0})],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert "DagRun Finished: dag_id=cdc_reconcile" in output and "state=failed" in output, output[-4000:]
    assert "reconciliation found differences" in output and "row_count[fct_transactions]" in output, output[-4000:]
