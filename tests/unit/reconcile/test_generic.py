"""Generic reconciliation: canonical values, per-key row hashes and exact numeric sums."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from uuid import UUID

from banking_cdc.capture.catalog import SourceColumn
from banking_cdc.reconcile.generic import canonical, compare_table, compared_columns, table_state


def col(name: str, kind: str, key: int | None = None) -> SourceColumn:
    return SourceColumn("ledger", name, 1, kind, kind, None, None, key is None, key)


COLUMNS = [col("book_id", "integer", 1), col("entry_no", "integer", 2), col("amount", "decimal"),
           col("at", "timestamptz"), col("ref", "uuid"), col("attrs", "json"), col("tags", "json_array")]  # fmt: skip
WHEN = datetime(2026, 12, 5, 9, 30, tzinfo=UTC)


def source_row(**changes: object) -> dict[str, object]:
    row = {"book_id": 1, "entry_no": 7, "amount": Decimal("10.50"), "at": WHEN,
           "ref": "8f14e45f-ceea-167a-5a36-dedd4bea2543", "attrs": {"b": 1, "a": [1, 2]}, "tags": [7, 8]}  # fmt: skip
    return {**row, **changes}


def silver_row(**changes: object) -> dict[str, object]:
    # the same row as a warehouse returns it: another zone, a UUID object, JSON text, a wider decimal scale
    row = {"book_id": 1, "entry_no": 7, "amount": Decimal("10.500000"),
           "at": WHEN.astimezone(timezone(timedelta(hours=2))), "ref": UUID("8f14e45f-ceea-167a-5a36-dedd4bea2543"),
           "attrs": '{"a": [1, 2], "b": 1}', "tags": "[7,8]"}  # fmt: skip
    return {**row, **changes}


def test_canonical_forms_do_not_depend_on_the_database() -> None:
    assert canonical(Decimal("10.50")) == canonical(Decimal("10.500000")) == "10.5"
    assert canonical(Decimal("100")) == "100" and canonical(Decimal("0.000")) == "0"
    assert canonical(WHEN) == canonical(WHEN.astimezone(timezone(timedelta(hours=-5))))
    assert canonical(memoryview(b"\x00\x01")) == "AAE="


def test_the_same_rows_reconcile() -> None:
    results = compare_table("ledger", table_state([source_row()], COLUMNS), table_state([silver_row()], COLUMNS))
    assert [(r.check, r.scope, r.ok) for r in results] == [
        ("row_count", "", True), ("current_rows", "", True), ("numeric_sum", "book_id", True),
        ("numeric_sum", "entry_no", True), ("numeric_sum", "amount", True), ("rejected_keys", "", True),
    ]  # fmt: skip
    assert results[0].table == "current_ledger"


def test_a_cent_a_json_value_or_a_missing_key_differs() -> None:
    source = table_state([source_row(), source_row(entry_no=8)], COLUMNS)
    silver = table_state([silver_row(amount=Decimal("10.510000")), silver_row(entry_no=9)], COLUMNS)
    by = {(r.check, r.scope): r for r in compare_table("ledger", source, silver)}
    assert not by[("current_rows", "")].ok and set(by[("current_rows", "")].examples) == {"1/7", "1/8", "1/9"}
    assert by[("numeric_sum", "amount")].difference == Decimal("-0.01")
    assert by[("row_count", "")].ok  # two rows each, but not the same keys
    json_only = table_state([silver_row(attrs='{"a": [1, 2], "b": 2}')], COLUMNS)
    assert not compare_table("ledger", table_state([source_row()], COLUMNS), json_only)[1].ok


def test_raw_kinds_are_left_out_of_the_comparison() -> None:
    catalog = [*COLUMNS, col("span", "raw")]
    assert [c.name for c in compared_columns(catalog, "ledger")] == [c.name for c in COLUMNS]


def test_rejected_keys_are_listed_as_rejects_not_as_differences() -> None:
    from banking_cdc.reconcile.generic import key_from_text

    held = key_from_text(COLUMNS, "1|7")
    assert held == (1, 7)
    assert key_from_text(COLUMNS, "seven|7") is None and key_from_text(COLUMNS, "~null~|7") is None
    assert key_from_text(COLUMNS, "1") is None
    # the source moved on (a value silver could not hold); silver keeps the last good state of the key
    source = table_state([source_row(amount=Decimal("10.505")), source_row(entry_no=8)], COLUMNS, frozenset({held}))
    silver = table_state([silver_row(), silver_row(entry_no=8)], COLUMNS, frozenset({held}))
    results = compare_table("ledger", source, silver, frozenset({held}))
    assert all(r.ok for r in results), [r for r in results if not r.ok]
    listed = results[-1]
    assert (listed.check, listed.source_value, listed.examples) == ("rejected_keys", 1, ("1/7",))
    # without the reject the same states differ, in the row and in the sum
    unexplained = compare_table(
        "ledger", table_state([source_row(amount=Decimal("10.505"))], COLUMNS), table_state([silver_row()], COLUMNS)
    )
    assert {r.check for r in unexplained if not r.ok} == {"current_rows", "numeric_sum"}
