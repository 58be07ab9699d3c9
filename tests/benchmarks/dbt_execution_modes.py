"""Benchmark: banking_dbt under Cosmos: LOCAL vs WATCHER, dbt in the Airflow environment vs in its own virtualenv.

Builds a scratch Airflow (SQLite metadata DB, one-slot pool ``duckdb_writer``, ``duckdb_default`` pointing at
a scratch DuckDB file loaded from the seeded bronze fixture) and a scratch dags folder with one variant of
``banking_dbt_transform`` per choice, each a ``DbtDag`` built from ``cosmos_configs()`` with only the
execution config replaced:

* ``local_runner``: ``ExecutionMode.LOCAL`` + ``InvocationMode.DBT_RUNNER`` (the current choice, the baseline);
* ``local_venv``: ``ExecutionMode.LOCAL`` + ``InvocationMode.SUBPROCESS`` with ``dbt_executable_path`` in a
  separate dbt virtualenv (cached under ``~/.cache/banking-cdc/dbt-venv``; its creation time is reported);
* ``watcher``: ``ExecutionMode.WATCHER`` (one ``dbt build`` producer task, a deferrable sensor per node),
  every task in the one-slot pool as ``cosmos_configs()`` sets it: the sensors queue behind the producer;
* ``watcher_unpooled_sensors`` (only with ``--variants``): the same with only the producer in the pool (the
  sensors only read XCom), so the sensors defer to the triggerer while the build runs. Its first run here
  failed on an Airflow 3.3 race (a resumed deferred sensor marked failed by the stale executor event of its
  deferring try, apache/airflow#71580), see docs/BENCHMARKS.md.

``--preload both`` repeats the scheduler runs under a second scratch Airflow whose scheduler imports dbt
before its executor forks the task workers (``banking_cdc.plugins.task_preload``, as ``plugins/`` does in the
product); those runs are reported as ``<variant>+preload``, with the ratio to ``local_runner`` without it.

Every variant runs ``--runs`` times, interleaved, under a running scheduler + DAG processor + triggerer +
API server (tests/support/airflow_local.py: started here, each in its own session, the API server on a free
loopback port, stopped by process group at the end), triggered with ``airflow dags trigger`` and polled in the
metadata DB until it ends. For reference the LOCAL variants also run under ``airflow dags test`` (before
the scheduler starts: a scheduler would also pick up the test run); WATCHER hangs there. The warehouse
file is reset from a pristine copy before every run so that every run does the same work (a full build).

Reported per variant (medians over the runs): the run's wall time (trigger -> end, from the DagRun's
``queued_at``/``end_date``), the task count, the mean task duration (TaskInstance end - start) and the
wall time per task, and the ratio of the wall time to ``local_runner`` measured in the same run. A failed
DagRun fails the script, with the tail of each failed task's log.

    PYTHONPATH=. .venv/bin/python tests/benchmarks/dbt_execution_modes.py --runs 2
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.dbt.bronze_fixture import load_bronze, synthesize  # noqa: E402
from tests.support.airflow_local import ScratchAirflow  # noqa: E402

AIRFLOW_BIN = Path(sys.executable).parent
DBT_PROJECT = ROOT / "banking_dbt"
VENV = Path.home() / ".cache" / "banking-cdc" / "dbt-venv"
VENV_MARKER = VENV / "bcdc-created.json"
VENV_REQUIREMENTS = ["dbt-core>=1.11,<1.12", "dbt-duckdb==1.11.1"]
CONSTRAINTS = ROOT / "dev" / "constraints.txt"

#: the execution config of each variant (the rest of the DbtDag comes from cosmos_configs)
VARIANTS: dict[str, str] = {
    "local_runner": "ExecutionConfig(execution_mode=ExecutionMode.LOCAL, invocation_mode=InvocationMode.DBT_RUNNER)",
    "local_venv": (
        "ExecutionConfig(execution_mode=ExecutionMode.LOCAL, invocation_mode=InvocationMode.SUBPROCESS,\n"
        "                dbt_executable_path={dbt!r})"
    ),
    "watcher": "ExecutionConfig(execution_mode=ExecutionMode.WATCHER, invocation_mode=InvocationMode.DBT_RUNNER)",
    "watcher_unpooled_sensors": (
        "ExecutionConfig(execution_mode=ExecutionMode.WATCHER, invocation_mode=InvocationMode.DBT_RUNNER)"
    ),
}
#: what each variant changes after the DAG is built
AFTER: dict[str, str] = {
    # only the producer writes DuckDB: its sensors can wait (deferred) outside the one-slot pool
    "watcher_unpooled_sensors": (
        'for task in dag.tasks:\n    if task.task_id != "dbt_producer_watcher":\n        task.pool = "default_pool"\n'
    ),
}
BASELINE = "local_runner"
DAG_TEMPLATE = '''"""Variant {name} of the banking_dbt_transform airflow dag (benchmark dbt_execution_modes.py)."""

from datetime import UTC, datetime
from pathlib import Path

from cosmos import DbtDag, ExecutionConfig
from cosmos.constants import ExecutionMode, InvocationMode

from banking_cdc.transform.dbt_project import cosmos_configs

configs = cosmos_configs(Path({project!r}), "duckdb")
configs["execution_config"] = {execution}
dag = DbtDag(
    dag_id={dag_id!r},
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={{"owner": "benchmark", "retries": 0}},
    **configs,
)
{after}'''


@dataclass
class Run:
    """One finished DagRun."""

    variant: str
    how: str  # "scheduler" or "dags test"
    wall: float  # trigger -> end
    tasks: int
    task_durations: list[float] = field(default_factory=list)
    retried: int = 0


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- the dbt virtualenv -------------------------------------------------------------------------------------


def ensure_dbt_venv(rebuild: bool) -> dict[str, Any]:
    """Create (or reuse) the separate dbt virtualenv; return its marker (creation seconds, dbt version, ...)."""
    dbt = VENV / "bin" / "dbt"
    if not rebuild and VENV_MARKER.exists() and dbt.exists():
        marker = json.loads(VENV_MARKER.read_text())
        marker["cached"] = True
        return marker
    shutil.rmtree(VENV, ignore_errors=True)
    VENV.parent.mkdir(parents=True, exist_ok=True)
    log(f"creating the dbt virtualenv {VENV} ...")
    began = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    pip = [str(VENV / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    constrained = subprocess.run([*pip, "-c", str(CONSTRAINTS), *VENV_REQUIREMENTS], capture_output=True, text=True)
    if constrained.returncode != 0:
        log(f"pip install with {CONSTRAINTS.name} failed, retrying without:\n{constrained.stderr[-2000:]}")
        subprocess.run([*pip, *VENV_REQUIREMENTS], check=True)
    seconds = time.perf_counter() - began
    version = subprocess.run([str(dbt), "--version"], capture_output=True, text=True, check=True).stdout
    marker = {
        "seconds": round(seconds, 1),
        "constraints": constrained.returncode == 0,
        "requirements": VENV_REQUIREMENTS,
        "dbt_version": version.strip(),
        "created": datetime.now().isoformat(timespec="seconds"),
    }
    VENV_MARKER.write_text(json.dumps(marker, indent=1))
    marker["cached"] = False
    return marker


# --- the scratch Airflow ------------------------------------------------------------------------------------


PRELOAD_PLUGIN = '''"""Benchmark plugin: only the task preload listener of banking-cdc (airflow plugin)."""
from airflow.plugins_manager import AirflowPlugin

from banking_cdc.plugins.task_preload import TaskPreloadListener


class BenchPreloadPlugin(AirflowPlugin):
    name = "bench_task_preload"
    listeners = [TaskPreloadListener()]
'''


def scratch_airflow(scratch: Path, warehouse: Path, dags: Path | None = None, preload: bool = False) -> ScratchAirflow:
    """The scratch Airflow of this benchmark: its own DAGs folder and warehouse, none of the stack's connections;
    with ``preload``, a plugins folder holding only the task preload listener."""
    plugins = None
    if preload:
        plugins = scratch / "plugins"
        plugins.mkdir(parents=True, exist_ok=True)
        (plugins / "bench_task_preload.py").write_text(PRELOAD_PLUGIN)
    env = {
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW_CONN_DUCKDB_DEFAULT": json.dumps({"conn_type": "duckdb", "host": str(warehouse)}),
        "AIRFLOW_VAR_WAREHOUSE_BACKEND": "duckdb",
    }
    return ScratchAirflow(scratch, dags or scratch / "dags", env, inherit_connections=False, plugins_folder=plugins)


# --- metadata DB ---------------------------------------------------------------------------------------------


def parse_ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def collect(
    airflow: ScratchAirflow, variant: str, how: str, dag_id: str, run_id: str, wall: float | None = None
) -> Run:
    """The finished run's timings from the metadata DB; exits with the failed tasks' log tails if it failed."""
    (state, queued_at, end_date) = airflow.query(
        "SELECT state, queued_at, end_date FROM dag_run WHERE dag_id = ? AND run_id = ?", dag_id, run_id
    )[0]
    tis = airflow.query(
        "SELECT task_id, state, start_date, end_date, try_number FROM task_instance WHERE dag_id = ? AND run_id = ?",
        dag_id,
        run_id,
    )
    failed = [row for row in tis if row[1] != "success"]
    if state != "success" or failed:
        home = airflow.home
        tails = []
        for task_id, task_state, *_rest, try_number in failed:
            logs = sorted(home.glob(f"logs/dag_id={dag_id}/run_id={run_id}/task_id={task_id}/**/*.log"))
            text = logs[-1].read_text(errors="replace")[-4000:] if logs else "(no log file)"
            tails.append(f"--- {task_id}: {task_state} (try {try_number})\n{text}")
        raise SystemExit(f"{dag_id} run {run_id} ended {state}; tasks not successful:\n" + "\n".join(tails))
    durations = []
    for _task_id, _state, start, end, _try in tis:
        began, ended = parse_ts(start), parse_ts(end)
        if began and ended:
            durations.append((ended - began).total_seconds())
    if wall is None:
        began, ended = parse_ts(queued_at), parse_ts(end_date)
        assert began and ended, (queued_at, end_date)
        wall = (ended - began).total_seconds()
    retried = sum(1 for row in tis if (row[4] or 1) > 1)
    return Run(variant, how, wall, len(tis), durations, retried)


# --- runs ---------------------------------------------------------------------------------------------------


def reset_warehouse(pristine: Path, warehouse: Path) -> None:
    for suffix in ("", ".wal"):
        Path(f"{warehouse}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(pristine, warehouse)


def run_scheduled(airflow: ScratchAirflow, variant: str, number: int) -> Run:
    dag_id, run_id = f"bench_{variant}", f"bench_{variant}_{number}_{int(time.time())}"
    began = time.perf_counter()
    airflow.trigger(dag_id, run_id)
    airflow.wait_for_run(dag_id, run_id, timeout=1800)
    polled = time.perf_counter() - began
    run = collect(airflow, variant, "scheduler", dag_id, run_id)
    log(
        f"{variant} under the scheduler: {run.wall:.1f}s queued->end ({polled:.1f}s CLI trigger->seen ended), "
        f"{run.tasks} tasks, mean task {statistics.mean(run.task_durations):.2f}s"
    )
    return run


def run_dags_test(airflow: ScratchAirflow, variant: str) -> Run:
    dag_id = f"bench_{variant}"
    before = {row[0] for row in airflow.query("SELECT run_id FROM dag_run WHERE dag_id = ?", dag_id)}
    began = time.perf_counter()
    result = subprocess.run(
        [str(AIRFLOW_BIN / "airflow"), "dags", "test", dag_id],
        env=airflow.env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    wall = time.perf_counter() - began
    after = airflow.query("SELECT run_id FROM dag_run WHERE dag_id = ? ORDER BY id", dag_id)
    new = [row[0] for row in after if row[0] not in before]
    if result.returncode != 0 or not new:
        raise SystemExit(f"airflow dags test {dag_id} failed:\n{(result.stdout + result.stderr)[-5000:]}")
    run = collect(airflow, variant, "dags test", dag_id, new[-1], wall=wall)
    log(
        f"{variant} under `airflow dags test`: {run.wall:.1f}s (whole command), {run.tasks} tasks, "
        f"mean task {statistics.mean(run.task_durations):.2f}s"
    )
    return run


# --- report -------------------------------------------------------------------------------------------------


def report(runs: list[Run], venv: dict[str, Any]) -> None:
    """Print the table (medians per variant), each run's wall time and the dbt virtualenv's cost."""
    rows = []
    base: dict[str, float] = {}
    names = list(dict.fromkeys(run.variant for run in runs))  # in the order they ran
    for how in ("scheduler", "dags test"):
        for variant in names:
            chosen = [run for run in runs if run.variant == variant and run.how == how]
            if not chosen:
                continue
            wall = statistics.median(run.wall for run in chosen)
            mean_task = statistics.median(statistics.mean(run.task_durations) for run in chosen)
            longest = statistics.median(max(run.task_durations) for run in chosen)
            retried = sum(run.retried for run in chosen)
            if variant == BASELINE:
                base[how] = wall
            rows.append((how, variant, len(chosen), wall, chosen[0].tasks, mean_task, longest, retried))
    print()
    print(
        "| how | variant | runs | wall s (median) | tasks | mean task s | longest task s | wall s / task "
        "| ratio vs local_runner |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for how, variant, count, wall, tasks, mean_task, longest, retried in rows:
        ratio = f"{wall / base[how]:.2f}" if how in base else "-"
        note = f" ({retried} retried)" if retried else ""
        print(
            f"| {how} | {variant}{note} | {count} | {wall:.1f} | {tasks} | {mean_task:.2f} | {longest:.1f} "
            f"| {wall / tasks:.2f} | {ratio} |"
        )
    print()
    print("wall s of each run (scheduler: DagRun queued_at -> end_date; dags test: the whole command):")
    for how in ("scheduler", "dags test"):
        for variant in names:
            walls = [f"{run.wall:.1f}" for run in runs if run.variant == variant and run.how == how]
            if walls:
                print(f"  {how:9} {variant:24} {', '.join(walls)}")
    installed = next((line.strip() for line in venv["dbt_version"].splitlines() if "installed" in line), "?")
    print(
        f"dbt virtualenv {VENV}: {'cached; ' if venv.get('cached') else ''}created in {venv['seconds']:.0f}s "
        f"on {venv['created']} (with {CONSTRAINTS.name}: {venv['constraints']}); dbt-core {installed}"
    )


def preload_runs(scratch: Path, warehouse: Path, pristine: Path, variants: list[str], count: int) -> list[Run]:
    """The scheduler runs again under a second Airflow whose scheduler preloads dbt (``<variant>+preload``)."""
    airflow = scratch_airflow(scratch / "preload", warehouse, dags=scratch / "dags", preload=True)
    airflow.migrate()
    runs: list[Run] = []
    try:
        airflow.start()
        airflow.wait_until_ready([f"bench_{name}" for name in variants])
        log("second Airflow ready (scheduler preloads dbt)")
        for number in range(1, count + 1):
            for name in variants:
                reset_warehouse(pristine, warehouse)
                run = run_scheduled(airflow, name, number)
                run.variant = f"{name}+preload"
                runs.append(run)
    finally:
        airflow.stop()
        log("second Airflow stopped")
    return runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=2, help="runs of each variant under the scheduler")
    parser.add_argument("--test-runs", type=int, default=1, help="`airflow dags test` runs of each LOCAL variant")
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument(
        "--variants", default="local_runner,local_venv,watcher", help=f"comma-separated, of: {', '.join(VARIANTS)}"
    )
    parser.add_argument(
        "--preload", choices=["off", "both"], default="off",
        help="both: repeat the scheduler runs under an Airflow whose scheduler preloads dbt (<variant>+preload)",
    )  # fmt: skip
    parser.add_argument("--rebuild-venv", action="store_true", help="recreate the dbt virtualenv")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder (logs) at the end")
    args = parser.parse_args()
    variants = [name for name in args.variants.split(",") if name]
    unknown = set(variants) - set(VARIANTS)
    if unknown or BASELINE not in variants:
        raise SystemExit(f"unknown variants {sorted(unknown)} or baseline {BASELINE} missing")

    venv = ensure_dbt_venv(args.rebuild_venv)
    log(f"dbt virtualenv: {'cached' if venv['cached'] else 'created'} ({venv['seconds']:.0f}s to create)")

    scratch = Path(tempfile.mkdtemp(prefix="bcdc-dbt-modes-"))
    log(f"scratch folder {scratch}")
    (scratch / "dags").mkdir()
    (scratch / "warehouse").mkdir()
    pristine, warehouse = scratch / "warehouse" / "pristine.duckdb", scratch / "warehouse" / "warehouse.duckdb"
    began = time.perf_counter()
    fixture = synthesize(seed=7, customers=args.customers, events=args.events)
    loaded = load_bronze(pristine, fixture, parts=(0.0, 1.0))
    log(f"bronze fixture: {loaded['rows_loaded']:,} rows loaded in {time.perf_counter() - began:.1f}s")

    dbt = str(VENV / "bin" / "dbt")
    for name in variants:
        text = DAG_TEMPLATE.format(
            name=name,
            project=str(DBT_PROJECT),
            dag_id=f"bench_{name}",
            execution=VARIANTS[name].format(dbt=dbt),
            after=AFTER.get(name, ""),
        )
        (scratch / "dags" / f"bench_{name}.py").write_text(text)

    airflow = scratch_airflow(scratch, warehouse)
    airflow.migrate()
    runs: list[Run] = []
    try:
        # reference: `airflow dags test` of the LOCAL variants, before any scheduler runs
        for _ in range(args.test_runs):
            for name in (n for n in variants if not n.startswith("watcher")):
                reset_warehouse(pristine, warehouse)
                runs.append(run_dags_test(airflow, name))
        airflow.start()
        airflow.wait_until_ready([f"bench_{name}" for name in variants])
        log("Airflow ready: Execution API up, scheduler/triggerer/DAG processor running, variants parsed")
        for number in range(1, args.runs + 1):
            for name in variants:
                reset_warehouse(pristine, warehouse)
                runs.append(run_scheduled(airflow, name, number))
        airflow.stop()
        log("components stopped")
        if args.preload == "both":
            runs += preload_runs(scratch, warehouse, pristine, variants, args.runs)
    finally:
        airflow.stop()
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    report(runs, venv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
