"""The report: text table, JSON with exact money, failure summary; the CLI's exit codes; the operator."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from banking_cdc.reconcile import cli
from banking_cdc.reconcile.gold import ReconcileSourceError, ReconcileUnsupportedError, gold_reader
from banking_cdc.reconcile.report import CheckResult, ReconciliationReport

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def report(*results: CheckResult) -> ReconciliationReport:
    return ReconciliationReport(mode="strict", grace_minutes=0, source_taken_at=NOW, warehouse="duckdb",
                                results=list(results))  # fmt: skip


OK = CheckResult("row_count", "dim_customers", 3, 3, 0, True)
MONEY = CheckResult("amount_sum", "fct_transactions", Decimal("10.00"), Decimal("9.99"), Decimal("0.01"), False,
                    scope="status=posted direction=credit", note="sum of amount, exact")  # fmt: skip
KEYS = CheckResult("deleted_keys_closed", "dim_customers", 2, 1, 1, False, examples=("7",))


def test_json_keeps_money_as_exact_decimal_strings() -> None:
    data = json.loads(report(OK, MONEY).to_json())
    assert data["verdict"] == "differences" and data["ok"] is False and data["failed"] == 1
    [money] = [r for r in data["results"] if r["check"] == "amount_sum"]
    assert (money["source_value"], money["gold_value"], money["difference"]) == ("10.00", "9.99", "0.01")
    assert data["results"][0]["source_value"] == 3


def test_text_table_names_each_failing_check_and_example_keys() -> None:
    text = report(OK, MONEY, KEYS).render()
    assert "DIFF amount_sum[fct_transactions status=posted direction=credit]" in text
    assert "DIFF deleted_keys_closed[dim_customers]: example keys: 7" in text
    assert text.splitlines()[-1] == "verdict: 2 of 3 checks differ"
    assert report(OK).render().splitlines()[-1] == "verdict: reconciled"


def test_failure_summary_lists_every_failing_check() -> None:
    summary = report(OK, MONEY, KEYS).failure_summary()
    assert "amount_sum[fct_transactions status=posted direction=credit]: difference 0.01" in summary
    assert "deleted_keys_closed[dim_customers]: difference 1" in summary
    assert "row_count" not in summary


@pytest.fixture
def fake_run(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    calls: dict[str, Any] = {"result": report(OK)}

    def run(reader: Any, options: Any, postgres_conn_id: str) -> ReconciliationReport:
        calls.update(reader=reader, options=options, conn=postgres_conn_id)
        if isinstance(calls["result"], Exception):
            raise calls["result"]
        return calls["result"]

    monkeypatch.setattr("banking_cdc.reconcile.runner.run_reconciliation", run)
    return calls


def test_cli_exits_0_when_reconciled(fake_run: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--warehouse", "duckdb"]) == 0
    assert "verdict: reconciled" in capsys.readouterr().out
    assert fake_run["options"].strict and fake_run["conn"] == "postgres_source"


def test_cli_exits_1_on_a_difference_with_json(fake_run: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    fake_run["result"] = report(OK, MONEY)
    assert cli.main(["--json", "--grace-minutes", "5", "--warehouse", "duckdb"]) == 1
    assert json.loads(capsys.readouterr().out)["failed"] == 1
    assert fake_run["options"].grace_minutes == 5


def test_cli_exits_2_naming_a_connection_error(fake_run: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    fake_run["result"] = ReconcileSourceError("cannot connect to the source database (connection 'postgres_source')")
    assert cli.main(["--warehouse", "duckdb"]) == 2
    assert "postgres_source" in capsys.readouterr().err


def test_cli_exits_2_on_usage_errors(fake_run: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--grace-minutes", "-3", "--warehouse", "duckdb"]) == 2
    assert "grace_minutes" in capsys.readouterr().err
    assert cli.main(["--no-such-flag"]) == 2


def test_both_warehouses_have_a_gold_reader_and_an_unknown_one_is_named() -> None:
    from unittest import mock

    with mock.patch("banking_cdc.warehouse.switch.open_warehouse") as opened:
        assert gold_reader("snowflake").backend == "snowflake" and gold_reader("duckdb").backend == "duckdb"
    opened.assert_not_called()  # nothing is read before read()
    with pytest.raises(ReconcileUnsupportedError, match="unknown warehouse backend 'bigquery'"):
        gold_reader("bigquery")


def test_gold_sql_is_spelled_for_each_warehouse() -> None:
    from banking_cdc.reconcile.gold import Dialect, deletes_sql, tracked_changes_sql
    from banking_cdc.reconcile.spec import ACCOUNTS

    snowflake = Dialect("snowflake", "BANK_DB.BRONZE")
    sql = tracked_changes_sql(ACCOUNTS, snowflake)
    assert "FROM BANK_DB.BRONZE.accounts" in sql and "CAST(image:account_id::VARCHAR AS BIGINT)" in sql
    assert "COUNT_IF(previous IS NULL OR previous <> state)" in sql and "->>" not in sql
    duck = tracked_changes_sql(ACCOUNTS)
    assert "FROM bronze.accounts" in duck and "CAST(image ->> 'account_id' AS BIGINT)" in duck
    assert "count(*) FILTER (WHERE previous IS NULL OR previous <> state)" in duck
    assert "before_json:account_id::VARCHAR" in deletes_sql(ACCOUNTS, snowflake)
    assert snowflake.value_at_max("is_deleted", "valid_from") == "MAX_BY(is_deleted, valid_from)"


def test_operator_fails_without_retry_listing_the_failing_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    from banking_cdc.operators.reconcile import ReconcileOperator

    monkeypatch.setattr("banking_cdc.reconcile.runner.run_reconciliation", lambda *a, **k: report(OK, MONEY, KEYS))
    operator = ReconcileOperator(task_id="reconcile", grace_minutes="5", warehouse_backend="duckdb")
    with pytest.raises(AirflowFailException) as failure:
        operator.execute(context={})  # type: ignore[arg-type]
    message = str(failure.value)
    assert "2 of 3 checks" in message
    assert "amount_sum[fct_transactions" in message and "deleted_keys_closed[dim_customers]" in message


def test_operator_returns_the_report_when_reconciled(monkeypatch: pytest.MonkeyPatch) -> None:
    from banking_cdc.operators.reconcile import ReconcileOperator

    monkeypatch.setattr("banking_cdc.reconcile.runner.run_reconciliation", lambda *a, **k: report(OK))
    result = ReconcileOperator(task_id="reconcile", warehouse_backend="duckdb").execute(context={})  # type: ignore[arg-type]
    assert result["verdict"] == "reconciled"


def test_operator_refuses_a_bad_grace_param() -> None:
    from banking_cdc.operators.reconcile import ReconcileOperator
    from banking_cdc.reconcile.checks import ReconcileConfigError

    with pytest.raises(ReconcileConfigError, match="grace_minutes"):
        ReconcileOperator(task_id="reconcile", grace_minutes="soon").options()
