"""Cosmos configuration of the banking_dbt project, shared by the transform DAG, tests and benchmarks.

The DAG file stays thin: it passes the project folder and gets Cosmos' project, profile, render and
execution configs from here. Nothing here touches the network or the metadata database, so it is safe
at DAG parse time; the warehouse target comes from the environment variable that also sets the
``warehouse_backend`` Airflow Variable (``AIRFLOW_VAR_WAREHOUSE_BACKEND``), so one setting moves loads
and transforms together.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from banking_cdc.settings import (
    DBT_PROJECT_NAME,
    DUCKDB_CONN_ID,
    DUCKDB_POOL,
    SNOWFLAKE_CONN_ID,
    WAREHOUSE_ENV,
    dbt_project_dir,
)
from banking_cdc.warehouse.switch import dbt_target

__all__ = ["AIRFLOW_DBT_VARS", "DUCKDB_POOL", "WAREHOUSE_ENV", "cosmos_configs", "dbt_target", "gold_models"]

#: the committed, reduced manifest Cosmos renders from (regenerate: make dbt-manifest)
MANIFEST_NAME = "manifest.json"
#: the schema of the gold models (dbt_project.yml, models/marts)
GOLD_SCHEMA = "gold"
#: dbt vars of Airflow runs: the balance test ignores accounts changed in the last minutes, and the
#: referential tests rows loaded in the last minutes (in flight: topics load independently)
AIRFLOW_DBT_VARS: dict[str, Any] = {"balance_check_grace_minutes": 5, "referential_grace_minutes": 5}
#: dbt var of the per-node transform DAG: silver reads only bronze rows loaded before the DAG run started.
#: Loads slip into the writer pool between two dbt tasks of a run; without one cut per run, stg_accounts
#: and stg_transactions (built a few tasks apart) would see different loads and the run's tests would
#: compare the two states (a transaction without its account, a balance without its postings).
BRONZE_CUT_VAR: dict[str, Any] = {"bronze_cut": "{{ dag_run.start_date.isoformat() if dag_run.start_date else '' }}"}


def gold_models(project_dir: str | Path | None = None) -> tuple[str, ...]:
    """
    The gold models (schema ``gold``), sorted, from the committed manifest: the one list monitoring and the
    demo read, so a new mart is watched without another edit.

    :param project_dir: Folder of the dbt project; ``None`` uses :func:`banking_cdc.settings.dbt_project_dir`.
    """
    return models_in_schema(GOLD_SCHEMA, project_dir)


def checked_silver_models(project_dir: str | Path | None = None) -> tuple[str, ...]:
    """
    The silver models that check values and reject what does not fit (the banking staging models and the generic
    ``current_<table>`` models), sorted, from the committed manifest.

    :param project_dir: Folder of the dbt project; ``None`` uses :func:`banking_cdc.settings.dbt_project_dir`.
    """
    return tuple(name for name in models_in_schema("silver", project_dir) if name.startswith(("stg_", "current_")))


def models_in_schema(schema: str, project_dir: str | Path | None = None) -> tuple[str, ...]:
    """The models of the committed manifest built in ``schema``, sorted."""
    manifest = json.loads((Path(project_dir or dbt_project_dir()) / MANIFEST_NAME).read_text(encoding="utf-8"))
    return tuple(
        sorted(
            node["name"]
            for node in manifest["nodes"].values()
            if node.get("resource_type") == "model" and node.get("config", {}).get("schema") == schema
        )
    )


def cosmos_configs(project_dir: str | Path | None = None, target: str | None = None) -> dict[str, Any]:
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

    :param project_dir: Folder of the dbt project (holds dbt_project.yml and manifest.json); ``None`` finds it
        (:func:`banking_cdc.settings.dbt_project_dir`, never from a DAG file's own path).
    :param target: ``duckdb`` or ``snowflake``; ``None`` follows :func:`dbt_target`.
    """
    from cosmos import ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
    from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior

    project_dir = Path(project_dir) if project_dir else dbt_project_dir()
    target = target or dbt_target()
    if target == "snowflake":
        from cosmos.profiles import SnowflakeUserPasswordProfileMapping

        mapping: Any = SnowflakeUserPasswordProfileMapping(conn_id=SNOWFLAKE_CONN_ID)
    else:
        from cosmos.profiles import DuckDBUserPasswordProfileMapping

        mapping = DuckDBUserPasswordProfileMapping(conn_id=DUCKDB_CONN_ID)
    operator_args: dict[str, Any] = {"install_deps": False, "vars": {**AIRFLOW_DBT_VARS, **BRONZE_CUT_VAR}}
    if target == "duckdb":
        operator_args["pool"] = DUCKDB_POOL
    return {
        "project_config": ProjectConfig(
            dbt_project_path=project_dir,
            manifest_path=project_dir / MANIFEST_NAME,
            project_name=DBT_PROJECT_NAME,
        ),
        "profile_config": ProfileConfig(profile_name=DBT_PROJECT_NAME, target_name=target, profile_mapping=mapping),
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
