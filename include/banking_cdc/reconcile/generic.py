"""Generic reconciliation: every captured table against its generic silver model, exact.

For each table of ``capture.yaml`` the source's live rows are compared with ``silver.current_<table>`` (rows not
flagged deleted): the row count, the current row of every key (a hash of all the table's columns, key by key) and
the sum of every numeric column, to the last digit. Both sides are read in Python and each value is brought to
one canonical form first (decimals by exact value, points in time in UTC, JSON with sorted keys, uuids as text,
bytes as base64), so the comparison does not depend on either database's text formats.

Keys held at their last good state because their newest events were rejected (open rows of ``silver.rejects``,
banking_dbt ``macros/rejects.sql``) are left out of every comparison and listed as ``rejected_keys``: a reject is
reported as a reject, with its own count and keys, not as an unexplained difference.

Strict only: without a change time on the source side there is no way to leave out rows changed in the last
minutes, so in grace mode these checks are reported as not run. Keys and counts only reach the report.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any
from uuid import UUID

from banking_cdc.capture.catalog import SourceColumn
from banking_cdc.capture.config import CaptureConfig
from banking_cdc.reconcile.report import CheckResult
from banking_cdc.transform.current_models import MODEL

#: decode kinds whose columns are summed
SUMMED_KINDS = frozenset({"integer", "decimal"})


def canonical(value: Any) -> Any:
    """One form per value, whichever database it came from (see the module)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value else "0"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return str(value)


def column_value(column: SourceColumn, value: Any) -> Any:
    """A column's canonical value: JSON parsed from its text, unconstrained decimals from theirs, as stored."""
    if isinstance(value, str) and column.kind in ("json", "json_array"):
        try:
            return canonical(json.loads(value))
        except ValueError:
            return value
    if isinstance(value, str) and column.kind == "decimal_text":
        return canonical(Decimal(value))
    return canonical(value)


def compared_columns(catalog: Sequence[SourceColumn], table: str) -> list[SourceColumn]:
    """The columns of ``table`` that are compared: all but ``raw`` kinds (no common form; named in the note)."""
    return [c for c in catalog if c.table == table and c.kind != "raw"]


@dataclass
class TableState:
    """
    One side of a table: each key's row hash, the row count and the sums of its numeric columns.

    :param hashes: Key (canonical values) -> hash of the row's canonical values.
    :param sums: Numeric column -> exact sum over the rows.
    """

    hashes: dict[tuple[Any, ...], str]
    sums: dict[str, Decimal]


def key_columns(columns: Sequence[SourceColumn]) -> list[SourceColumn]:
    """The key columns in key order."""
    return sorted((c for c in columns if c.key_position), key=lambda c: c.key_position or 0)


def key_from_text(columns: Sequence[SourceColumn], key_text: str) -> tuple[Any, ...] | None:
    """
    The canonical key of a rejected event from its ``key_text`` (the key's JSON texts joined by ``|``), or ``None``
    when it names no possible key (a key value that is itself not valid: no source row has it).
    """
    keys = key_columns(columns)
    parts = key_text.split("|")
    if len(parts) != len(keys):
        return None
    values: list[Any] = []
    try:
        for column, text in zip(keys, parts, strict=True):
            if text == "~null~":
                return None
            if column.kind == "integer":
                values.append(column_value(column, int(text)))
            elif column.kind in ("decimal", "decimal_text"):
                values.append(column_value(column, Decimal(text)))
            elif column.kind == "uuid":
                values.append(column_value(column, UUID(text)))
            else:
                values.append(column_value(column, text))
    except (ValueError, ArithmeticError):
        return None
    return tuple(values)


def table_state(
    rows: Iterable[Mapping[str, Any]],
    columns: Sequence[SourceColumn],
    exclude: frozenset[tuple[Any, ...]] = frozenset(),
) -> TableState:
    """
    Fold rows (dicts keyed by lower-case column name) into a :class:`TableState` of ``columns``.

    :param exclude: Canonical keys left out (rejected keys).
    """
    keys = [c.name for c in key_columns(columns)]
    summed = [c.name for c in columns if c.kind in SUMMED_KINDS]
    hashes: dict[tuple[Any, ...], str] = {}
    sums = dict.fromkeys(summed, Decimal(0))
    for row in rows:
        values = {c.name: column_value(c, row[c.name]) for c in columns}
        if exclude and tuple(values[k] for k in keys) in exclude:
            continue
        digest = hashlib.sha256(json.dumps([values[c.name] for c in columns]).encode("utf-8")).hexdigest()
        hashes[tuple(values[k] for k in keys)] = digest
        for name in summed:
            if row[name] is not None:
                sums[name] += Decimal(row[name])
    return TableState(hashes, sums)


