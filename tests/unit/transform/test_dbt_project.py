"""Cosmos configuration of banking_dbt: target from the environment, profile per warehouse, pool on DuckDB."""

from __future__ import annotations

from pathlib import Path

import pytest

from banking_cdc.transform.dbt_project import DUCKDB_POOL, WAREHOUSE_ENV, cosmos_configs, dbt_target
from banking_cdc.warehouse.switch import WarehouseConfigError

PROJECT = Path(__file__).resolve().parents[3] / "banking_dbt"


def test_target_defaults_to_duckdb(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(WAREHOUSE_ENV, raising=False)
    assert dbt_target() == "duckdb"


def test_target_follows_the_variable_environment_form(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(WAREHOUSE_ENV, " Snowflake ")
    assert dbt_target() == "snowflake"


def test_a_bad_target_names_the_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(WAREHOUSE_ENV, "bigquery")
    with pytest.raises(WarehouseConfigError, match=WAREHOUSE_ENV):
        dbt_target()


def test_duckdb_configs_render_from_the_manifest_through_the_pool() -> None:
    from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior

    configs = cosmos_configs(PROJECT, target="duckdb")
    assert str(configs["project_config"].manifest_path) == str(PROJECT / "manifest.json")
    assert configs["render_config"].load_method == LoadMode.DBT_MANIFEST
    assert configs["render_config"].test_behavior == TestBehavior.AFTER_EACH
    assert configs["render_config"].should_detach_multiple_parents_tests is True
    assert configs["execution_config"].execution_mode == ExecutionMode.LOCAL
    assert configs["execution_config"].invocation_mode == InvocationMode.DBT_RUNNER
    assert configs["profile_config"].target_name == "duckdb"
    assert configs["profile_config"].profile_mapping.conn_id == "duckdb_default"
    assert configs["operator_args"]["pool"] == DUCKDB_POOL


def test_snowflake_configs_use_the_snowflake_connection_and_no_duckdb_pool() -> None:
    configs = cosmos_configs(PROJECT, target="snowflake")
    assert configs["profile_config"].target_name == "snowflake"
    assert configs["profile_config"].profile_mapping.conn_id == "snowflake_default"
    assert "pool" not in configs["operator_args"]


def test_every_dbt_task_of_a_run_gets_the_runs_start_as_its_bronze_cut() -> None:
    from datetime import UTC, datetime
    from types import SimpleNamespace

    import jinja2

    variables = cosmos_configs(PROJECT, target="duckdb")["operator_args"]["vars"]
    assert variables["referential_grace_minutes"] == 5 and variables["balance_check_grace_minutes"] == 5
    started = datetime(2026, 11, 26, 20, 9, 22, 198542, tzinfo=UTC)
    template = jinja2.Environment().from_string(variables["bronze_cut"])
    assert template.render(dag_run=SimpleNamespace(start_date=started)) == "2026-11-26T20:09:22.198542+00:00"
    assert template.render(dag_run=SimpleNamespace(start_date=None)) == ""
