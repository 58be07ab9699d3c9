"""Configuration of the workload generator: one validated dataclass shared by the CLI and the operator.

Every error names the command-line argument at fault (``--rate must be > 0, got -5``), so the same
message reads well from ``python -m banking_cdc.generator`` and from the Airflow operator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from banking_cdc.exceptions import BankingCdcError

#: where the simulated business clock starts in a fresh database
DEFAULT_START_TIME = datetime(2026, 1, 1, tzinfo=UTC)
#: the Airflow connection to the source database
DEFAULT_CONN_ID = "postgres_source"
#: bulk mode: accounts opened by every customer, unless given
DEFAULT_ACCOUNTS_PER_CUSTOMER = 2
#: bulk mode: posted transaction rows per account, unless ``transactions`` is given
DEFAULT_TRANSACTIONS_PER_ACCOUNT = 10
#: bulk mode: about this many rows are generated, copied and committed together
DEFAULT_CHUNK_ROWS = 50_000


class GeneratorConfigError(BankingCdcError):
    """An argument of the workload generator is invalid; the message names the argument."""


class GeneratorMode(StrEnum):
    """What one run of the generator does."""

    #: exactly N operations, as fast as possible (deterministic)
    EVENTS = "events"
    #: ``rate`` operations per second for ``duration`` seconds, paced in real time
    STEADY = "steady"
    #: backfill-size data through COPY
    BULK = "bulk"
    #: only check the invariants of the source database
    CHECK = "check"


def _as_int(flag: str, value: Any) -> int:
    """Return ``value`` as an int (ints and integral strings, as templated operator fields render) or raise."""
    if isinstance(value, bool):
        raise GeneratorConfigError(f"{flag} must be an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise GeneratorConfigError(f"{flag} must be an integer, got {value!r}")


def _as_float(flag: str, value: Any) -> float:
    """Return ``value`` as a finite float (numbers and numeric strings) or raise."""
    if isinstance(value, bool):
        raise GeneratorConfigError(f"{flag} must be a number, got {value!r}")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise GeneratorConfigError(f"{flag} must be a number, got {value!r}") from None
    else:
        raise GeneratorConfigError(f"{flag} must be a number, got {value!r}")
    if not math.isfinite(number):
        raise GeneratorConfigError(f"{flag} must be a finite number, got {value!r}")
    return number


def _as_timestamp(flag: str, value: Any) -> datetime:
    """Return ``value`` (a datetime or an ISO-8601 string) as a timezone-aware datetime or raise."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise GeneratorConfigError(f"{flag} must be an ISO-8601 timestamp, got {value!r}") from None
    if not isinstance(value, datetime):
        raise GeneratorConfigError(f"{flag} must be an ISO-8601 timestamp, got {value!r}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise GeneratorConfigError(
            f"{flag} must include a UTC offset (e.g. 2026-01-01T00:00:00+00:00), got {value.isoformat()!r}"
        )
    return value


