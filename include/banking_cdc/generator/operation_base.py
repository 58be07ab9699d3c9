"""What every workload operation shares: the engine's state it reads, and the row-level steps of a posting.

An operation runs in one database transaction. It raises :class:`Declined` when the database disagrees with the
in-memory model (another writer changed the rows it chose; the transaction is rolled back), and
:class:`~banking_cdc.generator.world.Infeasible` before writing anything when it has no possible target now.
"""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any

from banking_cdc.generator.db import max_ids, sync_identity_sequences
from banking_cdc.generator.summary import Tally
from banking_cdc.generator.values import AmountSampler, Descriptions, ProfileFactory, SimulatedClock
from banking_cdc.generator.world import World

_INSERT_TRANSACTION = (
    "INSERT INTO transactions (account_id, txn_type, direction, amount, status, transfer_id,"
    " reverses_transaction_id, description, booked_at, posted_at)"
    " VALUES (%s, %s, %s, %s, %s, %s::uuid, %s, %s, %s, %s) RETURNING transaction_id"
)


class Declined(Exception):  # a control-flow signal, not an error
    """The database disagrees with the model (another writer changed it); the operation was rolled back."""


class SeededSources:
    """The source connection and the seeded sources of every choice (the workload's and the bulk loader's)."""

    #: an open DB-API connection to the source database
    conn: Any
    #: the one source of every choice
    rng: random.Random
    profiles: ProfileFactory
    amounts: AmountSampler
    texts: Descriptions

    def _attach(self, conn: Any, stream: str, seed: int) -> None:
        """
        Attach ``conn`` and seed the sources of choice.

        The database's state (its highest ids) is part of the seed: a second run into the same database draws
        new values.

        :param stream: Names the stream of choices (``workload``, ``bulk``), so modes draw different values.
        """
        self.conn = conn
        sync_identity_sequences(conn)
        base = max_ids(conn)
        self.rng = random.Random(f"banking-cdc/{stream}:{seed}:{base[0]}:{base[1]}:{base[2]}")
        self.profiles = ProfileFactory(str(seed), self.rng)
        self.amounts = AmountSampler(self.rng)
        self.texts = Descriptions(self.profiles, self.rng)


class OperationBase(SeededSources):
    """
    The state operations share (set by :class:`~banking_cdc.generator.workload.WorkloadEngine`) and their
    row-level helpers.
    """

    #: the in-memory model of the source rows
    world: World
    clock: SimulatedClock

    def _lock_accounts(self, cur: Any, account_ids: list[int]) -> dict[int, tuple[str, Decimal]]:
        """Lock the accounts in id order; return their status and balance; decline if one vanished."""
        ids = sorted(set(account_ids))
        cur.execute(
            "SELECT account_id, status, balance FROM accounts WHERE account_id = ANY(%s::bigint[])"
            " ORDER BY account_id FOR UPDATE",
            (ids,),
        )
        locked = {int(account_id): (status, balance) for account_id, status, balance in cur.fetchall()}
        if len(locked) != len(ids):
            raise Declined
        return locked

    def _insert_transaction(
        self,
        cur: Any,
        account_id: int,
        txn_type: str,
        direction: str,
        amount: Decimal,
        *,
        posted: bool,
        description: str,
        transfer_id: str | None = None,
        reverses: int | None = None,
    ) -> int:
        now = self.clock.now
        cur.execute(
            _INSERT_TRANSACTION,
            (
                account_id,
                txn_type,
                direction,
                amount,
                "posted" if posted else "pending",
                transfer_id,
                reverses,
                description,
                now,
                now if posted else None,
            ),
        )
        return int(cur.fetchone()[0])

    @staticmethod
    def _set_balance(cur: Any, account_id: int, balance: Decimal, tally: Tally) -> None:
        cur.execute("UPDATE accounts SET balance = %s WHERE account_id = %s", (balance, account_id))
        tally.row("accounts", "update")

    @staticmethod
    def _expect_rows(cur: Any, expected: int) -> None:
        if cur.rowcount != expected:
            raise Declined
