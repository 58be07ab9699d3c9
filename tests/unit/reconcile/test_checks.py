"""The comparison logic on fake source and gold snapshots: each check detects its kind of difference."""

from __future__ import annotations

import copy
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from banking_cdc.reconcile import pii
from banking_cdc.reconcile.checks import ReconcileConfigError, ReconcileOptions, reconcile
from banking_cdc.reconcile.report import ReconciliationReport
from banking_cdc.reconcile.snapshot import GoldSnapshot, GoldTable, KeyVersions, SourceSnapshot, normalise
from banking_cdc.reconcile.source import snapshot_from_rows
from banking_cdc.reconcile.spec import DIMENSIONS, TABLES

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
OLD = NOW - timedelta(hours=2)
ROOT = Path(__file__).resolve().parents[3]


def source_rows() -> dict[str, list[dict[str, object]]]:
    """Two customers, two accounts, four live transactions; everything changed two hours ago."""
    customers = [
        {"customer_id": i, "customer_ref": f"00000000-0000-0000-0000-00000000000{i}", "first_name": name,
         "last_name": "Doe", "email": f" {name}@Example.org", "phone": "+32 470 123456",
         "date_of_birth": date(1990, 1, i), "city": "Gent", "country_code": "BE", "tier": "standard",
         "kyc_status": "verified",
         "created_at": OLD, "updated_at": OLD}
        for i, name in ((1, "Ann"), (2, "Bob"))
    ]  # fmt: skip
    accounts = [
        {"account_id": 10 + i, "customer_id": i, "iban": f"BE7100000000000{i}", "account_type": "checking",
         "currency": "EUR", "status": "active", "balance": balance, "opened_at": OLD, "closed_at": None,
         "created_at": OLD, "updated_at": OLD}
        for i, balance in ((1, Decimal("100.10")), (2, Decimal("0.00")))
    ]  # fmt: skip
    tx = [
        (100, 11, "deposit", "credit", "150.10", "posted"),
        (101, 11, "withdrawal", "debit", "50.00", "posted"),
        (102, 12, "deposit", "credit", "20.00", "pending"),
        (103, 12, "withdrawal", "debit", "5.55", "cancelled"),
    ]
    transactions = [
        {"transaction_id": k, "account_id": a, "txn_type": t, "direction": d, "amount": Decimal(m), "status": s,
         "transfer_id": None, "reverses_transaction_id": None, "booked_at": OLD,
         "posted_at": OLD if s == "posted" else None, "created_at": OLD, "updated_at": OLD}
        for k, a, t, d, m, s in tx
    ]  # fmt: skip
    return {"customers": customers, "accounts": accounts, "transactions": transactions}


def consistent_gold(source: SourceSnapshot) -> GoldSnapshot:
    """Gold exactly as the pipeline would build it from ``source``, plus one deleted customer and transaction."""
    tables = {}
    for spec in TABLES:
        table = GoldTable()
        for key, row in source.tables[spec.table].rows.items():
            table.current[key] = [{column: row[column] for column in spec.compared}]
            if spec.is_dimension:
                table.versions[key] = KeyVersions(versions=2, current_rows=1, last_is_deleted=False)
                table.tracked_changes[key] = 3
        tables[spec.table] = table
    # customer 3 was erased at the source: gold keeps its closed versions
    tables["customers"].versions[3] = KeyVersions(versions=2, current_rows=0, last_is_deleted=True)
    tables["customers"].closed.add(3)
    tables["customers"].tracked_changes[3] = 2
    tables["customers"].deleted_at[3] = OLD
    # transaction 104 (cancelled) was deleted at the source: gold keeps it flagged is_deleted
    tables["transactions"].closed.add(104)
    tables["transactions"].deleted_at[104] = OLD
    balances = {11: Decimal("100.10")}
    activity = {
        (OLD.date(), "deposit"): {"transaction_count": 2, "posted_count": 1, "pending_count": 1, "cancelled_count": 0,
                                  "posted_amount": Decimal("150.10"), "posted_net_amount": Decimal("150.10"),
                                  "active_accounts": 2},
        (OLD.date(), "withdrawal"): {"transaction_count": 2, "posted_count": 1, "pending_count": 0,
                                     "cancelled_count": 1, "posted_amount": Decimal("50.00"),
                                     "posted_net_amount": Decimal("-50.00"), "active_accounts": 2},
    }  # fmt: skip
    return GoldSnapshot(tables=tables, balances=balances, activity=activity)


@pytest.fixture
def source() -> SourceSnapshot:
    return snapshot_from_rows(NOW, source_rows())


@pytest.fixture
def gold(source: SourceSnapshot) -> GoldSnapshot:
    return consistent_gold(source)


def failing(report: ReconciliationReport) -> set[tuple[str, str]]:
    return {(r.check, r.table) for r in report.failures}


