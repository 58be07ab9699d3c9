"""Database plumbing of the generator: connecting, session settings, id reservation, COPY, driver differences.

The generator works on any DB-API connection of psycopg2 (``--dsn``) or psycopg 3 (what
``PostgresHook.get_conn()`` returns when SQLAlchemy 2 and psycopg 3 are installed). The two differ only
in how COPY is fed and how the SQLSTATE of an error is read; both are hidden here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Final

from banking_cdc.exceptions import BankingCdcError
from banking_cdc.generator.config import GeneratorConfig

log = logging.getLogger(__name__)

#: SQLSTATEs after which an operation is rolled back and skipped rather than failing the run
RETRYABLE_SQLSTATES: Final = frozenset(
    {
        "40001",  # serialization_failure
        "40P01",  # deadlock_detected
        "23505",  # unique_violation (e.g. a reversal raced by another writer)
        "23503",  # foreign_key_violation (e.g. an account closed or a customer erased by another writer)
    }
)

#: identity columns of the captured tables
IDENTITY_COLUMNS: Final = (
    ("customers", "customer_id"),
    ("accounts", "account_id"),
    ("transactions", "transaction_id"),
)

_COPY_BLOCK_CHARS: Final = 1 << 18


def connect(config: GeneratorConfig) -> Any:
    """
    Open a connection to the source database: the libpq ``dsn`` if given, else the Airflow connection.

    :param config: The generator's configuration (``dsn`` or ``conn_id``).
    """
    if config.dsn:
        import psycopg2

        return psycopg2.connect(config.dsn)
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    return PostgresHook(postgres_conn_id=config.conn_id).get_conn()


def sqlstate(exc: BaseException) -> str | None:
    """Return the SQLSTATE of a psycopg2 or psycopg 3 error, or ``None`` for other exceptions."""
    code = getattr(exc, "pgcode", None) or getattr(exc, "sqlstate", None)
    return code if isinstance(code, str) else None


def is_retryable(exc: BaseException) -> bool:
    """Whether ``exc`` is a concurrency conflict after which an operation may simply be skipped."""
    return sqlstate(exc) in RETRYABLE_SQLSTATES


def redacted_error(exc: BaseException, what: str) -> BankingCdcError:
    """
    A project error for a failed database statement, without the row data PostgreSQL puts in its details.

    Constraint violations carry ``DETAIL: Failing row contains (...)`` and COPY errors ``CONTEXT: COPY ..., line
    N: "..."``: customer data that must not reach logs. Only the primary message and the SQLSTATE are kept.

    :param exc: The driver's exception.
    :param what: What was being done, e.g. ``"operation deposit"``.
    """
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) or type(exc).__name__
    return BankingCdcError(f"{what} failed: {primary} (SQLSTATE {sqlstate(exc)})")


def prepare_session(conn: Any) -> None:
    """
    Tune the session for a bulk writer and name it in ``pg_stat_activity``.

    ``synchronous_commit=off`` makes a commit not wait for the WAL flush (the server flushes within
    ``wal_writer_delay``); it affects only this session, and logical decoding still sees every commit.
    """
    conn.autocommit = False
    with cursor(conn) as cur:
        cur.execute("SET synchronous_commit TO off")
        cur.execute("SET application_name TO 'banking_cdc.generator'")
    conn.commit()


@contextmanager
def cursor(conn: Any) -> Iterator[Any]:
    """A cursor that is closed afterwards (psycopg2 and psycopg 3 alike)."""
    cur = conn.cursor()
    try:
        yield cur
    finally:
        cur.close()


@contextmanager
def transaction(conn: Any) -> Iterator[Any]:
    """One database transaction: commit on success, roll back on any exception (which propagates)."""
    with cursor(conn) as cur:
        try:
            yield cur
            conn.commit()
        except BaseException:
            conn.rollback()
            raise


def sync_identity_sequences(conn: Any) -> None:
    """
    Move each identity sequence past the largest id in its table, if rows were inserted with explicit ids.

    Afterwards ``nextval`` never returns an id that exists, so the generator can never collide with rows
    written by others.
    """
    with transaction(conn) as cur:
        for table, column in IDENTITY_COLUMNS:
            cur.execute(
                f"""
                SELECT setval(s.seq, s.max_id)
                FROM (SELECT pg_get_serial_sequence('{table}', '{column}') AS seq,
                             (SELECT max({column}) FROM {table}) AS max_id) AS s
                WHERE s.max_id IS NOT NULL
                  AND s.max_id > coalesce(pg_sequence_last_value(s.seq::regclass), 0)
                """
            )


def max_ids(conn: Any) -> tuple[int, int, int]:
    """Return the largest customer, account and transaction ids (0 for an empty table)."""
    with transaction(conn) as cur:
        cur.execute(
            "SELECT (SELECT coalesce(max(customer_id), 0) FROM customers),"
            " (SELECT coalesce(max(account_id), 0) FROM accounts),"
            " (SELECT coalesce(max(transaction_id), 0) FROM transactions)"
        )
        customers, accounts, transactions = cur.fetchone()
    return int(customers), int(accounts), int(transactions)


def reserve_ids(conn: Any, table: str, column: str, count: int) -> Sequence[int]:
    """
    Take ``count`` ids from the identity sequence of ``table.column`` (ascending), in a short transaction of its own.

    The owner of the table takes a block at once: ``ALTER SEQUENCE`` (a no-op change) holds the lock that makes
    concurrent ``nextval`` calls wait, and ``setval`` moves the sequence past the block. Without ownership, ids
    are drawn one ``nextval`` at a time. Either way they are unique while other sessions insert, and in a fresh
    database they are consecutive from 1, so bulk loads are deterministic.
    """
    if count == 0:
        return range(0)
    with transaction(conn) as cur:
        cur.execute(
            "SELECT s.seqrelid::regclass::text, s.seqincrement FROM pg_sequence s"
            " WHERE s.seqrelid = pg_get_serial_sequence(%s, %s)::regclass",
            (table, column),
        )
        sequence, increment = cur.fetchone()
    if increment == 1 and _may_alter(conn, table):
        with transaction(conn) as cur:
            cur.execute(f"ALTER SEQUENCE {sequence} INCREMENT BY 1")
            cur.execute("SELECT setval(%s, nextval(%s) + %s - 1)", (sequence, sequence, count))
            last = int(cur.fetchone()[0])
        return range(last - count + 1, last + 1)
    with transaction(conn) as cur:
        cur.execute("SELECT nextval(%s) FROM generate_series(1, %s) ORDER BY 1", (sequence, count))
        return [int(row[0]) for row in cur.fetchall()]


def _may_alter(conn: Any, table: str) -> bool:
    """Whether the current role owns ``table`` (and so its identity sequences)."""
    with transaction(conn) as cur:
        cur.execute(
            "SELECT pg_has_role(current_user, relowner, 'USAGE') FROM pg_class WHERE oid = %s::regclass", (table,)
        )
        row = cur.fetchone()
    return bool(row and row[0])


class _LineReader:
    """A file-like ``read(size)`` over an iterator of text lines (what psycopg2's ``copy_expert`` reads)."""

    def __init__(self, lines: Iterable[str]) -> None:
        self._lines = iter(lines)
        self._buffer = ""

    def read(self, size: int = -1) -> str:
        want = size if size and size > 0 else _COPY_BLOCK_CHARS
        parts = [self._buffer]
        length = len(self._buffer)
        for line in self._lines:
            parts.append(line)
            length += len(line)
            if length >= want:
                break
        data = "".join(parts)
        self._buffer = data[want:]
        return data[:want]


def _blocks(lines: Iterable[str], block_chars: int = _COPY_BLOCK_CHARS) -> Iterator[str]:
    """Group text lines into blocks of about ``block_chars`` characters."""
    parts: list[str] = []
    length = 0
    for line in lines:
        parts.append(line)
        length += len(line)
        if length >= block_chars:
            yield "".join(parts)
            parts, length = [], 0
    if parts:
        yield "".join(parts)


def copy_lines(cur: Any, table: str, columns: tuple[str, ...], lines: Iterable[str]) -> None:
    """
    ``COPY table (columns) FROM STDIN`` in text format, streaming ``lines`` (each ending in a newline).

    Lines are rendered lazily while the server ingests earlier blocks, so memory stays bounded and the
    client's rendering overlaps the server's work.
    """
    sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    if hasattr(cur, "copy_expert"):  # psycopg2
        cur.copy_expert(sql, _LineReader(lines), size=_COPY_BLOCK_CHARS)
        return
    with cur.copy(sql) as copy:  # psycopg 3
        for block in _blocks(lines):
            copy.write(block)


def latest_business_time(conn: Any) -> datetime | None:
    """Return the latest business timestamp in the database (opened, closed, booked, posted), ``None`` if empty."""
    with transaction(conn) as cur:
        cur.execute(
            "SELECT greatest((SELECT max(greatest(opened_at, closed_at)) FROM accounts),"
            " (SELECT max(greatest(booked_at, posted_at)) FROM transactions))"
        )
        (latest,) = cur.fetchone()
    return latest if isinstance(latest, datetime) else None
