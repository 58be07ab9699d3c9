"""What the readers hand to the comparison: normalised, backend-independent states of source and gold.

Values are normalised so that both sides compare with ``==``: points in time as UTC-aware datetimes,
money as :class:`~decimal.Decimal` (never a float), UUIDs as text. Raw PII never enters a snapshot:
the source reader converts it to gold's hashed and masked forms first.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

#: attribute values of one key, by gold column name
Row = dict[str, Any]


def normalise(value: Any) -> Any:
    """Return ``value`` in its comparable form; floats are refused (money must never be a float)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise TypeError(f"naive datetime {value!r}: every point in time must carry its zone")
        return value.astimezone(UTC)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, float):
        raise TypeError(f"float {value!r}: money and counts must be exact (Decimal / int)")
    if isinstance(value, Decimal | int | str | date) or value is None:
        return value
    raise TypeError(f"unsupported value type {type(value).__name__}")


@dataclass
class SourceTable:
    """
    The live rows of one source table.

    :param rows: Key -> compared attributes (gold column names), plus the figures some checks need
        (``balance`` for accounts).
    :param changed_at: Key -> when the row last changed (database clock), for the grace window.
    """

    rows: dict[int, Row] = field(default_factory=dict)
    changed_at: dict[int, datetime] = field(default_factory=dict)


@dataclass
class SourceSnapshot:
    """
    The source database at one moment.

    :param taken_at: The database's clock when it was read (the reference of the grace window).
    :param tables: Source table name -> its live rows.
    """

    taken_at: datetime
    tables: dict[str, SourceTable]


@dataclass(frozen=True)
class KeyVersions:
    """
    The SCD2 versions of one key in a gold dimension.

    :param versions: Rows (versions) of the key.
    :param current_rows: Rows flagged ``is_current``.
    :param last_is_deleted: Whether the latest version is a deletion version.
    """

    versions: int
    current_rows: int
    last_is_deleted: bool


@dataclass
class GoldTable:
    """
    The gold state of one source table.

    :param current: Key -> its current gold rows (dimension: ``is_current`` versions; fact: the row when
        not deleted). A list, so that a duplicated current row is seen.
    :param closed: Keys gold holds only as closed / deleted (no current row).
    :param versions: Dimension key -> its versions (empty for facts).
    :param tracked_changes: Key -> tracked changes seen in bronze (consecutive distinct states of the
        tracked columns and the delete flag, in commit order); dimensions only.
    :param deleted_at: Key -> commit time of its newest delete event in bronze.
    """

    current: dict[int, list[Row]] = field(default_factory=dict)
    closed: set[int] = field(default_factory=set)
    versions: dict[int, KeyVersions] = field(default_factory=dict)
    tracked_changes: dict[int, int] = field(default_factory=dict)
    deleted_at: dict[int, datetime] = field(default_factory=dict)


@dataclass
class GoldSnapshot:
    """
    The warehouse's gold layer (plus the bronze facts the SCD2 and grace rules need).

    :param tables: Source table name -> its gold state.
    :param balances: Account -> closing balance of its latest day in ``fct_daily_account_balances``.
    :param activity: (UTC booking day, transaction type) -> the ``fct_daily_activity`` figures.
    """

    tables: dict[str, GoldTable]
    balances: dict[int, Decimal] = field(default_factory=dict)
    activity: dict[tuple[date, str], Row] = field(default_factory=dict)
