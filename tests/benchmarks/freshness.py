"""Benchmark: commit -> bronze and commit -> gold freshness of the event-driven chain under a steady load.

The chain runs as in production, under a real scheduler, DAG processor, triggerer and API server (the
demo's local Airflow, tests/support/pipeline.py + tests/support/airflow_local.py, over the native stack): ``cdc_stage``
(``@continuous``, deferring in the triggerer until a topic has a backlog) lands files and emits
``bcdc_landing`` Asset events; ``cdc_load_bronze`` runs on them and emits ``bcdc_bronze``;
``banking_dbt_transform`` (Cosmos, one task per model/test/snapshot, one DuckDB writer at a time) runs on
that. No clock schedules anything. The warehouse, landing bucket and stage consumer group are fresh, so
the chain first catches up with the topics' history; then the generator writes at ``--rate`` operations
per second for ``--duration`` seconds; the script waits until the chain is idle, stops Airflow and measures
from the data (tests.support.pipeline.measure_freshness), for the changes committed during the load:

* commit -> bronze: ``bronze.loaded_at - source_ts_ms`` per change event;
* commit -> gold: ``gold.fct_transactions._built_at`` - the commit time of the transaction's last change
  (an upper bound: a later fix-up of the row counts against it).

Printed: p50 / p95 / max of each, and each p95 as a ratio to its goal (15 s to bronze, 60 s to gold),
plus the runs of each DAG of the chain and the mean wall time of a dbt run.

    PYTHONPATH=. .venv/bin/python tests/benchmarks/freshness.py --rate 100 --duration 300
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.stack_env import ENV_FILE, load_stack_env  # noqa: E402
from tests.support.airflow_local import free_port  # noqa: E402
from tests.support.pipeline import (  # noqa: E402
    CHAIN,
    SETUP,
    Freshness,
    Pipeline,
    measure_freshness,
    percentile,
    run_generator,
    say,
)

GOALS = {"bronze": 15.0, "gold": 60.0}


def dbt_run_seconds(pipeline: Pipeline, since: float) -> list[float]:
    """Wall time (queued -> end) of the dbt DAG's finished runs queued after ``since``."""
    start = datetime.fromtimestamp(since).strftime("%Y-%m-%d %H:%M:%S")
    rows = pipeline.airflow.query(
        "SELECT queued_at, end_date FROM dag_run WHERE dag_id = 'banking_dbt_transform' AND end_date IS NOT NULL "
        "AND queued_at >= ?",
        start,
    )
    return [(datetime.fromisoformat(end) - datetime.fromisoformat(queued)).total_seconds() for queued, end in rows]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=100, help="generator operations per second")
    parser.add_argument("--duration", type=float, default=300, help="seconds of steady load")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = parser.parse_args()

    load_stack_env(ENV_FILE)
    scratch = Path(tempfile.mkdtemp(prefix="bcdc-freshness-"))
    pipeline = Pipeline(scratch, free_port())
    try:
        pipeline.start()
        for dag_id in SETUP:
            pipeline.run_dag(dag_id)
        pipeline.set_paused(False, CHAIN)
        pipeline.wait_until_idle(time.time(), quiet_for=20)
        say(f"steady load: {args.rate:g} ops/s for {args.duration:g} s")
        window_start = time.time()
        generated = run_generator(args.rate, args.duration, args.seed)
        window_end = time.time()
        pipeline.wait_until_idle(window_end)
        failed = pipeline.failed_runs()
        failures = pipeline.failure_report(failed) if failed else ""
        counts = {
            dag_id: pipeline.airflow.query("SELECT count(*) FROM dag_run WHERE dag_id = ?", dag_id)[0][0]
            for dag_id in CHAIN
        }
        dbt_runs = dbt_run_seconds(pipeline, window_start)
    finally:
        pipeline.airflow.stop()
    import duckdb

    con = duckdb.connect(str(pipeline.warehouse), read_only=True)
    try:
        fresh: Freshness = measure_freshness(con, (window_start, window_end))
    finally:
        con.close()
    if not args.keep:
        shutil.rmtree(scratch, ignore_errors=True)

    rate = generated.get("rate", {})
    print(
        f"\nfreshness under {args.rate:g} ops/s for {args.duration:g} s (achieved {rate.get('achieved', '?')} ops/s, "
        f"kept up: {rate.get('kept_up', '?')}); runs {counts}"
    )
    if dbt_runs:
        print(f"dbt runs during/after the load: {len(dbt_runs)}, mean {statistics.mean(dbt_runs):.0f} s queued->end")
    if failed:
        print(f"FAILED runs: {failed}\n{failures}")
    for name in ("bronze", "gold"):
        values: list[float] = getattr(fresh, name)
        if not values:
            print(f"commit -> {name}: no changes in the window")
            continue
        p95 = percentile(values, 0.95)
        print(
            f"commit -> {name}: {Freshness.describe(values)}; p95 / goal {GOALS[name]:.0f} s = {p95 / GOALS[name]:.2f}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
