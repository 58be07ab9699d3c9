"""The native stack's Airflow environment (`.state/airflow.env`, written by `dev/stack up`)."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STATE = Path(os.environ.get("BCDC_STATE_DIR", ROOT / ".state"))
ENV_FILE = STATE / "airflow.env"


def load_stack_env(env_file: Path = ENV_FILE) -> None:
    """Export the ``export KEY='value'`` lines of the stack's env file (before anything imports Airflow)."""
    if not env_file.exists():
        return
    for line in env_file.read_text().splitlines():
        if not line.startswith("export "):
            continue
        key, _, value = line[len("export ") :].partition("=")
        os.environ[key] = shlex.split(value)[0] if value else ""
