"""Benchmark: what checking every value costs silver (issue "Poison-proof").

A seeded bronze fixture (``--events`` source transactions, about 2 bronze rows each, with the source catalog) is
loaded once; then the silver models (the three banking staging models and the three generic ``current_*``
models) are built from all of bronze (``--full-refresh``: every row decoded) on copies of that warehouse by two
copies of the dbt project, alternately, ``--rounds`` times each:

- **checked**: the project as it is (``value_problem`` on every value, the ``record_rejects`` pre-hook);
- **baseline**: the same project with ``value_problem`` returning NULL and no pre-hook: the decode alone.

Printed: dbt's own run time of the models (``run_results.json``) per round, the medians and the ratio
checked / baseline. No services needed.

    .venv/bin/python tests/benchmarks/value_checks.py --events 200000 --customers 1000 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

BIN = Path(sys.executable).parent
SILVER = ("staging", "current")


def baseline_project(project: Path) -> None:
    """Turn the value checks of a project copy off: every value passes, no rejects are recorded."""
    macros = project / "macros" / "value_checks.sql"
    text = macros.read_text()
    start = text.index("{% macro value_problem(column, index) -%}")
    end = text.index("{%- endmacro %}", start)
    macros.write_text(
        text[:start] + "{% macro value_problem(column, index) -%}\n    cast(null as varchar)\n" + text[end:]
    )
    settings = project / "dbt_project.yml"
    settings.write_text(re.sub(r"      \+pre-hook:\n(        - .*\n)+", "", settings.read_text()))


def build(project: Path, database: Path, work: Path) -> float:
    """Full-refresh build of the silver models on ``database``; dbt's own run time of the models (s)."""
    target = work / f"target-{project.name}"
    subprocess.run(
        [str(BIN / "dbt"), "run", "--select", *SILVER, "--full-refresh", "--project-dir", str(project),
         "--profiles-dir", str(project), "--target", "duckdb", "--target-path", str(target),
         "--log-path", str(work / "logs"), "--quiet"],
        check=True, env={**os.environ, "BCDC_DUCKDB_PATH": str(database)},
    )  # fmt: skip
    results = json.loads((target / "run_results.json").read_text())
    return float(sum(r["execution_time"] for r in results["results"]))


def main() -> None:
    from tests.dbt.bronze_fixture import load_bronze, synthesize

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--customers", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bcdc-value-checks-") as tmp:
        work = Path(tmp)
        began = time.monotonic()
        fixture = synthesize(seed=3, customers=args.customers, events=args.events)
        source = work / "fixture.duckdb"
        loaded = load_bronze(source, fixture)
        print(f"fixture: {sum(loaded.values()):,} bronze rows in {time.monotonic() - began:.0f} s", flush=True)
        projects = {}
        for name in ("checked", "baseline"):
            projects[name] = work / name / "banking_dbt"
            shutil.copytree(ROOT / "banking_dbt", projects[name], ignore=shutil.ignore_patterns("target", "logs"))
        baseline_project(projects["baseline"])
        times: dict[str, list[float]] = {"checked": [], "baseline": []}
        for round_number in range(1, args.rounds + 1):
            for name in ("baseline", "checked") if round_number % 2 else ("checked", "baseline"):
                database = work / f"{name}-{round_number}.duckdb"
                shutil.copyfile(source, database)
                seconds = build(projects[name], database, work)
                times[name].append(seconds)
                database.unlink()
                print(f"round {round_number} {name}: {seconds:.2f} s (dbt run time of the silver models)", flush=True)
        checked, baseline = statistics.median(times["checked"]), statistics.median(times["baseline"])
        print(f"median checked {checked:.2f} s, baseline {baseline:.2f} s: ratio {checked / baseline:.2f}")


if __name__ == "__main__":
    main()
