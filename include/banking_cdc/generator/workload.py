"""The operational workload: one realistic banking operation per database transaction (events and steady modes).

Each step advances the simulated clock, draws an operation by weight among those possible right now (after the
opening tour below), and runs it in one database transaction: customers sign up, get a KYC decision, move,
change e-mail or phone, change tier and (without accounts) are erased; accounts open, freeze, unfreeze and close
(drained to zero first); money is deposited, withdrawn and transferred (some of it pending, later posted or
cancelled), posted movements are reversed, cancelled ones deleted.

Every kind of operation occurs in every run of :data:`~banking_cdc.generator.mix.COVERING_BOUND` operations or
more, whatever the database held before: a run opens with a tour. The tour draws a kind of operation not yet done
in this run (by weight among them) and works toward it until it is done, then draws the next. Each step performs
that operation on a target where it takes effect (a pending item that posts rather than being declined, an account
without pending transactions to close) or, when none exists yet, the operation that creates one (a posted deposit
before a reversal, a freeze before an unfreeze, a prospect before an erasure). Tour steps are regular operations;
only their targets are steered. When another writer makes a tour step roll back (the model no longer matches the
rows it chose), the next step is an ordinary drawn one and the tour draws its goal anew: it takes longer then, but
never insists on a target another writer changed. Without the tour, which kinds a run of a few hundred operations
performs would depend on the data already present, since that data is part of the seed and of what is possible.

Balances are maintained by the generator: every posting locks its account rows (``SELECT ... FOR UPDATE`` in
account-id order, so concurrent writers cannot deadlock on each other's order), re-checks them and updates
``accounts.balance`` in the same transaction. Debits never overdraw: a pending debit that no longer fits at
posting time is cancelled instead.

Determinism: all choices come from one :class:`random.Random` and the in-memory :class:`World`, never from
timing, wall clock or SQL randomness; ids come from the database's identity sequences.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any, Final

from banking_cdc.exceptions import BankingCdcError
from banking_cdc.generator.db import is_retryable, redacted_error, sqlstate
from banking_cdc.generator.lifecycle import AccountOperations, CustomerOperations
from banking_cdc.generator.mix import COVERING_BOUND, MEAN_STEP_SECONDS, OPERATION_WEIGHTS, missing_operations
from banking_cdc.generator.money import MoneyOperations
from banking_cdc.generator.operation_base import Declined
from banking_cdc.generator.progress import NullProgress, ProgressBar
from banking_cdc.generator.summary import RunSummary, Tally
from banking_cdc.generator.values import SimulatedClock
from banking_cdc.generator.world import MAX_OPEN_ACCOUNTS, Infeasible, World

log = logging.getLogger(__name__)

__all__ = ["COVERING_BOUND", "OPERATION_WEIGHTS", "WorkloadEngine"]

#: a steady run logs its progress this often (wall-clock seconds)
STEADY_REPORT_SECONDS: Final = 60.0


class WorkloadEngine(MoneyOperations, CustomerOperations, AccountOperations):
    """
    Runs realistic banking operations against the source database, one database transaction each.

    :param conn: An open DB-API connection (psycopg2 or psycopg 3) to the source database.
    :param seed: Seed of every choice.
    :param start_time: Start of the simulated clock (the clock resumes after the data already present).
    :param cover_every_operation: Open the run with the tour that performs every kind of operation (see the
        module docstring); without it every step is drawn by weight alone.
    """

    def __init__(self, conn: Any, *, seed: int, start_time: datetime, cover_every_operation: bool = True) -> None:
        self._attach(conn, "workload", seed)
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
