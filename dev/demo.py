"""`make demo`: the whole pipeline end to end on the embedded defaults, under a real Airflow, with a summary.

1. the native stack (``dev/stack up``);
2. a local Airflow (scheduler, DAG processor, triggerer, API server on 127.0.0.1:8080,
   ``tests/support/airflow_local.py``) whose home, DuckDB warehouse, landing bucket and stage consumer group
   are the demo's own (fresh each run, under ``.state/demo``), so the demo neither disturbs nor depends on what
   tests left behind: the chain stages every change topic from its start, as a new deployment would;
3. the setup DAGs ``cdc_capture_setup`` and ``warehouse_setup``, then the event-driven chain
   ``cdc_stage`` -> ``cdc_load_bronze`` -> ``banking_dbt_transform`` (Assets, no clock) and ``cdc_monitoring``;
4. the workload generator at a steady rate for ``--duration`` seconds (inserts, updates, deletes,
   transfers, reversals), started at once, while the chain catches up with the topics' history;
5. waits until the chain is idle (everything committed reached gold), pauses it, and prints a summary:
   events captured, files landed, bronze rows, gold tables, commit -> bronze / gold freshness p50 / p95
   of the changes made during the load, and the reconciliation verdict of gold against the source.

Exit 0 only when the reconciliation says ``reconciled``. ``--serve`` keeps Airflow running afterwards
(UI on http://127.0.0.1:8080, health page /bcdc-health) until Ctrl-C; ``--clean`` stops the stack and
deletes the demo's state. Logs: ``.state/demo/logs``.

    dev/demo.sh [--duration 60] [--rate 50] [--serve] [--clean]

The demo is this command line only (arguments, summary, exit code); the pipeline it drives and measures is the
test harness :mod:`tests.support.pipeline`. Run from the repository root as ``python -m dev.demo``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.support.airflow_local import AirflowClusterError
from tests.support.pipeline import (
    SETUP,
    Freshness,
    Pipeline,
    measure_freshness,
    reconcile,
    run_generator,
    say,
    warehouse_counts,
)

ROOT = Path(__file__).resolve().parents[1]
STATE = Path(os.environ.get("BCDC_STATE_DIR", ROOT / ".state")).resolve()
DEMO = STATE / "demo"


def print_summary(counts: dict[str, Any], generated: dict[str, Any], fresh: Freshness, verdict: bool) -> None:
    print()
    print("banking-cdc demo summary")
    print("------------------------")
    rows = generated.get("rows", {})
    changes = ", ".join(
        f"{table} +{r.get('insert', 0)}/~{r.get('update', 0)}/-{r.get('delete', 0)}" for table, r in rows.items()
    )
    total = generated.get("operations_total", "?")
    print(f"generator:          {total} operations; rows inserted/updated/deleted: {changes}")
    print(f"events captured:    {sum(counts['bronze'].values()):,} change events in bronze")
    print(f"files landed:       {counts['files_landed']:,} (loaded: {counts['files_loaded']:,})")
    print("bronze rows:        " + ", ".join(f"{t} {n:,}" for t, n in counts["bronze"].items()))
    print("gold tables:        " + ", ".join(f"{t} {n:,}" for t, n in counts["gold"].items()))
    print(f"commit -> bronze:   {Freshness.describe(fresh.bronze)}")
    print(f"commit -> gold:     {Freshness.describe(fresh.gold)}")
    print(f"reconciliation:     {'reconciled' if verdict else 'DIFFERENCES (see the report above)'}")


def clean() -> int:
    """Stop the native stack and delete the demo's state."""
    subprocess.run([sys.executable, str(ROOT / "dev" / "stack.py"), "down"], check=False)
    shutil.rmtree(DEMO, ignore_errors=True)
    say(f"stopped the stack and deleted {DEMO}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=60, help="seconds of generated load (default 60)")
    parser.add_argument("--rate", type=float, default=50, help="generator operations per second (default 50)")
    parser.add_argument("--seed", type=int, default=None, help="generator seed (default: from the clock)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("BCDC_DEMO_PORT", "8080")))
    parser.add_argument("--serve", action="store_true", help="keep Airflow running afterwards until Ctrl-C")
    parser.add_argument("--clean", action="store_true", help="stop the stack and delete the demo's state, then exit")
    args = parser.parse_args(argv)
    if args.clean:
        return clean()

    from tests.stack_env import ENV_FILE, load_stack_env

    began = time.time()
    load_stack_env(ENV_FILE)
    shutil.rmtree(DEMO, ignore_errors=True)
    pipeline = Pipeline(DEMO, args.port)
    try:
        pipeline.start()
        for dag_id in SETUP:
            pipeline.run_dag(dag_id)
        pipeline.set_paused(False)
        # the generator starts at once: the chain catches up with the topics' history while the load runs,
        # as a new deployment on a live source would (one dbt run less than catching up first)
        say(
            "chain unpaused: staging the change topics from their start; generator: "
            f"{args.rate:g} operations/s for {args.duration:g} s (inserts, updates, deletes, transfers)"
        )
        window_start = time.time()
        generated = run_generator(args.rate, args.duration, args.seed or int(time.time()) % 1_000_000)
        window_end = time.time()
        say("generator done; waiting until every change has reached gold")
        pipeline.wait_until_idle(window_end)
        pipeline.set_paused(True)
        time.sleep(5)  # a monitoring task started just before the pause finishes
        failed = pipeline.failed_runs()
        if failed:
            say(f"WARNING: failed runs {failed} (logs under {pipeline.airflow.home}/logs)")
            print(pipeline.failure_report(failed))
        import duckdb
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        from banking_cdc.stage.listing import iter_objects

        con = duckdb.connect(str(pipeline.warehouse), read_only=True)
        try:
            counts = warehouse_counts(con)
            fresh = measure_freshness(con, (window_start, window_end))
        finally:
            con.close()
        counts["files_landed"] = sum(
            1 for _ in iter_objects(S3Hook(aws_conn_id="aws_default"), pipeline.bucket, "raw/")
        )
        ok, report = reconcile(pipeline.warehouse)
        print(report)
        print_summary(counts, generated, fresh, ok)
        say(f"done in {time.time() - began:.0f} s")
        if args.serve:
            say(f"Airflow UI: http://127.0.0.1:{args.port} (health page /bcdc-health); Ctrl-C stops it")
            pipeline.set_paused(False)
            while True:
                pipeline.airflow.check_alive()
                time.sleep(5)
        return 0 if ok and not failed else 1
    except KeyboardInterrupt:
        return 130
    except AirflowClusterError as err:
        say(f"FAILED: {err}")
        return 1
    finally:
        pipeline.airflow.stop()
        say("Airflow stopped; the stack keeps running (make stack-down, or dev/demo.sh --clean)")


if __name__ == "__main__":
    sys.exit(main())
