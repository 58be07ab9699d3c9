"""The pipeline harness: the whole chain under a local Airflow over the native stack, and what measures it.

:class:`Pipeline` is a :class:`~tests.support.airflow_local.ScratchAirflow` over the native stack with its own
DuckDB warehouse, landing bucket and stage consumer group (so it stages every change topic from its start, as a
new deployment would). Around it: the DAG ids of the setup and the event-driven chain, the workload generator
(:func:`start_generator`, :func:`generator_summary`, :func:`run_generator`), commit -> bronze / gold freshness
from the warehouse (:func:`measure_freshness`), the warehouse counts and the reconciliation of gold against the
source (:func:`reconcile`). Used by ``make demo`` (``dev/demo.py``), ``tests/e2e`` and the freshness benchmark.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from banking_cdc.transform.dbt_project import gold_models
from tests.support.airflow_local import AirflowClusterError, ScratchAirflow

ROOT = Path(__file__).resolve().parents[2]
CHAIN = ("cdc_stage", "cdc_load_bronze", "banking_dbt_transform")
SETUP = ("cdc_capture_setup", "warehouse_setup")
MONITORING = "cdc_monitoring"
TABLES = ("customers", "accounts", "transactions")
GOLD = gold_models()


def say(message: str) -> None:
    print(f"demo [{datetime.now().strftime('%H:%M:%S')}] {message}", flush=True)


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


@dataclass
class Freshness:
    """Seconds from a change's commit in the source to its arrival (bronze) or build (gold)."""

    bronze: list[float] = field(default_factory=list)
    gold: list[float] = field(default_factory=list)

    @staticmethod
    def describe(values: list[float]) -> str:
        if not values:
            return "no changes in the window"
        return (
            f"p50 {statistics.median(values):.1f} s, p95 {percentile(values, 0.95):.1f} s, "
            f"max {max(values):.1f} s (n={len(values):,})"
        )


def measure_freshness(con: Any, window: tuple[float, float]) -> Freshness:
    """
    Freshness of the changes committed in ``window`` (epoch seconds), from the warehouse itself:
    bronze ``loaded_at`` - the change's commit time (``source_ts_ms``); gold ``fct_transactions._built_at``
    - the commit time of the transaction's last change (an upper bound: a later fix-up of the row counts).
    """
    start_ms, end_ms = int(window[0] * 1000), int(window[1] * 1000)
    result = Freshness()
    for table in TABLES:
        result.bronze += [
            row[0]
            for row in con.execute(
                f"SELECT (epoch_ms(loaded_at) - source_ts_ms) / 1000.0 FROM bronze.{table} "
                "WHERE op IN ('c', 'u', 'd') AND source_ts_ms BETWEEN ? AND ?",
                [start_ms, end_ms],
            ).fetchall()
        ]
    result.gold = [
        row[0]
        for row in con.execute(
            """
            WITH last_change AS (
                SELECT CAST(coalesce(after_json ->> 'transaction_id', before_json ->> 'transaction_id') AS BIGINT)
                           AS transaction_id,
                       max(source_ts_ms) AS committed_ms
                FROM bronze.transactions
                WHERE op IN ('c', 'u', 'd')
                GROUP BY 1
            )
            SELECT (epoch_ms(f._built_at) - l.committed_ms) / 1000.0
            FROM gold.fct_transactions f JOIN last_change l USING (transaction_id)
            WHERE l.committed_ms BETWEEN ? AND ?
            """,
            [start_ms, end_ms],
        ).fetchall()
    ]
    return result


def warehouse_counts(con: Any) -> dict[str, Any]:
    """Bronze rows per table, landing files loaded, gold rows per model."""
    bronze = {t: con.execute(f"SELECT count(*) FROM bronze.{t}").fetchone()[0] for t in TABLES}
    files = con.execute("SELECT count(*) FROM bronze.load_ledger").fetchone()[0]
    gold = {m: con.execute(f"SELECT count(*) FROM gold.{m}").fetchone()[0] for m in GOLD}
    return {"bronze": bronze, "files_loaded": files, "gold": gold}


