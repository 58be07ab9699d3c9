"""Warehouse selection: the Airflow Variable ``warehouse_backend``, read at run time only."""

from __future__ import annotations

import subprocess
import sys
from unittest import mock

import pytest

from banking_cdc.warehouse.switch import WarehouseConfigError, warehouse_backend


@pytest.fixture(autouse=True)
def _no_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_VAR_WAREHOUSE_BACKEND", raising=False)


def test_duckdb_when_nothing_is_configured() -> None:
    with mock.patch("airflow.sdk.Variable.get", side_effect=lambda key, default: default) as get:
        assert warehouse_backend() == "duckdb"
    get.assert_called_once_with("warehouse_backend", default=None)


def test_a_variable_only_the_loaders_would_see_is_refused_naming_both_settings() -> None:
    # set in the UI (metadata database): the dbt DAG, rendered at parse time, would stay on DuckDB
    with mock.patch("airflow.sdk.Variable.get", return_value="snowflake"):
        with pytest.raises(WarehouseConfigError, match=r"set to 'snowflake' outside the environment.*"
                                                       r"AIRFLOW_VAR_WAREHOUSE_BACKEND"):  # fmt: skip
            warehouse_backend()


def test_a_stored_variable_naming_the_default_changes_nothing() -> None:
    # e.g. an older airflow_settings.yaml that set warehouse_backend=duckdb: loads and dbt agree, nothing to refuse
    with mock.patch("airflow.sdk.Variable.get", return_value=" DuckDB "):
        assert warehouse_backend() == "duckdb"


def test_dbt_and_the_loaders_follow_the_same_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    from banking_cdc.transfers.s3_to_warehouse import S3ToWarehouseBronzeOperator
    from banking_cdc.warehouse.switch import dbt_target

    operator = S3ToWarehouseBronzeOperator(task_id="load", bucket_name="b")
    for value in ("snowflake", "duckdb"):
        monkeypatch.setenv("AIRFLOW_VAR_WAREHOUSE_BACKEND", value)
        with mock.patch("airflow.sdk.Variable.get", side_effect=AssertionError("the environment decides")):
            assert dbt_target() == operator.backend == value


@pytest.mark.parametrize(("value", "expected"), [("snowflake", "snowflake"), (" Snowflake\n", "snowflake"),
                                                 ("DUCKDB", "duckdb")])  # fmt: skip
def test_the_variable_chooses(monkeypatch: pytest.MonkeyPatch, value: str, expected: str) -> None:
    monkeypatch.setenv("AIRFLOW_VAR_WAREHOUSE_BACKEND", value)
    assert warehouse_backend() == expected


def test_a_bad_variable_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_VAR_WAREHOUSE_BACKEND", "bigquery")
    with pytest.raises(WarehouseConfigError, match="Airflow Variable 'warehouse_backend' must be one of duckdb, "
                                                   "snowflake, got 'bigquery'"):  # fmt: skip
        warehouse_backend()


def test_an_explicit_choice_skips_the_variable() -> None:
    with mock.patch("airflow.sdk.Variable.get") as get:
        assert warehouse_backend("snowflake") == "snowflake"
        assert warehouse_backend("DuckDB") == "duckdb"
        with pytest.raises(WarehouseConfigError, match="argument explicit must be one of"):
            warehouse_backend("postgres")
    get.assert_not_called()


def test_nothing_is_read_at_import_time() -> None:
    # a fresh interpreter: importing the module (as a DAG file would) must not touch the Variable
    code = (
        "from unittest import mock\n"
        "with mock.patch('airflow.sdk.Variable.get', side_effect=AssertionError('read at import')) as get:\n"
        "    import banking_cdc.warehouse.switch\n"
        "assert not get.called\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
