"""The source catalog of the captured tables: every column's PostgreSQL type, and how its Debezium value decodes.

Debezium's JSON (without schemas) does not say a column's type: a date is a number of days, a ``numeric`` its
decimal text, a ``timestamp`` microseconds. The generic silver models type each column from this catalog, which
the bronze load keeps in the warehouse (``bronze.source_columns``, :mod:`banking_cdc.warehouse.source_columns`).

:func:`read_catalog` reads the columns of the captured tables; :func:`decode_kind` classifies each PostgreSQL type
into the *kind* the dbt macros decode (``integer``, ``decimal``, ``text``, ``timestamptz``, ...); :func:`compare`
tells a schema change apart: a column added or dropped, a type widened (followed), or narrowed / changed
incompatibly (a problem: the table's generic model then fails naming the column, never casting silently).
The kinds assume the connector's defaults for time and binary values (``time.precision.mode: adaptive``,
``binary.handling.mode: bytes``) and ``decimal.handling.mode: string``, which capture.yaml enforces.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from banking_cdc.capture.config import CaptureConfig

#: integer types and their widths (a wider one holds every value of a narrower)
_INTEGER_BITS = {"int2": 16, "int4": 32, "int8": 64}
_TEXT_TYPES = frozenset({"text", "varchar", "bpchar", "citext", "name"})
#: the largest decimal precision both warehouses hold exactly (DuckDB and Snowflake: 38 digits)
MAX_DECIMAL_PRECISION = 38

_CATALOG_SQL = """
SELECT c.relname, a.attname, a.attnum, format_type(a.atttypid, a.atttypmod), t.typname, t.typtype,
       t.typcategory, CASE WHEN a.atttypmod >= 0 THEN a.atttypmod END, NOT a.attnotnull,
       (SELECT k.position FROM pg_index i
        JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, position) ON true
        WHERE i.indrelid = c.oid AND i.indisprimary AND k.attnum = a.attnum)
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_type t ON t.oid = a.atttypid
WHERE n.nspname = %s AND c.relname = ANY(%s) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY c.relname, a.attnum
"""


@dataclass(frozen=True)
class SourceColumn:
    """
    One column of a captured table.

    :param table: The table (unqualified).
    :param name: The column.
    :param ordinal: Its position in the table.
    :param pg_type: PostgreSQL's spelling of its type (``numeric(20,6)``, ``integer[]``).
    :param kind: How its Debezium value decodes (see :func:`decode_kind`).
    :param precision: Decimal precision, integer bits or time precision; ``None`` when not applicable.
    :param scale: Decimal scale; ``None`` when not applicable.
    :param nullable: Whether it may be null.
    :param key_position: Its position in the table's key (primary key or declared key columns); ``None`` if
        not a key column.
    """

    table: str
    name: str
    ordinal: int
    pg_type: str
    kind: str
    precision: int | None
    scale: int | None
    nullable: bool
    key_position: int | None


def decode_kind(typname: str, typtype: str, typcategory: str, typmod: int | None) -> tuple[str, int | None, int | None]:
    """
    The kind of a PostgreSQL type's Debezium value, with its precision and scale.

    Kinds: ``integer`` (precision = bits), ``decimal`` (precision, scale), ``decimal_text`` (a ``numeric``
    without precision, or wider than 38 digits: kept as its exact text), ``float``, ``boolean``, ``text``,
    ``uuid``, ``date`` (days since 1970), ``timestamptz`` (ISO text), ``timestamp`` (precision 0-3:
    milliseconds, 4-6: microseconds since 1970), ``time`` (likewise since midnight), ``json`` (json, jsonb: its
    text), ``json_array`` (arrays), ``bytes`` (base64 text), ``raw`` (any other type: its JSON value as text).
    """
    if typcategory == "A":
        return "json_array", None, None
    if typtype == "e":
        return "text", None, None
    if typname in _INTEGER_BITS:
        return "integer", _INTEGER_BITS[typname], None
    if typname == "numeric":
        if typmod is None:
            return "decimal_text", None, None
        precision, scale = ((typmod - 4) >> 16) & 0xFFFF, (typmod - 4) & 0xFFFF
        if precision > MAX_DECIMAL_PRECISION:
            return "decimal_text", precision, scale
        return "decimal", precision, scale
    if typname == "money":
        return "decimal", 19, 2
    if typname in ("float4", "float8"):
        return "float", None, None
    if typname == "bool":
        return "boolean", None, None
    if typname in _TEXT_TYPES:
        return "text", None, None
    if typname == "uuid":
        return "uuid", None, None
    if typname == "date":
        return "date", None, None
    if typname == "timestamptz":
        return "timestamptz", None, None
    if typname in ("timestamp", "time"):
        return typname, 6 if typmod is None else typmod, None
    if typname in ("json", "jsonb"):
        return "json", None, None
    if typname == "bytea":
        return "bytes", None, None
    return "raw", None, None


def read_catalog(cur: Any, capture: CaptureConfig) -> list[SourceColumn]:
    """
    The columns of every captured table present in the source (absent tables are the setup's concern).

    :param cur: A cursor on the source database.
    :param capture: The capture configuration (schema, tables, declared key columns).
    """
    source = capture.source
    cur.execute(_CATALOG_SQL, (source.schema, list(source.tables)))
    columns = []
    for table, name, ordinal, pg_type, typname, typtype, category, typmod, nullable, pk_position in cur.fetchall():
        kind, precision, scale = decode_kind(typname, typtype, category, typmod)
        declared = source.key_columns.get(table)
        key_position = (declared.index(name) + 1 if name in declared else None) if declared else pk_position
        columns.append(
            SourceColumn(table, name, int(ordinal), pg_type, kind, precision, scale, bool(nullable), key_position)
        )
    return columns


@dataclass(frozen=True)
class CatalogChange:
    """
    A difference between the stored catalog and the source.

    :param table: The table.
    :param column: The column.
    :param change: ``added``, ``dropped``, ``widened`` or ``narrowed`` (a narrowing or incompatible change).
    :param before: The stored type (``None`` for an added column).
    :param after: The source's type (``None`` for a dropped column).
    """

    table: str
    column: str
    change: str
    before: str | None
    after: str | None

    def __str__(self) -> str:
        if self.change == "added":
            return f"{self.table}.{self.column} added ({self.after})"
        if self.change == "dropped":
            return f"{self.table}.{self.column} dropped (was {self.before}; null from now on)"
        return f"{self.table}.{self.column} {self.change} from {self.before} to {self.after}"


def widens(old: SourceColumn, new: SourceColumn) -> bool:
    """Whether every value of ``old``'s type is a value of ``new``'s, decoded the same way."""
    if old.kind == new.kind == "integer":
        return (new.precision or 0) >= (old.precision or 0)
    if old.kind == "decimal" and new.kind == "decimal":
        old_p, old_s, new_p, new_s = old.precision or 0, old.scale or 0, new.precision or 0, new.scale or 0
        return new_s >= old_s and new_p - new_s >= old_p - old_s
    if old.kind in ("integer", "decimal") and new.kind == "decimal_text":
        return True
    if old.kind == "integer" and new.kind == "decimal":
        return (new.precision or 0) - (new.scale or 0) >= len(str(2 ** ((old.precision or 64) - 1)))
    return old.kind == new.kind and old.kind in ("text", "json", "raw", "bytes", "decimal_text", "json_array")


def compare(stored: Iterable[SourceColumn], current: Sequence[SourceColumn]) -> list[CatalogChange]:
    """
    The schema changes from ``stored`` to ``current``, ordered by table and column position. Only tables in both
    count: a table catalogued for the first time has no changes, and a table missing from the source is the
    setup's and monitoring's concern.
    """
    before = {(c.table, c.name): c for c in stored}
    now = {(c.table, c.name): c for c in current}
    tables = {c.table for c in current}
    known = {c.table for c in stored}
    changes = []
    for key, column in now.items():
        old = before.get(key)
        if column.table not in known:
            continue  # a table catalogued for the first time: its columns are not changes
        if old is None:
            changes.append(CatalogChange(column.table, column.name, "added", None, column.pg_type))
        elif (old.pg_type, old.kind, old.precision, old.scale) != (
            column.pg_type, column.kind, column.precision, column.scale,
        ):  # fmt: skip
            change = "widened" if widens(old, column) else "narrowed"
            changes.append(CatalogChange(column.table, column.name, change, old.pg_type, column.pg_type))
    for key, old in before.items():
        if key not in now and old.table in tables:
            changes.append(CatalogChange(old.table, old.name, "dropped", old.pg_type, None))
    order = {key: (c.table, c.ordinal) for key, c in {**before, **now}.items()}
    return sorted(changes, key=lambda change: order[(change.table, change.column)])