class Pipeline:
    """The demo's Airflow over the native stack, with its own warehouse, landing bucket and consumer group."""

    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.warehouse = root / "warehouse" / "demo.duckdb"
        tag = uuid.uuid4().hex[:8]
        self.bucket = f"bcdc-demo-{tag}"
        env = {
            "AIRFLOW_CONN_DUCKDB_DEFAULT": json.dumps({"conn_type": "duckdb", "host": str(self.warehouse)}),
            "AIRFLOW_VAR_LANDING_BUCKET": self.bucket,
            "AIRFLOW_VAR_STAGE_GROUP_ID": f"bcdc-demo-{tag}",
            "AIRFLOW_VAR_WAREHOUSE_BACKEND": "duckdb",
        }
        self.airflow = ScratchAirflow(root, ROOT / "dags", env, port=port, plugins_folder=ROOT / "plugins")

    def start(self) -> None:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        self.warehouse.parent.mkdir(parents=True, exist_ok=True)
        S3Hook(aws_conn_id="aws_default").create_bucket(bucket_name=self.bucket)
        say(f"Airflow: metadata DB and pools ({self.airflow.home})")
        self.airflow.migrate()
        self.airflow.start()
        say(f"Airflow: starting scheduler, DAG processor, triggerer, API server (http://127.0.0.1:{self.airflow.port})")
        self.airflow.wait_until_ready([*SETUP, *CHAIN])

    def run_dag(self, dag_id: str, timeout: float = 900) -> None:
        run_id = f"demo_{int(time.time())}"
        self.airflow.trigger(dag_id, run_id)
        state = self.airflow.wait_for_run(dag_id, run_id, timeout=timeout)
        if state != "success":
            raise AirflowClusterError(f"{dag_id} ended {state}: see {self.airflow.logs} and {self.airflow.home}/logs")
        say(f"{dag_id}: success")

    def active_runs(self) -> int:
        rows = self.airflow.query(
            "SELECT count(*) FROM dag_run WHERE state IN ('queued', 'running') AND dag_id IN (?, ?)", *CHAIN[1:]
        )
        return int(rows[0][0])

    def failed_runs(self) -> list[tuple[Any, ...]]:
        """Failed runs of the setup DAGs and the chain (a failed ``cdc_monitoring`` run is an alert, not a
        pipeline failure: it fails while the chain catches up, for example on gold freshness)."""
        dag_ids = (*SETUP, *CHAIN)
        marks = ", ".join("?" for _ in dag_ids)
        return self.airflow.query(
            f"SELECT dag_id, run_id FROM dag_run WHERE state = 'failed' AND dag_id IN ({marks})", *dag_ids
        )

    def failure_report(self, runs: list[tuple[Any, ...]], tail: int = 1500) -> str:
        """The failed tasks of ``runs`` ((dag_id, run_id) pairs) with the end of each one's last log."""
        lines = []
        for dag_id, run_id in runs:
            for task_id, try_number in self.airflow.query(
                "SELECT task_id, try_number FROM task_instance WHERE dag_id = ? AND run_id = ? AND state = 'failed'",
                dag_id,
                run_id,
            ):
                logs = sorted(
                    (self.airflow.home / "logs").glob(f"dag_id={dag_id}/run_id={run_id}/task_id={task_id}/*.log")
                )
                text = logs[-1].read_text(errors="replace")[-tail:] if logs else "(no log file)"
                lines.append(f"--- {dag_id} / {run_id} / {task_id} (try {try_number})\n{text}")
        return "\n".join(lines)

    def wait_until_idle(self, since: float, quiet_for: float = 30, timeout: float = 1800) -> None:
        """No load or dbt run queued or running for ``quiet_for`` s, at least 45 s after ``since``
        (the stage lands a small backlog once it is 15 s old)."""
        end = time.time() + timeout
        quiet_since: float | None = None
        while time.time() < end:
            self.airflow.check_alive()
            if self.active_runs():
                quiet_since = None
            elif quiet_since is None:
                quiet_since = time.time()
            if quiet_since is not None and time.time() - quiet_since >= quiet_for and time.time() - since >= 45:
                return
            time.sleep(2)
        raise AirflowClusterError(f"the chain was still busy after {timeout:.0f} s (see {self.airflow.logs})")

    def set_paused(self, paused: bool, dag_ids: tuple[str, ...] = (*CHAIN, MONITORING)) -> None:
        """Pause or unpause ``dag_ids`` in one CLI call (each call costs seconds of Airflow start-up)."""
        pattern = "^(" + "|".join(dag_ids) + ")$"
        self.airflow.airflow("dags", "pause" if paused else "unpause", "--treat-dag-id-as-regex", "--yes", pattern)


def start_generator(rate: float, duration: float, seed: int) -> subprocess.Popen[str]:
    """The workload generator at ``rate`` operations per second for ``duration`` s, in the background."""
    return subprocess.Popen(
        [sys.executable, "-m", "banking_cdc.generator", "--rate", str(rate), "--duration", str(duration),
         "--seed", str(seed), "--no-progress", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def generator_summary(proc: subprocess.Popen[str], timeout: float) -> dict[str, Any]:
    """Wait for a generator started by :func:`start_generator`; its JSON summary (raises if it failed)."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise AirflowClusterError(f"the generator did not end within {timeout:.0f} s") from None
    if proc.returncode != 0:
        raise AirflowClusterError(f"the generator failed:\n{err[-3000:]}")
    summary: dict[str, Any] = json.loads(out[out.index("{") :])
    return summary


def run_generator(rate: float, duration: float, seed: int) -> dict[str, Any]:
    """The workload generator at ``rate`` operations per second for ``duration`` s; its JSON summary."""
    return generator_summary(start_generator(rate, duration, seed), timeout=duration + 600)


def reconcile(warehouse: Path) -> tuple[bool, str]:
    """Gold against the source (``python -m banking_cdc.reconcile``); (reconciled?, its report)."""
    env = {**os.environ, "AIRFLOW_CONN_DUCKDB_DEFAULT": json.dumps({"conn_type": "duckdb", "host": str(warehouse)})}
    result = subprocess.run(
        [sys.executable, "-m", "banking_cdc.reconcile"], capture_output=True, text=True, env=env, timeout=900
    )
    return result.returncode == 0, (result.stdout + result.stderr).strip()
