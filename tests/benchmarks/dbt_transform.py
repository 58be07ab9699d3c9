"""Benchmark: the Cosmos DAG file's parse time, and dbt incremental run vs full refresh after +1% events.

1. Parse time of ``dags/banking_dbt_transform.py`` as the DAG processor sees it: a fresh interpreter with
   Airflow already imported (as in the processor) fills a ``DagBag`` from the file; reported cold (first
   parse in the process, Cosmos imported) and warm (median of further parses). Baseline in the same
   process: ``dags/cdc_stack_health.py``, a plain DAG file. Goal: < 1 s.
2. A seeded bronze fixture (``--events`` source transactions, about 2 bronze rows each) is loaded up to
   the last ~1% of its rows; ``dbt build`` builds the project; the last ~1% arrives; then timed:
   - incremental: ``dbt build`` on that warehouse (incremental models read only the new rows);
   - full refresh: ``dbt build --full-refresh`` on a copy of the same warehouse (every model rebuilt).
   Each is timed twice: models and snapshots only (``--exclude resource_type:test resource_type:unit_test``)
   and the whole build with data tests, which scan whole tables either way; both as dbt's own run time
   (``run_results.json``) and as wall time of the process (adds about 5 s of start and parse, the same
   for both modes). Goal: incremental / full refresh <= 25% (models and snapshots, dbt run time).

    .venv/bin/python tests/benchmarks/dbt_transform.py --events 480000 --customers 2000
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

BIN = Path(sys.executable).parent
PROJECT = ROOT / "banking_dbt"
ONLY_MODELS = ("--exclude", "resource_type:test", "resource_type:unit_test")

PARSE_SNIPPET = """
import json, statistics, sys, time
import airflow  # the DAG processor has Airflow imported before it parses a file
from airflow.dag_processing.dagbag import DagBag
path, repeats = sys.argv[1], int(sys.argv[2])
times = []
for _ in range(repeats):
    began = time.perf_counter()
    bag = DagBag(dag_folder=path)
    times.append(time.perf_counter() - began)
    assert not bag.import_errors, bag.import_errors
    assert bag.dags, path
tasks = sum(len(d.tasks) for d in bag.dags.values())
print(json.dumps({"cold": times[0], "warm": statistics.median(times[1:]), "tasks": tasks}))
"""


def parse_times(dag_file: Path, repeats: int) -> dict[str, float]:
    """Parse ``dag_file`` ``repeats`` times in a fresh interpreter; return cold, warm (median) seconds."""
    import json

    env = {**os.environ, "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False"}
    result = subprocess.run(
        [sys.executable, "-c", PARSE_SNIPPET, str(dag_file), str(repeats)],
        capture_output=True, text=True, check=True, env=env, cwd=ROOT,
    )  # fmt: skip
    return json.loads(result.stdout.strip().splitlines()[-1])


def dbt(database: Path, target: Path, *args: str) -> float:
    """Run ``dbt`` on ``database`` (DuckDB target); return wall seconds; fail loudly on a failed build.

    dbt's own run time (``run_results.json`` ``elapsed_time``) is left in ``target`` for :func:`elapsed`.
    """
    env = {**os.environ, "BCDC_DUCKDB_PATH": str(database)}
    began = time.perf_counter()
    result = subprocess.run(
        [str(BIN / "dbt"), *args, "--project-dir", str(PROJECT), "--profiles-dir", str(PROJECT),
         "--target", "duckdb", "--target-path", str(target), "--log-path", str(target / "logs")],
        capture_output=True, text=True, env=env,
    )  # fmt: skip
    seconds = time.perf_counter() - began
    if result.returncode != 0:
        raise SystemExit(f"dbt {' '.join(args)} failed:\n{result.stdout[-4000:]}{result.stderr[-2000:]}")
    return seconds


def elapsed(target: Path) -> float:
    """dbt's own run time of the last invocation (``run_results.json``), without process start and parse."""
    import json

    return float(json.loads((target / "run_results.json").read_text())["elapsed_time"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=480_000, help="source transactions after the snapshot")
    parser.add_argument("--customers", type=int, default=2_000)
    parser.add_argument("--tail-share", type=float, default=0.01, help="share of rows arriving last")
    parser.add_argument("--parse-repeats", type=int, default=6)
    args = parser.parse_args()

    from tests.stack_env import load_stack_env

    load_stack_env()
    cosmos = parse_times(ROOT / "dags" / "banking_dbt_transform.py", args.parse_repeats)
    plain = parse_times(ROOT / "dags" / "cdc_stack_health.py", args.parse_repeats)
    print(f"parse banking_dbt_transform.py ({cosmos['tasks']} tasks): cold {cosmos['cold']:.2f}s, "
          f"warm {cosmos['warm']:.3f}s (goal < 1 s)")  # fmt: skip
    print(f"parse cdc_stack_health.py (baseline, {plain['tasks']} tasks): cold {plain['cold']:.2f}s, "
          f"warm {plain['warm']:.3f}s; ratio warm {cosmos['warm'] / plain['warm']:.1f}x")  # fmt: skip

    from tests.dbt.bronze_fixture import load_bronze, split_parts, synthesize

    work = Path(tempfile.mkdtemp(prefix="bcdc-dbt-bench-"))
    try:
        began = time.perf_counter()
        fixture = synthesize(seed=7, customers=args.customers, events=args.events)
        base, tail = split_parts(fixture, tail_share=args.tail_share)
        print(f"fixture: {fixture.total_rows:,} bronze rows in {time.perf_counter() - began:.1f}s")
        # every dbt call uses the same file path (the profile must not change, or dbt re-parses the
        # project on the next call and that call pays for it); the state is kept as a copy
        state, run_db = work / "state.duckdb", work / "run.duckdb"
        target = work / "target"
        base_rows = load_bronze(run_db, fixture, parts=base)["rows_loaded"]
        initial = dbt(run_db, target, "build")
        tail_rows = load_bronze(run_db, fixture, parts=tail)["rows_loaded"]
        shutil.copyfile(run_db, state)
        print(f"base {base_rows:,} rows, initial dbt build {initial:.1f}s; then +{tail_rows:,} rows "
              f"({tail_rows / base_rows:.2%}) arrive")  # fmt: skip
        # every timing starts from a copy of the same state: built on the base, the tail loaded in bronze
        results: dict[str, dict[str, float]] = {}
        for label, extra in (("models+snapshots", ONLY_MODELS), ("build with tests", ())):
            timings = {}
            for mode, flags in (("incremental", ()), ("full", ("--full-refresh",))):
                shutil.copyfile(state, run_db)
                timings[f"{mode} wall"] = dbt(run_db, target, "build", *flags, *extra)
                timings[f"{mode} dbt"] = elapsed(target)
            results[label] = timings
        print("                   (dbt = dbt's own run time; wall = + process start and parse, ~5 s)")
        for label, r in results.items():
            dbt_ratio, wall_ratio = r["incremental dbt"] / r["full dbt"], r["incremental wall"] / r["full wall"]
            print(f"{label:18s} incremental dbt {r['incremental dbt']:5.1f}s wall {r['incremental wall']:5.1f}s | "
                  f"full refresh dbt {r['full dbt']:5.1f}s wall {r['full wall']:5.1f}s | "
                  f"ratio dbt {dbt_ratio:.0%}, wall {wall_ratio:.0%}")  # fmt: skip
        r = results["models+snapshots"]
        print(f"goal: incremental / full refresh <= 25% (models+snapshots, dbt run time): "
              f"{r['incremental dbt'] / r['full dbt']:.0%}")  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