@dataclass
class GeneratorConfig:
    """
    What the workload generator does, and where. Validated on construction.

    Exactly one mode is chosen: ``events``; ``rate`` with ``duration``; ``bulk``; or ``check_only``.

    :param seed: Seed of every random choice; the same seed (and arguments) into a fresh database gives identical rows.
    :param events: Events mode: perform exactly this many operations (one database transaction each).
    :param rate: Steady mode: operations (database transactions) per second.
    :param duration: Steady mode: seconds to run.
    :param bulk: Bulk mode: load backfill-size data with COPY.
    :param customers: Bulk mode: customers to create.
    :param accounts_per_customer: Bulk mode: accounts each customer opens (default 2).
    :param transactions: Bulk mode: posted transaction rows in total (default 10 per account).
    :param check_only: Only check the source invariants and report violations.
    :param start_time: Start of the simulated business clock (timezone-aware); in a database that already holds
        data the clock resumes after its latest business timestamp.
    :param dsn: libpq connection string or URL; when given, ``conn_id`` is not used.
    :param conn_id: Airflow connection id of the source database (used when ``dsn`` is not given).
    :param apply_schema: Apply the source schema (idempotent) before generating.
    :param verify: Check the invariants after the run.
    :param progress: Show a progress bar (only on a terminal).
    :param chunk_rows: Bulk mode: rows generated, copied and committed per chunk (bounds memory).
    """

    seed: int = 0
    events: int | None = None
    rate: float | None = None
    duration: float | None = None
    bulk: bool = False
    customers: int | None = None
    accounts_per_customer: int | None = None
    transactions: int | None = None
    check_only: bool = False
    start_time: datetime = DEFAULT_START_TIME
    dsn: str | None = None
    conn_id: str = DEFAULT_CONN_ID
    apply_schema: bool = False
    verify: bool = False
    progress: bool = True
    chunk_rows: int = DEFAULT_CHUNK_ROWS

    def __post_init__(self) -> None:
        self.seed = _as_int("--seed", self.seed)
        self.start_time = _as_timestamp("--start-time", self.start_time)
        self._validate_mode()
        if self.events is not None:
            self.events = _as_int("--events", self.events)
            if self.events <= 0:
                raise GeneratorConfigError(f"--events must be > 0, got {self.events}")
        if self.rate is not None:
            self.rate = _as_float("--rate", self.rate)
            if self.rate <= 0:
                raise GeneratorConfigError(f"--rate must be > 0, got {_number(self.rate)}")
        if self.duration is not None:
            self.duration = _as_float("--duration", self.duration)
            if self.duration <= 0:
                raise GeneratorConfigError(f"--duration must be > 0, got {_number(self.duration)}")
        self._validate_bulk()
        if self.dsn is not None and (not isinstance(self.dsn, str) or not self.dsn.strip()):
            raise GeneratorConfigError(f"--dsn must be a non-empty connection string, got {self.dsn!r}")
        if not isinstance(self.conn_id, str) or not self.conn_id.strip():
            raise GeneratorConfigError(f"--conn-id must be a non-empty Airflow connection id, got {self.conn_id!r}")
        self.chunk_rows = _as_int("--chunk-rows", self.chunk_rows)
        if self.chunk_rows < 100:
            raise GeneratorConfigError(f"--chunk-rows must be >= 100, got {self.chunk_rows}")

    def _validate_mode(self) -> None:
        chosen = [
            flag
            for flag, on in (
                ("--events", self.events is not None),
                ("--rate/--duration", self.rate is not None or self.duration is not None),
                ("--bulk", bool(self.bulk)),
                ("--check-only", bool(self.check_only)),
            )
            if on
        ]
        if not chosen:
            raise GeneratorConfigError(
                "choose a mode: --events N, --rate R with --duration S, --bulk --customers N, or --check-only"
            )
        if len(chosen) > 1:
            raise GeneratorConfigError(f"{' and '.join(chosen)} cannot be combined: choose one mode")
        if self.rate is not None and self.duration is None:
            raise GeneratorConfigError("--duration is required with --rate")
        if self.duration is not None and self.rate is None:
            raise GeneratorConfigError("--rate is required with --duration")

    def _validate_bulk(self) -> None:
        if not self.bulk:
            for flag, value in (
                ("--customers", self.customers),
                ("--accounts-per-customer", self.accounts_per_customer),
                ("--transactions", self.transactions),
            ):
                if value is not None:
                    raise GeneratorConfigError(f"{flag} is only valid with --bulk")
            return
        if self.customers is None:
            raise GeneratorConfigError("--customers is required with --bulk")
        self.customers = _as_int("--customers", self.customers)
        if self.customers <= 0:
            raise GeneratorConfigError(f"--customers must be > 0, got {self.customers}")
        if self.accounts_per_customer is not None:
            self.accounts_per_customer = _as_int("--accounts-per-customer", self.accounts_per_customer)
            if self.accounts_per_customer <= 0:
                raise GeneratorConfigError(f"--accounts-per-customer must be > 0, got {self.accounts_per_customer}")
        if self.transactions is not None:
            self.transactions = _as_int("--transactions", self.transactions)
            if self.transactions < 0:
                raise GeneratorConfigError(f"--transactions must be >= 0, got {self.transactions}")

    @property
    def mode(self) -> GeneratorMode:
        """The chosen mode."""
        if self.check_only:
            return GeneratorMode.CHECK
        if self.bulk:
            return GeneratorMode.BULK
        if self.events is not None:
            return GeneratorMode.EVENTS
        return GeneratorMode.STEADY

    @property
    def bulk_accounts_per_customer(self) -> int:
        """Bulk mode: accounts per customer, the default applied."""
        return self.accounts_per_customer or DEFAULT_ACCOUNTS_PER_CUSTOMER

    @property
    def bulk_transactions(self) -> int:
        """Bulk mode: transaction rows in total, the default applied."""
        if self.transactions is not None:
            return self.transactions
        return (self.customers or 0) * self.bulk_accounts_per_customer * DEFAULT_TRANSACTIONS_PER_ACCOUNT


def _number(value: float) -> str:
    """Render a number as the user typed it: ``-5`` rather than ``-5.0``."""
    return str(int(value)) if value.is_integer() else str(value)
