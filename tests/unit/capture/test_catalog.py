"""The source catalog: PostgreSQL types to decode kinds, and schema changes told apart."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from banking_cdc.capture.catalog import SourceColumn, compare, decode_kind
from banking_cdc.warehouse.source_columns import next_rows

T0 = datetime(2026, 12, 1, tzinfo=UTC)
T1 = datetime(2026, 12, 5, tzinfo=UTC)


def numeric_typmod(precision: int, scale: int) -> int:
    return ((precision << 16) | scale) + 4


@pytest.mark.parametrize(
    ("typname", "typtype", "category", "typmod", "expected"),
    [
        ("int4", "b", "N", None, ("integer", 32, None)),
        ("int8", "b", "N", None, ("integer", 64, None)),
        ("numeric", "b", "N", numeric_typmod(20, 6), ("decimal", 20, 6)),
        ("numeric", "b", "N", None, ("decimal_text", None, None)),
        ("numeric", "b", "N", numeric_typmod(60, 10), ("decimal_text", 60, 10)),
        ("timestamptz", "b", "D", None, ("timestamptz", None, None)),
        ("timestamp", "b", "D", 3, ("timestamp", 3, None)),
        ("timestamp", "b", "D", None, ("timestamp", 6, None)),
        ("date", "b", "D", None, ("date", None, None)),
        ("varchar", "b", "S", 44, ("text", None, None)),
        ("uuid", "b", "U", None, ("uuid", None, None)),
        ("jsonb", "b", "U", None, ("json", None, None)),
        ("_int4", "b", "A", None, ("json_array", None, None)),
        ("bool", "b", "B", None, ("boolean", None, None)),
        ("mood", "e", "E", None, ("text", None, None)),
        ("interval", "b", "T", None, ("raw", None, None)),
    ],
)
def test_decode_kinds(typname: str, typtype: str, category: str, typmod: int | None, expected: tuple) -> None:
    assert decode_kind(typname, typtype, category, typmod) == expected


def column(name: str, pg_type: str, kind: str, precision: int | None = None, scale: int | None = None) -> SourceColumn:
    return SourceColumn("ledger", name, 1, pg_type, kind, precision, scale, True, None)


AMOUNT = column("amount", "numeric(12,2)", "decimal", 12, 2)


@pytest.mark.parametrize(
    ("after", "change"),
    [
        (column("amount", "numeric(14,2)", "decimal", 14, 2), "widened"),
        (column("amount", "numeric(14,4)", "decimal", 14, 4), "widened"),
        (column("amount", "numeric", "decimal_text"), "widened"),
        (column("amount", "numeric(10,2)", "decimal", 10, 2), "narrowed"),
        (column("amount", "numeric(12,4)", "decimal", 12, 4), "narrowed"),  # two integer digits fewer
        (column("amount", "numeric(12,1)", "decimal", 12, 1), "narrowed"),
        (column("amount", "text", "text"), "narrowed"),
    ],
)
def test_type_changes_are_widenings_or_not(after: SourceColumn, change: str) -> None:
    (found,) = compare([AMOUNT], [after])
    assert (found.change, found.before, found.after) == (change, "numeric(12,2)", after.pg_type)


def test_added_and_dropped_columns() -> None:
    note = column("note", "text", "text")
    changes = compare([AMOUNT, note], [AMOUNT, column("memo", "text", "text")])
    assert [(c.column, c.change) for c in changes] == [("memo", "added"), ("note", "dropped")]
    assert str(changes[1]) == "ledger.note dropped (was text; null from now on)"
    # a table absent from the source, or catalogued for the first time, has no schema change
    other = SourceColumn("other", "id", 1, "bigint", "integer", 64, None, False, 1)
    assert compare([AMOUNT, other], [AMOUNT]) == []
    assert compare([AMOUNT], [AMOUNT, other]) == []


def test_catalog_rows_keep_dropped_columns_and_record_problems_without_applying_them() -> None:
    tables, _ = next_rows([], [AMOUNT, column("note", "text", "text")], T0)
    stored = tables["ledger"]
    assert {row["changed_at"] for row in stored} == {T0}
    assert next_rows(stored, [AMOUNT, column("note", "text", "text")], T1) == ({}, [])  # nothing changed

    narrowed = column("amount", "numeric(10,2)", "decimal", 10, 2)
    tables, changes = next_rows(stored, [narrowed], T1)
    rows = {row["column_name"]: row for row in tables["ledger"]}
    assert rows["amount"]["pg_type"] == "numeric(12,2)" and rows["amount"]["precision"] == 12  # not applied
    assert rows["amount"]["problem"] == "ledger.amount narrowed from numeric(12,2) to numeric(10,2)"
    assert rows["note"]["dropped_at"] == T1 and rows["note"]["changed_at"] == T1
    assert [c.change for c in changes] == ["narrowed", "dropped"]

    # the source widens again: the problem clears and the type is followed
    tables, _ = next_rows(tables["ledger"], [column("amount", "numeric(16,2)", "decimal", 16, 2)], T1)
    rows = {row["column_name"]: row for row in tables["ledger"]}
    assert rows["amount"]["problem"] is None and rows["amount"]["pg_type"] == "numeric(16,2)"
    assert rows["note"]["dropped_at"] == T1  # still kept
