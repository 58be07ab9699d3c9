"""Bulk mode: backfill-size data through COPY, in chunks that each commit consistent data.

A chunk is a group of new customers (all KYC-verified, each with ``accounts_per_customer`` accounts) and its
share of the requested transaction rows: posted deposits, withdrawals, transfers (both legs, between accounts of
the chunk) and reversals of deposits and withdrawals. The chunk's history is simulated in memory first with
running balances, so no debit ever overdraws; then customers, accounts (inserted with their final balance) and
transactions are streamed with ``COPY ... FROM STDIN`` and committed together. Every commit therefore keeps the
invariants, and memory is bounded by the chunk size, whatever the total.

Ids are reserved from the identity sequences, a block per chunk (see :func:`~banking_cdc.generator.db.reserve_ids`),
so bulk loads never collide with existing or concurrently written rows; in a fresh database they start at 1 and
the load is deterministic for a seed. A worker thread simulates the next chunk while the current one is copied.
Afterwards the tables are analysed, so the planner knows their new size.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from banking_cdc.generator.db import (
    copy_lines,
    latest_business_time,
    redacted_error,
    reserve_ids,
    sqlstate,
    transaction,
)
from banking_cdc.generator.operation_base import SeededSources
from banking_cdc.generator.progress import NullProgress, ProgressBar
from banking_cdc.generator.summary import RunSummary, Tally
from banking_cdc.generator.values import (
    ZERO,
    SimulatedClock,
    iban_for,
    random_uuid,
)

log = logging.getLogger(__name__)

CUSTOMER_COLUMNS: Final = (
    "customer_id",
    "customer_ref",
    "first_name",
    "last_name",
    "email",
    "phone",
    "date_of_birth",
    "address_line",
    "city",
    "postal_code",
    "country_code",
    "tier",
    "kyc_status",
)
ACCOUNT_COLUMNS: Final = (
    "account_id",
    "customer_id",
    "iban",
    "account_type",
    "currency",
    "status",
    "balance",
    "opened_at",
)
TRANSACTION_COLUMNS: Final = (
    "transaction_id",
    "account_id",
    "txn_type",
    "direction",
    "amount",
    "status",
    "transfer_id",
    "reverses_transaction_id",
    "description",
    "booked_at",
    "posted_at",
)

#: cumulative shares of the money movements drawn (a reversal or a debit that cannot be made becomes a deposit)
_REVERSAL_BELOW: Final = 0.01
_TRANSFER_BELOW: Final = 0.26
_WITHDRAWAL_BELOW: Final = 0.62
#: share of accounts frozen at the end of the backfill
FROZEN_SHARE: Final = 0.02
#: mean simulated seconds between two events of the backfill
MEAN_STEP_SECONDS: Final = 20.0
_NULL: Final = "\\N"
_ACCOUNT_TYPES: Final = ("checking", "checking", "checking", "savings", "savings", "business")

#: a simulated transaction row: (id, account index, type, direction, amount, transfer id, reverses, text, time)
_Row = tuple[int, int, str, str, Decimal, str | None, int | None, str, datetime]
#: a new account: (id, customer id, type, status, opened at)
_Account = tuple[int, int, str, str, datetime]


@dataclass
class _Chunk:
    """One simulated chunk, ready to copy."""

    customer_lines: list[str]
    accounts: list[_Account]
    balances: list[Decimal]
    account_ids: Sequence[int]
    rows: list[_Row]
    tally: Tally


class BulkLoader(SeededSources):
    """
    Load ``customers`` customers, ``accounts_per_customer`` accounts each and ``transactions`` posted transaction
    rows (exactly) with COPY.

    :param conn: An open DB-API connection (psycopg2 or psycopg 3) to the source database.
    :param seed: Seed of every choice.
    :param start_time: Start of the simulated clock (it resumes after data already present).
    :param chunk_rows: About this many rows are generated, copied and committed per chunk.
    """

    def __init__(self, conn: Any, *, seed: int, start_time: datetime, chunk_rows: int) -> None:
        self._attach(conn, "bulk", seed)
        latest = latest_business_time(conn)
        self.clock = SimulatedClock(latest if latest is not None and latest > start_time else start_time)
        self.chunk_rows = chunk_rows

    def run(
        self,
        customers: int,
        accounts_per_customer: int,
        transactions: int,
        summary: RunSummary,
        progress: ProgressBar | None = None,
    ) -> None:
        """
        Load the data, chunk by chunk; count rows, operations and money into ``summary``.

        One worker thread simulates the next chunk while this thread copies the current one (PostgreSQL works
        while the client waits, so the two overlap on two cores). Chunks are simulated strictly in order by that
        single worker, so the result does not depend on timing.

        :param customers: Customers to create.
        :param accounts_per_customer: Accounts per customer.
        :param transactions: Transaction rows in total (a transfer is two rows).
        :param summary: Receives the counts.
        :param progress: Advanced by the rows of each COPY.
        """
        progress = progress or NullProgress()
        summary.clock_start = self.clock.now
        rows_per_customer = 1 + accounts_per_customer + transactions / customers
        per_chunk = max(1, int(self.chunk_rows / rows_per_customer))
        sizes = [
            (
                min(customers, first + per_chunk) - first,
                transactions * min(customers, first + per_chunk) // customers - transactions * first // customers,
            )
            for first in range(0, customers, per_chunk)
        ]
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="bulk-simulation") as worker:
            # ids are reserved here, on the connection, while it is idle; the worker never touches the database
            upcoming: Future[_Chunk] = worker.submit(self._plan, *self._reserve(*sizes[0], accounts_per_customer))
            for index in range(len(sizes)):
                chunk = upcoming.result()
                if index + 1 < len(sizes):
                    upcoming = worker.submit(self._plan, *self._reserve(*sizes[index + 1], accounts_per_customer))
                self._load(chunk, summary, progress)
        with transaction(self.conn) as cur:
            # fresh statistics: the planner otherwise still sees the tables as they were before the load
            cur.execute("ANALYZE customers, accounts, transactions")
        summary.clock_end = self.clock.now

    def _reserve(
        self, customers: int, transactions: int, accounts_per_customer: int
    ) -> tuple[Sequence[int], Sequence[int], Sequence[int]]:
        conn = self.conn
        return (
            reserve_ids(conn, "customers", "customer_id", customers),
            reserve_ids(conn, "accounts", "account_id", customers * accounts_per_customer),
            reserve_ids(conn, "transactions", "transaction_id", transactions),
        )

    def _plan(self, customer_ids: Sequence[int], account_ids: Sequence[int], transaction_ids: Sequence[int]) -> _Chunk:
        """Simulate one chunk: customers, their accounts, and the accounts' posted history (no database access)."""
        rng, clock = self.rng, self.clock
        per_customer = len(account_ids) // len(customer_ids)
        chunk = _Chunk(customer_lines=[], accounts=[], balances=[], account_ids=account_ids, rows=[], tally=Tally())
        for customer_id in customer_ids:
            signed_up = clock.advance(rng, MEAN_STEP_SECONDS)
            chunk.customer_lines.append(self._customer_line(customer_id, signed_up))
            for _ in range(per_customer):
                opened = clock.advance(rng, 60.0)
                account_id = account_ids[len(chunk.accounts)]
                account_type = _ACCOUNT_TYPES[rng.randrange(len(_ACCOUNT_TYPES))]
                status = "frozen" if rng.random() < FROZEN_SHARE else "active"
                chunk.accounts.append((account_id, customer_id, account_type, status, opened))
        chunk.rows, chunk.balances = self._simulate(len(chunk.accounts), transaction_ids, chunk.tally)
        chunk.tally.operations["customer_signup"] += len(chunk.customer_lines)
        chunk.tally.operations["account_open"] += len(chunk.accounts)
        return chunk

    def _load(self, chunk: _Chunk, summary: RunSummary, progress: ProgressBar) -> None:
        """Copy one simulated chunk and commit it; count it into the summary."""
        tally = chunk.tally
        table = "customers"
        try:
            with transaction(self.conn) as cur:
                copy_lines(cur, table, CUSTOMER_COLUMNS, chunk.customer_lines)
                progress.advance(len(chunk.customer_lines))
                table = "accounts"
                copy_lines(cur, table, ACCOUNT_COLUMNS, _account_lines(chunk.accounts, chunk.balances))
                progress.advance(len(chunk.accounts))
                table = "transactions"
                copy_lines(cur, table, TRANSACTION_COLUMNS, _transaction_lines(chunk.rows, chunk.account_ids))
                progress.advance(len(chunk.rows))
        except Exception as exc:
            if sqlstate(exc) is not None:  # the driver's message quotes the failing line: customer data
                raise redacted_error(exc, f"bulk COPY into {table}") from None
            raise
        tally.row("customers", "insert", len(chunk.customer_lines))
        tally.row("accounts", "insert", len(chunk.accounts))
        tally.row("transactions", "insert", len(chunk.rows))
        summary.tally.merge(tally)
        log.debug(
            "bulk chunk committed: %d customers, %d accounts, %d transactions",
            len(chunk.customer_lines),
            len(chunk.accounts),
            len(chunk.rows),
        )

    def _customer_line(self, customer_id: int, signed_up: datetime) -> str:
        profile = self.profiles.new_profile(signed_up.date())
        tier = profile.tier if self.rng.random() < 0.9 else ("silver", "gold", "private")[self.rng.randrange(3)]
        return (
            "\t".join(
                (
                    str(customer_id),
                    str(profile.customer_ref),
                    profile.first_name,
                    profile.last_name,
                    profile.email,
                    profile.phone,
                    profile.date_of_birth.isoformat(),
                    profile.address.address_line,
                    profile.address.city,
                    profile.address.postal_code,
                    profile.country_code,
                    tier,
                    "verified",
                )
            )
            + "\n"
        )

    def _simulate(
        self, accounts: int, transaction_ids: Sequence[int], tally: Tally
    ) -> tuple[list[_Row], list[Decimal]]:
        """Simulate the chunk's posted transactions in time order with running balances (never below zero)."""
        rng, draw, texts = self.rng, self.amounts.draw, self.texts
        random_, randrange = rng.random, rng.randrange
        balances = [ZERO] * accounts
        rows: list[_Row] = []
        reversible: list[int] = []  # row indexes of posted deposits and withdrawals not reversed yet
        ids = iter(transaction_ids)
        left = len(transaction_ids)
        now = self.clock.now
        step = max(2, int(2_000_000 * MEAN_STEP_SECONDS))
        money = tally.money
        deposited = withdrawn = transferred = reversed_ = ZERO
        counts = {"deposit": 0, "withdrawal": 0, "transfer": 0, "reversal": 0}
        while left > 0:
            now += timedelta(microseconds=randrange(1, step))
            draw_kind = random_()
            if draw_kind < _REVERSAL_BELOW and reversible:
                position = randrange(len(reversible))
                original = rows[reversible[position]]
                account, amount = original[1], original[4]
                if original[3] == "debit" or balances[account] >= amount:
                    reversible[position] = reversible[-1]
                    reversible.pop()
                    direction = "credit" if original[3] == "debit" else "debit"
                    balances[account] += amount if direction == "credit" else -amount
                    rows.append(
                        (next(ids), account, "reversal", direction, amount, None, original[0],
                         f"Reversal of {original[2]}", now)
                    )  # fmt: skip
                    reversed_ += amount
                    counts["reversal"] += 1
                    left -= 1
                    continue
            if draw_kind < _TRANSFER_BELOW and left >= 2 and accounts >= 2:
                source = randrange(accounts)
                balance = balances[source]
                if balance > 0:
                    target = randrange(accounts - 1)
                    target += target >= source
                    amount = draw("transfer", balance)
                    transfer_id = str(random_uuid(rng))
                    text = texts.transfer()
                    balances[source] = balance - amount
                    balances[target] += amount
                    rows.append((next(ids), source, "transfer", "debit", amount, transfer_id, None, text, now))
                    rows.append((next(ids), target, "transfer", "credit", amount, transfer_id, None, text, now))
                    transferred += amount
                    counts["transfer"] += 1
                    left -= 2
                    continue
            elif draw_kind < _WITHDRAWAL_BELOW:
                account = randrange(accounts)
                balance = balances[account]
                if balance > 0:
                    amount = draw("withdrawal", balance)
                    balances[account] = balance - amount
                    reversible.append(len(rows))
                    rows.append(
                        (next(ids), account, "withdrawal", "debit", amount, None, None, texts.withdrawal(), now)
                    )
                    withdrawn += amount
                    counts["withdrawal"] += 1
                    left -= 1
                    continue
            account = randrange(accounts)
            amount = draw("deposit")
            balances[account] += amount
            reversible.append(len(rows))
            rows.append((next(ids), account, "deposit", "credit", amount, None, None, texts.deposit(), now))
            deposited += amount
            counts["deposit"] += 1
            left -= 1
        self.clock.now = now
        money["deposited"] += deposited
        money["withdrawn"] += withdrawn
        money["transferred"] += transferred
        money["reversed"] += reversed_
        tally.operations.update(counts)
        return rows, balances


def _account_lines(accounts: list[_Account], balances: list[Decimal]) -> Iterator[str]:
    for (account_id, customer_id, account_type, status, opened), balance in zip(accounts, balances, strict=True):
        yield (
            f"{account_id}\t{customer_id}\t{iban_for(account_id)}\t{account_type}\tEUR\t{status}\t{balance}\t"
            f"{opened.isoformat()}\n"
        )


def _transaction_lines(rows: list[_Row], account_ids: Sequence[int]) -> Iterator[str]:
    for transaction_id, account, txn_type, direction, amount, transfer_id, reverses, text, at in rows:
        stamp = at.isoformat()
        yield (
            f"{transaction_id}\t{account_ids[account]}\t{txn_type}\t{direction}\t{amount}\tposted\t"
            f"{transfer_id or _NULL}\t{reverses or _NULL}\t{text}\t{stamp}\t{stamp}\n"
        )