def compare_table(
    table: str, source: TableState, silver: TableState, rejected: frozenset[tuple[Any, ...]] = frozenset()
) -> list[CheckResult]:
    """The checks of one table: row count, current rows key by key, numeric sums; then the rejected keys (listed)."""
    model = MODEL.format(table=table)
    keys = source.hashes.keys() | silver.hashes.keys()

    def named(key: tuple[Any, ...]) -> str:
        return "/".join(map(str, key))

    results = [
        CheckResult.figures(
            "row_count",
            model,
            len(source.hashes),
            len(silver.hashes),
            note="live source rows vs silver rows not flagged deleted",
            examples=[named(k) for k in keys if (k in source.hashes) != (k in silver.hashes)],
        ),
        CheckResult.key_by_key(
            "current_rows",
            model,
            len(keys),
            [named(k) for k in keys if source.hashes.get(k) != silver.hashes.get(k)],
            note="every column of each key's current row (hash of canonical values)",
        ),
    ]
    for column, total in source.sums.items():
        results.append(
            CheckResult.figures(
                "numeric_sum",
                model,
                total,
                silver.sums.get(column, Decimal(0)),
                scope=column,
                note=f"exact sum of {column}",
            )
        )
    results.append(
        CheckResult.listed(
            "rejected_keys",
            model,
            sorted(named(k) for k in rejected),
            note="keys held at their last good state by rejected values (silver.rejects): left out of the checks above",
        )
    )
    return results


def source_rows(cur: Any, capture: CaptureConfig, table: str) -> list[dict[str, Any]]:
    """The live rows of a captured table (a cursor on the source database)."""
    cur.execute(f"SELECT * FROM {capture.source.qualified(table)}")
    names = [d[0].lower() for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def rejected_keys(warehouse: Any, table: str, columns: Sequence[SourceColumn]) -> frozenset[tuple[Any, ...]]:
    """
    The canonical keys of ``table`` held at their last good state: open rejects of its generic model (a rejected
    event not superseded by a newer good event of its key, and not acknowledged). Empty before any reject.
    """
    from banking_cdc.warehouse.base import MissingRelationError

    model = MODEL.format(table=table)
    relation, rejects = f"silver.{model}", "silver.rejects"
    if warehouse.dialect == "snowflake":
        relation, rejects = relation.upper(), rejects.upper()
    sql = (
        f"SELECT DISTINCT r.key_text FROM {rejects} AS r WHERE r.model = ? AND r.acknowledged_at IS NULL "
        f"AND NOT EXISTS (SELECT 1 FROM {relation} AS s WHERE s._key = r.key_hash AND s._source_lsn > r.source_lsn)"
    )
    try:
        records = warehouse.query_records(sql, [model])
    except MissingRelationError:
        return frozenset()
    texts = [next(iter(record.values())) for record in records]
    return frozenset(key for key in (key_from_text(columns, t) for t in texts if t is not None) if key is not None)


def silver_rows(warehouse: Any, table: str, columns: Sequence[SourceColumn]) -> list[dict[str, Any]]:
    """The rows of ``silver.current_<table>`` not flagged deleted, keyed by lower-case column name."""
    names = ", ".join(warehouse.identifier(c.name) if warehouse.dialect == "snowflake" else f'"{c.name}"'
                      for c in columns)  # fmt: skip
    relation = f"silver.{MODEL.format(table=table)}"
    if warehouse.dialect == "snowflake":
        relation = relation.upper()
    return warehouse.query_records(f"SELECT {names} FROM {relation} WHERE NOT is_deleted")


def generic_checks(capture: CaptureConfig, source_conn: Any, warehouse: Any) -> list[CheckResult]:
    """
    The checks of every captured table: its source rows against ``silver.current_<table>``.

    :param capture: The capture configuration (which tables).
    :param source_conn: An open DB-API connection to the source database.
    :param warehouse: An open :class:`~banking_cdc.warehouse.base.Warehouse`.
    """
    from banking_cdc.capture.catalog import read_catalog
    from banking_cdc.warehouse.base import MissingRelationError

    results: list[CheckResult] = []
    with source_conn.cursor() as cur:
        catalog = read_catalog(cur, capture)
        for table in capture.source.tables:
            columns = compared_columns(catalog, table)
            rejected = rejected_keys(warehouse, table, columns)
            source = table_state(source_rows(cur, capture, table), columns, rejected)
            try:
                silver = table_state(silver_rows(warehouse, table, columns), columns, rejected)
            except MissingRelationError:
                results.append(
                    CheckResult.figures(
                        "row_count",
                        MODEL.format(table=table),
                        len(source.hashes),
                        0,
                        note="the generic silver model does not exist (make dbt-manifest, then a dbt run)",
                    )
                )
                continue
            results.extend(compare_table(table, source, silver, rejected))
    return results
