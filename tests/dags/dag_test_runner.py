"""Run a DAG with `airflow dags test` against the native stack and check that the run succeeded."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path


def run_dag_test(dag_id: str, *args: str, timeout: float = 600) -> str:
    """Run ``airflow dags test <dag_id>``; assert exit 0 and a successful DagRun; return the output."""
    result = subprocess.run(
        [str(Path(sys.executable).parent / "airflow"), "dags", "test", dag_id, *args],
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert re.search(rf"DagRun Finished: dag_id={dag_id}.*state=success", output), output[-4000:]
    return output