def test_consistent_gold_reconciles_in_strict_mode(source: SourceSnapshot, gold: GoldSnapshot) -> None:
    report = reconcile(source, gold, ReconcileOptions())
    assert report.ok, report.render()
    checks = {(r.check, r.table) for r in report.results}
    for dimension in ("dim_customers", "dim_accounts"):
        for check in ("row_count", "current_rows", "scd2_versions", "deleted_keys_closed"):
            assert (check, dimension) in checks
    for check in ("row_count", "fact_rows", "deleted_keys_closed", "amount_sum"):
        assert (check, "fct_transactions") in checks
    assert ("balance_total", "fct_daily_account_balances") in checks
    assert ("daily_activity", "fct_daily_activity") in checks


def test_money_is_exact_to_the_cent(source: SourceSnapshot, gold: GoldSnapshot) -> None:
    gold.tables["transactions"].current[100][0]["amount"] += Decimal("0.01")
    report = reconcile(source, gold, ReconcileOptions())
    [amount] = [r for r in report.failures if r.check == "amount_sum" and r.table == "fct_transactions"]
    assert amount.scope == "status=posted direction=credit"
    assert amount.difference == Decimal("-0.01") and isinstance(amount.difference, Decimal)
    assert ("fact_rows", "fct_transactions") in failing(report)


def test_floats_are_refused_as_values() -> None:
    with pytest.raises(TypeError, match="float"):
        normalise(0.1)


def test_row_count_detects_a_missing_fact_row(source: SourceSnapshot, gold: GoldSnapshot) -> None:
    del gold.tables["transactions"].current[101]
    report = reconcile(source, gold, ReconcileOptions())
    [count] = [r for r in report.failures if r.check == "row_count"]
    assert (count.table, count.source_value, count.gold_value, count.difference) == ("fct_transactions", 4, 3, 1)
    assert count.examples == ("101",)
    assert ("fact_rows", "fct_transactions") in failing(report)


def test_current_rows_detects_a_changed_tracked_attribute(source: SourceSnapshot, gold: GoldSnapshot) -> None:
    gold.tables["accounts"].current[12][0]["status"] = "frozen"
    report = reconcile(source, gold, ReconcileOptions())
    assert failing(report) == {("current_rows", "dim_accounts")}
    [result] = report.failures
    assert result.examples == ("12",) and "status (1)" in result.note


def test_current_rows_detects_a_duplicated_current_row(source: SourceSnapshot, gold: GoldSnapshot) -> None:
    gold.tables["customers"].current[1].append(dict(gold.tables["customers"].current[1][0]))
    report = reconcile(source, gold, ReconcileOptions())
    assert failing(report) == {("row_count", "dim_customers"), ("current_rows", "dim_customers")}
    assert "several current rows" in next(r for r in report.failures if r.check == "current_rows").note


def test_pii_is_compared_as_gold_hashes_and_never_reported(source: SourceSnapshot, gold: GoldSnapshot) -> None:
    row = source.tables["customers"].rows[1]
    assert row["email_hash"] == pii.hash_pii("ann@example.org") and "email" not in row
    assert row["first_name_masked"] == "A***" and "first_name" not in row
    gold.tables["customers"].current[1][0]["email_hash"] = pii.hash_pii("other@example.org")
    report = reconcile(source, gold, ReconcileOptions())
    assert failing(report) == {("current_rows", "dim_customers")}
    assert "example.org" not in report.to_json() and "Ann" not in report.render()


def test_scd2_versions_may_not_exceed_tracked_changes(source: SourceSnapshot, gold: GoldSnapshot) -> None:
    gold.tables["accounts"].versions[11] = KeyVersions(versions=4, current_rows=1, last_is_deleted=False)
    report = reconcile(source, gold, ReconcileOptions())
    assert failing(report) == {("scd2_versions", "dim_accounts")}
    assert report.failures[0].examples == ("11",)


def test_scd2_versions_fewer_than_changes_is_the_documented_collapse(
    source: SourceSnapshot, gold: GoldSnapshot
) -> None:
    gold.tables["accounts"].tracked_changes[11] = 9  # several changes between two dbt runs: one version
    assert reconcile(source, gold, ReconcileOptions()).ok


def test_scd2_versions_needs_a_version_for_a_key_changed_in_bronze(source: SourceSnapshot, gold: GoldSnapshot) -> None:
    gold.tables["customers"].tracked_changes[4] = 2  # inserted and deleted, but gold never saw it
    report = reconcile(source, gold, ReconcileOptions())
    assert failing(report) == {("scd2_versions", "dim_customers")}
    assert "without a version" in report.failures[0].note


def test_deleted_key_reopened_in_gold_is_detected(source: SourceSnapshot, gold: GoldSnapshot) -> None:
    customers = gold.tables["customers"]
    customers.current[3] = [dict(customers.current[1][0])]
    customers.closed.discard(3)
    report = reconcile(source, gold, ReconcileOptions())
    assert ("deleted_keys_closed", "dim_customers") in failing(report)
    closed = next(r for r in report.failures if r.check == "deleted_keys_closed")
    assert (closed.source_value, closed.difference, closed.examples) == (1, 1, ("3",))


