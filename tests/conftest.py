"""Test session setup: the native stack's Airflow environment, and fixtures that need real services.

The environment comes from ``.state/airflow.env``, written by ``dev/stack up``. Integration tests
never skip: a service that is down fails them with the name of the service.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.stack_env import ENV_FILE, ROOT, STATE, load_stack_env

load_stack_env(ENV_FILE)
os.environ.setdefault("AIRFLOW_HOME", str(STATE / "airflow"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(ROOT / "dags"))
os.environ.setdefault("AIRFLOW__COSMOS__ENABLE_TELEMETRY", "False")
Path(os.environ["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)


@pytest.fixture(scope="session")
def stack() -> Iterator[dict[str, str]]:
    """The running native stack; fails (never skips) when a service is down."""
    if not ENV_FILE.exists():
        pytest.fail(f"the native stack was never started ({ENV_FILE} missing): run `make stack-up`")
    result = subprocess.run([sys.executable, str(ROOT / "dev" / "stack.py"), "status"], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.fail(f"a service of the native stack is down or unhealthy:\n{result.stdout}{result.stderr}")
    yield {"status": result.stdout}


@pytest.fixture(scope="session")
def airflow_db(stack: dict[str, str]) -> Path:
    """An initialised Airflow metadata database (SQLite under the state folder)."""
    result = subprocess.run(
        [str(Path(sys.executable).parent / "airflow"), "db", "migrate"], capture_output=True, text=True
    )
    if result.returncode != 0:
        pytest.fail(f"airflow db migrate failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    # the pools of airflow_settings.yaml (a scheduler needs them; `dags test` ignores pools)
    airflow = str(Path(sys.executable).parent / "airflow")
    pool = ["pools", "set", "duckdb_writer", "1", "DuckDB allows one writer"]
    subprocess.run([airflow, *pool], capture_output=True, check=True)
    return Path(os.environ["AIRFLOW_HOME"])


@pytest.fixture(scope="session")
def capture_ready(stack: dict[str, str]) -> dict[str, object]:
    """Source schema, change topics and the Debezium connector in place (the operators are idempotent)."""
    from banking_cdc.operators.capture import (
        ApplySourceSchemaOperator,
        EnsureDebeziumConnectorOperator,
        EnsureKafkaTopicsOperator,
    )

    context: dict[str, object] = {}
    return {
        "schema": ApplySourceSchemaOperator(task_id="schema").execute(context),  # type: ignore[arg-type]
        "topics": EnsureKafkaTopicsOperator(task_id="topics").execute(context),  # type: ignore[arg-type]
        "connector": EnsureDebeziumConnectorOperator(task_id="connector").execute(context),  # type: ignore[arg-type]
    }


@pytest.fixture
def user_source(stack: dict[str, str], tmp_path: Path) -> Iterator[Any]:
    """A source schema of the test's own with a capture configuration and connector for it (removed afterwards)."""
    from tests.support.user_source import UserSource

    source = UserSource(tmp_path)
    try:
        yield source
    finally:
        source.close()
