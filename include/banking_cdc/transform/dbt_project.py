"""Cosmos configuration of the banking_dbt project, shared by the transform DAG, tests and benchmarks.

The DAG file stays thin: it passes the project folder and gets Cosmos' project, profile, render and
execution configs from here. Nothing here touches the network or the metadata database, so it is safe
at DAG parse time; the warehouse target comes from the environment variable that also sets the
``warehouse_backend`` Airflow Variable (``AIRFLOW_VAR_WAREHOUSE_BACKEND``), so one setting moves loads
and transforms together.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from banking_cdc.warehouse.switch import DEFAULT_WAREHOUSE_BACKEND, WarehouseConfigError, warehouse_backend

#: the committed, reduced manifest Cosmos renders from (regenerate: make dbt-manifest)
MANIFEST_NAME = "manifest.json"
#: environment variable form of the ``warehouse_backend`` Airflow Variable
WAREHOUSE_ENV = "AIRFLOW_VAR_WAREHOUSE_BACKEND"
#: one-slot pool shared by every task that writes the DuckDB warehouse
DUCKDB_POOL = "duckdb_writer"
#: dbt vars of Airflow runs: the balance test ignores accounts changed in the last minutes, and the
#: referential tests rows loaded in the last minutes (in flight: topics load independently)
AIRFLOW_DBT_VARS: dict[str, Any] = {"balance_check_grace_minutes": 5, "referential_grace_minutes": 5}
#: dbt var of the per-node transform DAG: silver reads only bronze rows loaded before the DAG run started.
#: Loads slip into the writer pool between two dbt tasks of a run; without one cut per run, stg_accounts
#: and stg_transactions (built a few tasks apart) would see different loads and the run's tests would
#: compare the two states (a transaction without its account, a balance without its postings).
BRONZE_CUT_VAR: dict[str, Any] = {"bronze_cut": "{{ dag_run.start_date.isoformat() if dag_run.start_date else '' }}"}


def dbt_target() -> str:
    """The dbt target (``duckdb`` or ``snowflake``) named by ``AIRFLOW_VAR_WAREHOUSE_BACKEND``; DuckDB if unset."""
    value = os.environ.get(WAREHOUSE_ENV, DEFAULT_WAREHOUSE_BACKEND)
    try:
        return warehouse_backend(explicit=value)
    except WarehouseConfigError as exc:
        raise WarehouseConfigError(f"environment variable {WAREHOUSE_ENV}: {exc}") from exc


def cosmos_configs(project_dir: str | Path, target: str | None = None) -> dict[str, Any]:
    """
    Keyword arguments for ``cosmos.DbtDag`` / ``DbtTaskGroup`` rendering banking_dbt task by task.

    - rendered from the committed manifest (``LoadMode.DBT_MANIFEST``): no dbt call at parse time;
    - one task per model, snapshot and seed, each model followed by its own test task
      (``TestBehavior.AFTER_EACH``); tests with several parents detached into their own task after all
      of them (``should_detach_multiple_parents_tests``);
    - dbt runs inside the Airflow environment through dbt's Python API (``InvocationMode.DBT_RUNNER``),
      see docs/BENCHMARKS.md for the measured choice;
    - the profile is built from the Airflow connection ``duckdb_default`` (path in ``host``) or
      ``snowflake_default``; no credentials in the project;
    - per-node retries come from ``meta.cosmos.operator_kwargs`` in dbt_project.yml.

    :param project_dir: Folder of the dbt project (holds dbt_project.yml and manifest.json).
    :param target: ``duckdb`` or ``snowflake``; ``None`` follows :func:`dbt_target`.
    """
    from cosmos import ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
    from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior

    project_dir = Path(project_dir)
    target = target or dbt_target()
    if target == "snowflake":
        from cosmos.profiles import SnowflakeUserPasswordProfileMapping

        mapping: Any = SnowflakeUserPasswordProfileMapping(conn_id="snowflake_default")
    else:
        from cosmos.profiles import DuckDBUserPasswordProfileMapping

        mapping = DuckDBUserPasswordProfileMapping(conn_id="duckdb_default")
    operator_args: dict[str, Any] = {"install_deps": False, "vars": {**AIRFLOW_DBT_VARS, **BRONZE_CUT_VAR}}
    if target == "duckdb":
        operator_args["pool"] = DUCKDB_POOL
    return {
        "project_config": ProjectConfig(
            dbt_project_path=project_dir,
            manifest_path=project_dir / MANIFEST_NAME,
            project_name="banking_dbt",
        ),
        "profile_config": ProfileConfig(profile_name="banking_dbt", target_name=target, profile_mapping=mapping),
        "render_config": RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            test_behavior=TestBehavior.AFTER_EACH,
            should_detach_multiple_parents_tests=True,
        ),
        "execution_config": ExecutionConfig(
            execution_mode=ExecutionMode.LOCAL,
            invocation_mode=InvocationMode.DBT_RUNNER,
        ),
        "operator_args": operator_args,
    }