def test_deleted_fact_not_flagged_is_detected(source: SourceSnapshot, gold: GoldSnapshot) -> None:
    transactions = gold.tables["transactions"]
    transactions.closed.discard(104)
    transactions.current[104] = [dict(transactions.current[103][0])]
    report = reconcile(source, gold, ReconcileOptions())
    assert {("deleted_keys_closed", "fct_transactions"), ("row_count", "fct_transactions")} <= failing(report)


def test_balances_per_account_and_total(source: SourceSnapshot, gold: GoldSnapshot) -> None:
    gold.balances[12] = Decimal("0.01")
    report = reconcile(source, gold, ReconcileOptions())
    assert failing(report) == {("balance_total", "fct_daily_account_balances"),
                               ("balance_per_account", "fct_daily_account_balances")}  # fmt: skip
    total = next(r for r in report.failures if r.check == "balance_total")
    assert total.difference == Decimal("-0.01")


def test_daily_activity_detects_a_wrong_count(source: SourceSnapshot, gold: GoldSnapshot) -> None:
    gold.activity[(OLD.date(), "deposit")]["pending_count"] = 0
    report = reconcile(source, gold, ReconcileOptions())
    assert failing(report) == {("daily_activity", "fct_daily_activity")}
    assert report.failures[0].examples == (f"{OLD.date().isoformat()}/deposit",)


def test_grace_leaves_out_recent_changes_and_strict_does_not(source: SourceSnapshot, gold: GoldSnapshot) -> None:
    # a withdrawal posted a minute ago at the source; gold has not seen it yet
    rows = source_rows()
    recent = NOW - timedelta(minutes=1)
    rows["transactions"].append(dict(rows["transactions"][1], transaction_id=105, amount=Decimal("0.10"),
                                     created_at=recent, updated_at=recent))  # fmt: skip
    rows["accounts"][0].update(balance=Decimal("100.00"), updated_at=recent)
    moving = snapshot_from_rows(NOW, rows)
    strict = reconcile(moving, gold, ReconcileOptions())
    assert {("row_count", "fct_transactions"), ("balance_total", "fct_daily_account_balances")} <= failing(strict)
    graced = reconcile(moving, gold, ReconcileOptions(grace_minutes=5))
    assert graced.ok, graced.render()
    assert graced.in_flight == {"customers": 0, "accounts": 1, "transactions": 1}


def test_grace_still_reports_old_differences(source: SourceSnapshot, gold: GoldSnapshot) -> None:
    gold.tables["accounts"].current[12][0]["status"] = "frozen"
    report = reconcile(source, gold, ReconcileOptions(grace_minutes=5))
    assert failing(report) == {("current_rows", "dim_accounts")}


def test_grace_waits_for_a_delete_not_yet_in_bronze(source: SourceSnapshot, gold: GoldSnapshot) -> None:
    # customer 2 deleted at the source seconds ago: bronze has no delete yet, gold still shows it current
    rows = source_rows()
    rows["customers"].pop(1)
    rows["accounts"].pop(1)
    rows["transactions"] = [t for t in rows["transactions"] if t["account_id"] != 12]
    moving = snapshot_from_rows(NOW, rows)
    assert not reconcile(moving, copy.deepcopy(gold), ReconcileOptions()).ok
    graced = reconcile(moving, gold, ReconcileOptions(grace_minutes=5))
    assert graced.ok, graced.render()
    # once bronze holds the delete and it is older than the window, gold must have closed the key
    gold.tables["customers"].deleted_at[2] = OLD
    late = reconcile(moving, gold, ReconcileOptions(grace_minutes=5))
    assert ("deleted_keys_closed", "dim_customers") in failing(late)


@pytest.mark.parametrize("grace", [-1, True, "5"])
def test_options_refuse_a_bad_grace(grace: object) -> None:
    with pytest.raises(ReconcileConfigError, match="grace_minutes"):
        ReconcileOptions(grace_minutes=grace)  # type: ignore[arg-type]


@pytest.mark.parametrize("spec", DIMENSIONS, ids=lambda s: s.table)
def test_tracked_columns_equal_the_staging_models(spec: object) -> None:
    sql = (ROOT / "banking_dbt" / "macros" / "banking_tables.sql").read_text()
    table = re.search(rf"'{spec.table}': \{{(.*?)\n        \}},", sql, re.S)  # type: ignore[attr-defined]
    assert table, f"{spec.table} not found in macros/banking_tables.sql"  # type: ignore[attr-defined]
    match = re.search(r"'tracked': \[(.*?)\]", table[1], re.S)
    assert match, "'tracked': [...] not found in the table's entry"
    assert tuple(re.findall(r"'(\w+)'", match[1])) == spec.tracked  # type: ignore[attr-defined]
