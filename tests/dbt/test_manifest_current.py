"""The committed dbt manifest (what the Cosmos DAG renders) matches the dbt project: CI fails when stale."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_committed_manifest_is_current() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "dev" / "dbt_manifest.py"), "--check"], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr + result.stdout
