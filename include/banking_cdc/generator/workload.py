"""The operational workload: one realistic banking operation per database transaction (events and steady modes).

Each step advances the simulated clock, draws an operation by weight among those possible right now (after the
opening tour below), and runs it in one database transaction: customers sign up, get a KYC decision, move,
change e-mail or phone, change tier and (without accounts) are erased; accounts open, freeze, unfreeze and close
(drained to zero first); money is deposited, withdrawn and transferred (some of it pending, later posted or
cancelled), posted movements are reversed, cancelled ones deleted.

Every kind of operation occurs in every run of :data:`COVERING_BOUND` operations or more, whatever the database
held before: a run opens with a tour. The tour draws a kind of operation not yet done in this run (by weight
among them) and works toward it until it is done, then draws the next. Each step performs that operation on a
target where it takes effect (a pending item that posts rather than being declined, an account without pending
transactions to close) or, when none exists yet, the operation that creates one (a posted deposit before a
reversal, a freeze before an unfreeze, a prospect before an erasure). Tour steps are regular operations; only
their targets are steered. When another writer makes a tour step roll back (the model no longer matches the
rows it chose), the next step is an ordinary drawn one and the tour draws its goal anew: it takes longer then,
but never insists on a target another writer changed. Without the tour, which kinds a run of a few hundred
operations performs would depend on the data already present, since that data is part of the seed and of what
is possible.

Balances are maintained by the generator: every posting locks its account rows (``SELECT ... FOR UPDATE`` in
account-id order, so concurrent writers cannot deadlock on each other's order), re-checks them and updates
``accounts.balance`` in the same transaction. Debits never overdraw: a pending debit that no longer fits at
posting time is cancelled instead.

Determinism: all choices come from one :class:`random.Random` and the in-memory :class:`World`, never from
timing, wall clock or SQL randomness; ids come from the database's identity sequences.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any, Final

from banking_cdc.exceptions import BankingCdcError
from banking_cdc.generator.db import (
    is_retryable,
    max_ids,
    redacted_error,
    sqlstate,
    sync_identity_sequences,
    transaction,
)
from banking_cdc.generator.progress import NullProgress, ProgressBar
from banking_cdc.generator.summary import RunSummary, Tally
from banking_cdc.generator.values import (
    TIERS,
    AmountSampler,
    Descriptions,
    ProfileFactory,
    SimulatedClock,
    iban_for,
    random_uuid,
)
from banking_cdc.generator.world import MAX_OPEN_ACCOUNTS, Account, Customer, Infeasible, Item, Leg, World

log = logging.getLogger(__name__)

#: relative weights of the operations (about 3/4 are money movements, as in a retail bank)
OPERATION_WEIGHTS: Final[dict[str, float]] = {
    # transactions
    "deposit": 20,
    "withdrawal": 17,
    "transfer": 15,
    "pending_post": 12,
    "pending_cancel": 2.5,
    "cancelled_delete": 2,
    "reversal": 2,
    # customers
    "customer_signup": 5,
    "customer_profile_update": 4,
    "customer_tier_change": 1.5,
    "customer_kyc_change": 4,
    "customer_erasure": 1,
    # accounts
    "account_open": 4,
    "account_freeze": 1,
    "account_unfreeze": 1,
    "account_close": 1,
}
#: the names the summary counts each operation under (``pending_decline``, a pending debit that no longer fits
#: and is cancelled at posting time, is not a ``pending_post``)
OPERATION_OUTCOMES: Final[dict[str, tuple[str, ...]]] = {
    "deposit": ("deposit", "deposit_pending"),
    "withdrawal": ("withdrawal", "withdrawal_pending"),
    "transfer": ("transfer", "transfer_pending"),
    "pending_post": ("pending_post",),
    "pending_cancel": ("pending_cancel",),
    "cancelled_delete": ("cancelled_delete",),
    "reversal": ("reversal",),
    "customer_signup": ("customer_signup",),
    "customer_profile_update": (
        "customer_address_change",
        "customer_email_change",
        "customer_phone_change",
        "customer_postal_code_change",
    ),
    "customer_tier_change": ("customer_tier_change",),
    "customer_kyc_change": ("customer_kyc_verified", "customer_kyc_rejected"),
    "customer_erasure": ("customer_erasure",),
    "account_open": ("account_open",),
    "account_freeze": ("account_freeze",),
    "account_unfreeze": ("account_unfreeze",),
    "account_close": ("account_close",),
}
#: a run of this many operations performs every operation of :data:`OPERATION_WEIGHTS`, whatever the database
#: held before: the opening tour works toward one kind at a time, and reaches it in at most 6 steps from any
#: state (the longest chains, e.g. a transfer from an empty bank: sign-up, KYC decision, account opening,
#: deposit, a second account opening, transfer). Other writers that make tour steps roll back lengthen it.
COVERING_BOUND: Final = 6 * len(OPERATION_WEIGHTS)
#: share of new money movements that start pending (card authorisations, incoming cheques, scheduled transfers)
PENDING_SHARE: Final = {"deposit": 0.15, "withdrawal": 0.30, "transfer": 0.20}
#: share of sign-ups that are prospects: they never complete KYC nor open an account
PROSPECT_SHARE: Final = 0.15
#: share of KYC decisions that reject the applicant
KYC_REJECT_SHARE: Final = 0.12
#: kinds of profile change and their weights
PROFILE_CHANGES: Final = (("address", 40), ("email", 30), ("phone", 20), ("postal_code", 10))
ACCOUNT_TYPES: Final = (("checking", 60), ("savings", 30), ("business", 10))
#: mean simulated seconds between two operations
MEAN_STEP_SECONDS: Final = 45.0
#: a steady run logs its progress this often (wall-clock seconds)
STEADY_REPORT_SECONDS: Final = 60.0

_INSERT_TRANSACTION = (
    "INSERT INTO transactions (account_id, txn_type, direction, amount, status, transfer_id,"
    " reverses_transaction_id, description, booked_at, posted_at)"
    " VALUES (%s, %s, %s, %s, %s, %s::uuid, %s, %s, %s, %s) RETURNING transaction_id"
)
_MONEY_KIND: Final = {"deposit": "deposited", "withdrawal": "withdrawn", "transfer": "transferred"}


class Declined(Exception):  # a control-flow signal, not an error
    """The database disagrees with the model (another writer changed it); the operation was rolled back."""


def missing_operations(operations: Mapping[str, int], among: list[str] | None = None) -> list[str]:
    """
    The operations of :data:`OPERATION_WEIGHTS` of which ``operations`` counts no outcome.

    :param operations: Counts by name, as a summary's ``operations`` (see :data:`OPERATION_OUTCOMES`).
    :param among: Only these operations (in this order); all by default.
    """
    names = list(OPERATION_WEIGHTS) if among is None else among
    return [name for name in names if not any(operations.get(outcome) for outcome in OPERATION_OUTCOMES[name])]


class WorkloadEngine:
    """
    Runs realistic banking operations against the source database, one database transaction each.

    :param conn: An open DB-API connection (psycopg2 or psycopg 3) to the source database.
    :param seed: Seed of every choice.
    :param start_time: Start of the simulated clock (the clock resumes after the data already present).
    :param cover_every_operation: Open the run with the tour that performs every kind of operation (see the
        module docstring); without it every step is drawn by weight alone.
    """

    def __init__(self, conn: Any, *, seed: int, start_time: datetime, cover_every_operation: bool = True) -> None:
        self.conn = conn
        sync_identity_sequences(conn)
        base = max_ids(conn)
        # the database's state is part of the seed: a second run into the same database draws new values
        self.rng = random.Random(f"banking-cdc/workload:{seed}:{base[0]}:{base[1]}:{base[2]}")
        self.profiles = ProfileFactory(str(seed), self.rng)
        self.amounts = AmountSampler(self.rng)
        self.texts = Descriptions(self.profiles, self.rng)
        self.world = World.load(conn)
        latest = self.world.latest
        self.clock = SimulatedClock(latest if latest is not None and latest > start_time else start_time)
        self._names = list(OPERATION_WEIGHTS)
        self._weights = list(OPERATION_WEIGHTS.values())
        self._operations: dict[str, Callable[[], Tally]] = {name: getattr(self, f"_{name}") for name in self._names}
        #: operations this run has not performed yet (the opening tour works toward them, one at a time)
        self.uncovered: list[str] = list(OPERATION_WEIGHTS) if cover_every_operation else []
        self._goal: str | None = None
        self._tour_step_skipped = False

    # ------------------------------------------------------------------ driving
    def step(self) -> tuple[str, Tally | None]:
        """
        Perform one operation; return its name and counts, or ``None`` counts if it was skipped.

        While some kind of operation has not occurred in this run, the step works toward one of them (the
        opening tour; after a skipped tour step, one drawn step); afterwards it is drawn by weight among the
        operations possible now. An operation is skipped (rolled back) only when another writer changed the rows
        it chose.
        """
        self.clock.advance(self.rng, MEAN_STEP_SECONDS)
        touring = bool(self.uncovered) and not self._tour_step_skipped
        name, tally = self._covering_step() if touring else self._drawn_step()
        self._tour_step_skipped = touring and tally is None
        if self._tour_step_skipped:
            self._goal = None  # another writer changed what the goal needed: draw a goal anew after a drawn step
        if tally is not None and self.uncovered:
            self.uncovered = missing_operations(tally.operations, among=self.uncovered)
        return name, tally

    def _drawn_step(self) -> tuple[str, Tally | None]:
        """An operation drawn by weight among those possible now."""
        names, weights = self._names[:], self._weights[:]
        while names:
            index = self.rng.choices(range(len(names)), weights)[0]
            name = names[index]
            try:
                return name, self._perform(name, self._operations[name])
            except Infeasible:
                del names[index], weights[index]
        raise BankingCdcError("no operation is possible")  # unreachable: a sign-up is always possible

    def _covering_step(self) -> tuple[str, Tally | None]:
        """A step of the opening tour: toward its goal, an operation not done yet (drawn by weight among them)."""
        if self._goal not in self.uncovered:
            self._goal = self.rng.choices(self.uncovered, [OPERATION_WEIGHTS[name] for name in self.uncovered])[0]
        name, operation = self._toward(self._goal)
        try:
            return name, self._perform(name, operation)
        except Infeasible:  # the model said it was possible: draw as usual rather than stop
            return self._drawn_step()

    def _perform(self, name: str, operation: Callable[[], Tally]) -> Tally | None:
        """
        Run one operation; return its counts, or ``None`` when another writer made it roll back.

        :raises Infeasible: The operation has no possible target now (nothing was written).
        """
        try:
            return operation()
        except Infeasible:
            raise
        except Declined:
            return None
        except Exception as exc:
            if is_retryable(exc):
                log.info("operation %s skipped: conflict with another writer (SQLSTATE %s)", name, sqlstate(exc))
                return None
            if sqlstate(exc) is not None:
                raise redacted_error(exc, f"operation {name}") from None
            raise

    # ------------------------------------------------------------------ the opening tour
    def _toward(self, kind: str) -> tuple[str, Callable[[], Tally]]:
        """
        The next operation on the way to ``kind``: ``kind`` itself aimed at a target where it takes effect, when
        one exists; else the operation that provides what ``kind`` needs (see :meth:`_provide`).
        """
        world, rng = self.world, self.rng
        if kind == "customer_signup":
            return kind, self._customer_signup
        if kind in ("customer_profile_update", "customer_kyc_change"):
            pool = world.all_customers if kind == "customer_profile_update" else world.kyc_pending
            return (kind, self._operations[kind]) if pool else self._provide("applicant")
        if kind == "customer_tier_change":
            return (kind, self._customer_tier_change) if world.verified else self._provide("verified")
        if kind == "customer_erasure":
            return (kind, self._customer_erasure) if world.erasable else self._provide("prospect")
        if kind == "account_open":
            return (kind, self._account_open) if world.can_open else self._provide("verified")
        if kind in ("deposit", "account_freeze"):
            return (kind, self._operations[kind]) if world.active else self._provide("active")
        if kind == "account_unfreeze":
            return (kind, self._account_unfreeze) if world.frozen else self._toward("account_freeze")
        if kind == "account_close":
            idle = world.idle_accounts()
            if not idle:
                return self._provide("active")  # a new account has no pending transaction
            return kind, partial(self._account_close, account_id=idle[rng.randrange(len(idle))])
        if kind == "withdrawal":
            return (kind, self._withdrawal) if world.funded else self._provide("funded")
        if kind == "transfer":
            if not world.funded:
                return self._provide("funded")
            return (kind, self._transfer) if len(world.active) >= 2 else self._provide("active")
        if kind == "pending_post":
            postable = world.postable_pending()
            if not postable:
                return self._provide("pending")  # a pending credit always posts
            return kind, partial(self._pending_post, item=postable[rng.randrange(len(postable))])
        if kind == "pending_cancel":
            return (kind, self._pending_cancel) if world.pending else self._provide("pending")
        if kind == "cancelled_delete":
            if world.cancelled:
                return kind, self._cancelled_delete
            return ("pending_cancel", self._pending_cancel) if world.pending else self._provide("pending")
        if kind == "reversal":
            reversible = world.reversible_now()
            if not reversible:
                return self._provide("funded")  # a posted deposit can be reversed
            return kind, partial(self._reversal, item=reversible[rng.randrange(len(reversible))])
        raise BankingCdcError(f"no way toward operation {kind!r}")  # a new operation needs a line above

    def _provide(self, need: str) -> tuple[str, Callable[[], Tally]]:
        """
        The operation that creates what another one needs, or the first step toward it.

        :param need: ``applicant`` (a customer awaiting KYC), ``prospect`` (an erasable customer), ``verified`` (a
            verified customer with a free account slot), ``active`` (an active account), ``funded`` (a posted
            deposit on an active account) or ``pending`` (a pending deposit).
        """
        world = self.world
        if need == "applicant":
            return "customer_signup", partial(self._customer_signup, prospect=False)
        if need == "prospect":
            return "customer_signup", partial(self._customer_signup, prospect=True)
        if need == "verified":
            applicants = [c for c in world.kyc_pending if world.customers[c].open_accounts < MAX_OPEN_ACCOUNTS]
            if not applicants:
                return self._provide("applicant")
            customer_id = applicants[self.rng.randrange(len(applicants))]
            return "customer_kyc_change", partial(self._customer_kyc_change, customer_id, "verified")
        if need == "active":
            return ("account_open", self._account_open) if world.can_open else self._provide("verified")
        if need in ("funded", "pending"):
            if not world.active:
                return self._provide("active")
            return "deposit", partial(self._deposit, posted=need == "funded")
        raise BankingCdcError(f"unknown need {need!r}")

    def run_events(self, count: int, summary: RunSummary, progress: ProgressBar | None = None) -> None:
        """
        Perform exactly ``count`` operations as fast as possible.

        :param count: Operations to perform (skipped ones are not counted).
        :param summary: Receives the counts.
        :param progress: Advanced by one per operation.
        """
        progress = progress or NullProgress()
        summary.clock_start = self.clock.now
        done = attempts = 0
        while done < count:
            attempts += 1
            if attempts > 20 * count + 100:
                raise BankingCdcError(f"gave up after {attempts - 1} attempts: other writers keep conflicting")
            name, tally = self.step()
            if tally is None:
                summary.skipped[name] += 1
                continue
            summary.tally.merge(tally)
            done += 1
            progress.advance(1)
        summary.clock_end = self.clock.now

    def run_steady(
        self, rate: float, duration: float, summary: RunSummary, progress: ProgressBar | None = None
    ) -> None:
        """
        Perform ``rate`` operations per second for ``duration`` seconds of real time.

        The event sequence does not depend on pacing: only how many operations fit into the duration does.
        A rate the database cannot keep is reported in the summary (``rate.kept_up``), not raised.

        :param rate: Operations (database transactions) per second.
        :param duration: Seconds to run.
        :param summary: Receives the counts and the achieved rate.
        :param progress: Updated with the elapsed seconds.
        """
        progress = progress or NullProgress()
        summary.clock_start = self.clock.now
        interval = 1.0 / rate
        began = time.monotonic()
        deadline = began + duration
        next_at = last_report = began
        done = behind_resets = 0
        while True:
            now = time.monotonic()
            if now >= deadline:
                break
            if now - last_report >= STEADY_REPORT_SECONDS:
                last_report = now
                log.info("steady run: %d operations in %.0f s (%.1f/s)", done, now - began, done / (now - began))
            if next_at > now:
                time.sleep(min(next_at - now, deadline - now, 0.25))
                progress.update(min(duration, time.monotonic() - began))
                continue
            name, tally = self.step()
            if tally is None:
                summary.skipped[name] += 1
            else:
                summary.tally.merge(tally)
                done += 1
            next_at += interval
            if time.monotonic() - next_at > 1.0:
                # more than a second behind: do not burst to catch up, continue at the rate from now
                next_at = time.monotonic()
                behind_resets += 1
            progress.update(min(duration, time.monotonic() - began))
        elapsed = time.monotonic() - began
        achieved = done / elapsed if elapsed > 0 else 0.0
        summary.clock_end = self.clock.now
        summary.extra["rate"] = {
            "target": rate,
            "achieved": round(achieved, 2),
            "duration_seconds": round(elapsed, 3),
            "kept_up": achieved >= 0.95 * rate,
            "shortfall_operations": max(0, round(rate * duration) - done),
            "fell_behind": behind_resets,
        }

    # ------------------------------------------------------------------ helpers
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

    # ------------------------------------------------------------------ money movements
    def _deposit(self, posted: bool | None = None) -> Tally:
        return self._cash_movement("deposit", posted)

    def _withdrawal(self) -> Tally:
        return self._cash_movement("withdrawal")

    def _cash_movement(self, kind: str, posted: bool | None = None) -> Tally:
        """
        A deposit (credit, any active account) or withdrawal (debit, a funded one), posted or pending.

        :param posted: Posted or pending; drawn (:data:`PENDING_SHARE`) when ``None``.
        """
        world, rng = self.world, self.rng
        debit = kind == "withdrawal"
        direction = "debit" if debit else "credit"
        account_id = (world.funded if debit else world.active).choose(rng)
        amount = self.amounts.draw(kind, cap=world.accounts[account_id].balance if debit else None)
        if posted is None:
            posted = rng.random() >= PENDING_SHARE[kind]
        text = self.texts.withdrawal() if debit else self.texts.deposit()
        tally = Tally().op(kind if posted else f"{kind}_pending")
        with transaction(self.conn) as cur:
            status, balance = self._lock_accounts(cur, [account_id])[account_id]
            if status != "active" or (debit and balance < amount):
                raise Declined
            txn_id = self._insert_transaction(cur, account_id, kind, direction, amount, posted=posted, description=text)
            tally.row("transactions", "insert")
            if posted:
                balance = balance - amount if debit else balance + amount
                self._set_balance(cur, account_id, balance, tally)
                tally.add_money("withdrawn" if debit else "deposited", amount)
        item = Item(kind, (Leg(txn_id, account_id, direction, amount),))
        if posted:
            world.set_balance(account_id, balance)
            world.reversible.add(item)
        else:
            world.add_pending(item)
        return tally

    def _transfer(self) -> Tally:
        world, rng = self.world, self.rng
        source = world.funded.choose(rng)
        if len(world.active) < 2:
            raise Infeasible
        own = world.sibling_accounts(source)
        if own and rng.random() < 0.25:
            target = own[rng.randrange(len(own))]
        else:
            target = source
            while target == source:
                target = world.active.choose(rng)
        amount = self.amounts.draw("transfer", cap=world.accounts[source].balance)
        posted = rng.random() >= PENDING_SHARE["transfer"]
        transfer_id = str(random_uuid(rng))
        text = self.texts.transfer()
        tally = Tally().op("transfer" if posted else "transfer_pending")
        with transaction(self.conn) as cur:
            locked = self._lock_accounts(cur, [source, target])
            (source_status, source_balance), (target_status, target_balance) = locked[source], locked[target]
            if source_status != "active" or target_status != "active" or source_balance < amount:
                raise Declined
            debit_id = self._insert_transaction(
                cur, source, "transfer", "debit", amount, posted=posted, description=text, transfer_id=transfer_id
            )
            credit_id = self._insert_transaction(
                cur, target, "transfer", "credit", amount, posted=posted, description=text, transfer_id=transfer_id
            )
            tally.row("transactions", "insert", 2)
            if posted:
                source_balance -= amount
                target_balance += amount
                self._set_balance(cur, source, source_balance, tally)
                self._set_balance(cur, target, target_balance, tally)
                tally.add_money("transferred", amount)
        item = Item("transfer", (Leg(debit_id, source, "debit", amount), Leg(credit_id, target, "credit", amount)))
        if posted:
            world.set_balance(source, source_balance)
            world.set_balance(target, target_balance)
            world.reversible.add(item)
        else:
            world.add_pending(item)
        return tally

    def _pending_post(self, item: Item | None = None) -> Tally:
        """
        Post a pending item, or cancel it when a debit no longer fits the balance.

        :param item: The item; drawn among all pending ones when ``None``.
        """
        world = self.world
        if item is None:
            item = world.pending.choose(self.rng)
        ids = item.transaction_ids
        tally = Tally()
        with transaction(self.conn) as cur:
            locked = self._lock_accounts(cur, item.account_ids)
            cur.execute(
                "SELECT transaction_id FROM transactions WHERE transaction_id = ANY(%s::bigint[])"
                " AND status = 'pending' FOR UPDATE",
                (ids,),
            )
            if len(cur.fetchall()) != len(ids) or any(status == "closed" for status, _ in locked.values()):
                raise Declined
            balances = {account_id: balance for account_id, (_, balance) in locked.items()}
            for leg in item.legs:
                balances[leg.account_id] += leg.amount if leg.direction == "credit" else -leg.amount
            posted = all(balance >= 0 for balance in balances.values())
            if posted:
                cur.execute(
                    "UPDATE transactions SET status = 'posted', posted_at = %s"
                    " WHERE transaction_id = ANY(%s::bigint[])",
                    (self.clock.now, ids),
                )
                for account_id, balance in balances.items():
                    self._set_balance(cur, account_id, balance, tally)
                tally.op("pending_post").add_money(_MONEY_KIND[item.txn_type], item.amount)
            else:
                cur.execute(
                    "UPDATE transactions SET status = 'cancelled' WHERE transaction_id = ANY(%s::bigint[])", (ids,)
                )
                tally.op("pending_decline")  # insufficient funds at posting time
            tally.row("transactions", "update", len(ids))
        world.settle_pending(item, posted=posted)
        if posted:
            for account_id, balance in balances.items():
                world.set_balance(account_id, balance)
        return tally

    def _pending_cancel(self) -> Tally:
        world = self.world
        item = world.pending.choose(self.rng)
        tally = Tally().op("pending_cancel")
        with transaction(self.conn) as cur:
            cur.execute(
                "UPDATE transactions SET status = 'cancelled'"
                " WHERE transaction_id = ANY(%s::bigint[]) AND status = 'pending'",
                (item.transaction_ids,),
            )
            self._expect_rows(cur, len(item.legs))
            tally.row("transactions", "update", len(item.legs))
        world.settle_pending(item, posted=False)
        return tally

    def _cancelled_delete(self) -> Tally:
        world = self.world
        item = world.cancelled.choose(self.rng)
        tally = Tally().op("cancelled_delete")
        with transaction(self.conn) as cur:
            cur.execute(
                "DELETE FROM transactions WHERE transaction_id = ANY(%s::bigint[]) AND status = 'cancelled'",
                (item.transaction_ids,),
            )
            self._expect_rows(cur, len(item.legs))
            tally.row("transactions", "delete", len(item.legs))
        world.cancelled.discard(item.key)
        return tally

    def _reversal(self, item: Item | None = None) -> Tally:
        """
        Reverse a posted deposit, withdrawal or transfer (both legs) with opposite posted rows.

        :param item: The item; when ``None``, up to three random reversible ones are tried.
        """
        world = self.world
        if item is None:
            item = self._draw_reversible()
        tally = Tally().op("reversal")
        with transaction(self.conn) as cur:
            locked = self._lock_accounts(cur, item.account_ids)
            if any(status == "closed" for status, _ in locked.values()):
                raise Declined
            balances = {account_id: balance for account_id, (_, balance) in locked.items()}
            for leg in item.legs:
                balances[leg.account_id] += leg.amount if leg.direction == "debit" else -leg.amount
            if any(balance < 0 for balance in balances.values()):
                raise Declined
            for leg in item.legs:
                self._insert_transaction(
                    cur,
                    leg.account_id,
                    "reversal",
                    "credit" if leg.direction == "debit" else "debit",
                    leg.amount,
                    posted=True,
                    description=f"Reversal of {item.txn_type}",
                    reverses=leg.transaction_id,
                )
            tally.row("transactions", "insert", len(item.legs))
            for account_id, balance in balances.items():
                self._set_balance(cur, account_id, balance, tally)
            tally.add_money("reversed", item.amount)
        world.reversible.discard(item.key)
        for account_id, balance in balances.items():
            world.set_balance(account_id, balance)
        return tally

    def _draw_reversible(self) -> Item:
        """Up to three random reversible items: the first whose accounts are open and hold its credit legs."""
        world, rng = self.world, self.rng
        for _ in range(3):
            item = world.reversible.choose(rng)
            accounts = [world.accounts.get(account_id) for account_id in item.account_ids]
            if any(account is None or account.status == "closed" for account in accounts):
                world.reversible.discard(item.key)
                continue
            if all(
                leg.direction == "debit" or world.accounts[leg.account_id].balance >= leg.amount for leg in item.legs
            ):
                return item
        raise Infeasible

    # ------------------------------------------------------------------ customers
    def _customer_signup(self, prospect: bool | None = None) -> Tally:
        """
        A new customer awaiting KYC.

        :param prospect: A prospect (never completes KYC nor opens an account); drawn (:data:`PROSPECT_SHARE`)
            when ``None``.
        """
        profile = self.profiles.new_profile(self.clock.now.date())
        if prospect is None:
            prospect = self.rng.random() < PROSPECT_SHARE
        tally = Tally().op("customer_signup")
        with transaction(self.conn) as cur:
            cur.execute(
                "INSERT INTO customers (customer_ref, first_name, last_name, email, phone, date_of_birth,"
                " address_line, city, postal_code, country_code, tier, kyc_status)"
                " VALUES (%s::uuid, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'pending') RETURNING customer_id",
                (
                    str(profile.customer_ref),
                    profile.first_name,
                    profile.last_name,
                    profile.email,
                    profile.phone,
                    profile.date_of_birth,
                    profile.address.address_line,
                    profile.address.city,
                    profile.address.postal_code,
                    profile.country_code,
                    profile.tier,
                ),
            )
            customer_id = int(cur.fetchone()[0])
            tally.row("customers", "insert")
        self.world.add_customer(customer_id, Customer(tier=profile.tier, kyc_status="pending", prospect=prospect))
        return tally

    def _customer_profile_update(self) -> Tally:
        """A move (address, city, postal code), a postal-code correction, a new e-mail or a new phone number."""
        rng = self.rng
        customer_id = self.world.all_customers.choose(rng)
        kind = rng.choices([kind for kind, _ in PROFILE_CHANGES], [weight for _, weight in PROFILE_CHANGES])[0]
        tally = Tally().op(f"customer_{kind}_change")
        with transaction(self.conn) as cur:
            cur.execute(
                "SELECT first_name, last_name, country_code FROM customers WHERE customer_id = %s FOR UPDATE",
                (customer_id,),
            )
            row = cur.fetchone()
            if row is None:
                raise Declined
            first_name, last_name, country_code = row
            market = self.profiles.locale_index(country_code.strip())
            if kind == "address":
                address = self.profiles.address(market)
                cur.execute(
                    "UPDATE customers SET address_line = %s, city = %s, postal_code = %s WHERE customer_id = %s",
                    (address.address_line, address.city, address.postal_code, customer_id),
                )
            elif kind == "postal_code":
                cur.execute(
                    "UPDATE customers SET postal_code = %s WHERE customer_id = %s",
                    (self.profiles.address(market).postal_code, customer_id),
                )
            elif kind == "email":
                cur.execute(
                    "UPDATE customers SET email = %s WHERE customer_id = %s",
                    (self.profiles.email(market, first_name, last_name), customer_id),
                )
            else:
                cur.execute(
                    "UPDATE customers SET phone = %s WHERE customer_id = %s", (self.profiles.phone(market), customer_id)
                )
            tally.row("customers", "update")
        return tally

    def _customer_tier_change(self) -> Tally:
        world, rng = self.world, self.rng
        customer_id = world.verified.choose(rng)
        current = world.customers[customer_id].tier
        position = TIERS.index(current) if current in TIERS else 0
        neighbours = [TIERS[i] for i in (position - 1, position + 1) if 0 <= i < len(TIERS)]
        tier = neighbours[rng.randrange(len(neighbours))]
        tally = Tally().op("customer_tier_change")
        with transaction(self.conn) as cur:
            cur.execute(
                "UPDATE customers SET tier = %s WHERE customer_id = %s AND tier = %s", (tier, customer_id, current)
            )
            self._expect_rows(cur, 1)
            tally.row("customers", "update")
        world.set_tier(customer_id, tier)
        return tally

    def _customer_kyc_change(self, customer_id: int | None = None, decision: str | None = None) -> Tally:
        """
        A KYC decision on a pending applicant.

        :param customer_id: The applicant; drawn among all pending ones when ``None``.
        :param decision: ``verified`` or ``rejected``; drawn (:data:`KYC_REJECT_SHARE`) when ``None``.
        """
        world, rng = self.world, self.rng
        if customer_id is None:
            customer_id = world.kyc_pending.choose(rng)
        if decision is None:
            decision = "rejected" if rng.random() < KYC_REJECT_SHARE else "verified"
        tally = Tally().op(f"customer_kyc_{decision}")
        with transaction(self.conn) as cur:
            cur.execute(
                "UPDATE customers SET kyc_status = %s WHERE customer_id = %s AND kyc_status = 'pending'",
                (decision, customer_id),
            )
            if cur.rowcount != 1:  # another writer decided or erased this applicant: never choose it again
                world.kyc_pending.discard(customer_id)
                raise Declined
            tally.row("customers", "update")
        world.set_kyc(customer_id, decision)
        return tally

    def _customer_erasure(self) -> Tally:
        """GDPR erasure of a customer who never held an account (a prospect or a rejected applicant)."""
        world = self.world
        customer_id = world.erasable.choose(self.rng)
        tally = Tally().op("customer_erasure")
        with transaction(self.conn) as cur:
            cur.execute(
                "DELETE FROM customers c WHERE c.customer_id = %s"
                " AND NOT EXISTS (SELECT 1 FROM accounts a WHERE a.customer_id = c.customer_id)",
                (customer_id,),
            )
            if cur.rowcount != 1:  # another writer erased this customer or opened an account: never choose it again
                world.erasable.discard(customer_id)
                raise Declined
            tally.row("customers", "delete")
        world.remove_customer(customer_id)
        return tally

    # ------------------------------------------------------------------ accounts
    def _account_open(self) -> Tally:
        world, rng = self.world, self.rng
        customer_id = world.can_open.choose(rng)
        account_type = rng.choices([kind for kind, _ in ACCOUNT_TYPES], [weight for _, weight in ACCOUNT_TYPES])[0]
        tally = Tally().op("account_open")
        with transaction(self.conn) as cur:
            cur.execute("SELECT nextval(pg_get_serial_sequence('accounts', 'account_id'))")
            account_id = int(cur.fetchone()[0])
            cur.execute(
                "INSERT INTO accounts"
                " (account_id, customer_id, iban, account_type, currency, status, balance, opened_at)"
                " SELECT %s, c.customer_id, %s, %s, 'EUR', 'active', 0, %s FROM customers c"
                " WHERE c.customer_id = %s AND c.kyc_status = 'verified'",
                (account_id, iban_for(account_id), account_type, self.clock.now, customer_id),
            )
            self._expect_rows(cur, 1)
            tally.row("accounts", "insert")
        world.add_account(account_id, Account(customer_id=customer_id, status="active", balance=Decimal("0.00")))
        return tally

    def _set_status(self, pool_name: str, old: str, new: str, op: str) -> Tally:
        world = self.world
        account_id = getattr(world, pool_name).choose(self.rng)
        tally = Tally().op(op)
        with transaction(self.conn) as cur:
            cur.execute("UPDATE accounts SET status = %s WHERE account_id = %s AND status = %s", (new, account_id, old))
            self._expect_rows(cur, 1)
            tally.row("accounts", "update")
        world.set_account_status(account_id, new)
        return tally

    def _account_freeze(self) -> Tally:
        return self._set_status("active", "active", "frozen", "account_freeze")

    def _account_unfreeze(self) -> Tally:
        return self._set_status("frozen", "frozen", "active", "account_unfreeze")

    def _draw_idle_account(self) -> int:
        """Up to three random active accounts: the first without pending transactions."""
        for _ in range(3):
            account_id = self.world.active.choose(self.rng)
            if self.world.accounts[account_id].pending == 0:
                return account_id
        raise Infeasible

    def _account_close(self, account_id: int | None = None) -> Tally:
        """
        Drain an active account without pending transactions to zero, then close it (one transaction).

        :param account_id: The account; when ``None``, up to three random active ones are tried.
        """
        world, rng = self.world, self.rng
        if account_id is None:
            account_id = self._draw_idle_account()
        siblings = world.sibling_accounts(account_id)
        target = siblings[rng.randrange(len(siblings))] if siblings and rng.random() < 0.6 else None
        transfer_id = str(random_uuid(rng)) if target is not None else None
        tally = Tally().op("account_close")
        balances: dict[int, Decimal] = {}
        with transaction(self.conn) as cur:
            locked = self._lock_accounts(cur, [account_id] if target is None else [account_id, target])
            if any(status != "active" for status, _ in locked.values()):
                raise Declined
            cur.execute(
                "SELECT count(*) FILTER (WHERE status = 'pending'), max(greatest(booked_at, posted_at))"
                " FROM transactions WHERE account_id = %s",
                (account_id,),
            )
            pending, last_activity = cur.fetchone()
            if pending:
                raise Declined
            if last_activity is not None and last_activity > self.clock.now:
                # another writer's clock ran ahead on this account: never close before its last movement
                self.clock.now = last_activity
            balance = locked[account_id][1]
            if balance > 0:
                if target is None:
                    self._insert_transaction(
                        cur,
                        account_id,
                        "withdrawal",
                        "debit",
                        balance,
                        posted=True,
                        description="Account closure payout",
                    )
                    tally.row("transactions", "insert")
                    tally.add_money("withdrawn", balance)
                else:
                    for leg_account, direction in ((account_id, "debit"), (target, "credit")):
                        self._insert_transaction(
                            cur,
                            leg_account,
                            "transfer",
                            direction,
                            balance,
                            posted=True,
                            description="Account closure",
                            transfer_id=transfer_id,
                        )
                    tally.row("transactions", "insert", 2)
                    tally.add_money("transferred", balance)
                    balances[target] = locked[target][1] + balance
                balances[account_id] = balance - balance
                for changed, new_balance in balances.items():
                    self._set_balance(cur, changed, new_balance, tally)
            cur.execute(
                "UPDATE accounts SET status = 'closed', closed_at = %s WHERE account_id = %s",
                (self.clock.now, account_id),
            )
            tally.row("accounts", "update")
        for changed, new_balance in balances.items():
            world.set_balance(changed, new_balance)
        world.set_account_status(account_id, "closed")
        return tally
