"""The generator's in-memory model of the bank: who and what exists, balances, open pending transactions.

Every random choice is made from this model (never from ``ORDER BY random()`` in SQL), in a deterministic
order, so a seed gives the same event sequence. The database stays authoritative: operations lock the rows
they change and re-check them; the model is updated only after a commit. It is loaded from the database at
start, so the generator can continue a database that already holds data.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Final

from banking_cdc.generator.db import latest_business_time

#: accounts a customer may hold open at once
MAX_OPEN_ACCOUNTS: Final = 3
#: posted transactions kept as candidates for reversal (the most recent ones)
REVERSIBLE_CAPACITY: Final = 2_000


class Infeasible(Exception):  # a control-flow signal, not an error
    """The chosen operation has no possible target right now; the engine draws another one."""


class IdPool:
    """A set of ids with O(1) add, discard and uniform seeded choice; its order depends only on its history."""

    __slots__ = ("_index", "_items")

    def __init__(self) -> None:
        self._items: list[int] = []
        self._index: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._index

    def __iter__(self) -> Iterator[int]:
        """The ids, in the pool's (history-determined) order."""
        return iter(self._items)

    def add(self, key: int) -> None:
        """Add ``key`` (no-op when present)."""
        if key not in self._index:
            self._index[key] = len(self._items)
            self._items.append(key)

    def discard(self, key: int) -> None:
        """Remove ``key`` if present (the last id takes its slot)."""
        position = self._index.pop(key, None)
        if position is None:
            return
        last = self._items.pop()
        if position < len(self._items):
            self._items[position] = last
            self._index[last] = position

    def choose(self, rng: random.Random) -> int:
        """Return a random id; raise :class:`Infeasible` when empty."""
        if not self._items:
            raise Infeasible
        return self._items[rng.randrange(len(self._items))]


@dataclass(slots=True)
class Customer:
    """What the generator needs to know of a customer (no personal data)."""

    tier: str
    kyc_status: str
    #: never completes KYC, never opens an account (a prospect, erasable)
    prospect: bool = False
    account_ids: list[int] = field(default_factory=list)
    open_accounts: int = 0


@dataclass(slots=True)
class Account:
    """An account's owner, status, posted balance and number of pending transactions."""

    customer_id: int
    status: str
    balance: Decimal
    pending: int = 0


@dataclass(frozen=True, slots=True)
class Leg:
    """One transaction row of an item."""

    transaction_id: int
    account_id: int
    direction: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class Item:
    """A money movement: one row, or the two legs of a transfer (debit leg first)."""

    txn_type: str
    legs: tuple[Leg, ...]

    @property
    def key(self) -> int:
        """The first leg's id."""
        return self.legs[0].transaction_id

    @property
    def amount(self) -> Decimal:
        """The amount moved."""
        return self.legs[0].amount

    @property
    def transaction_ids(self) -> list[int]:
        """Ids of all legs."""
        return [leg.transaction_id for leg in self.legs]

    @property
    def account_ids(self) -> list[int]:
        """Accounts of all legs."""
        return [leg.account_id for leg in self.legs]


class ItemPool:
    """Items by key with seeded choice; optionally bounded to the most recently added ``capacity`` items."""

    def __init__(self, capacity: int | None = None) -> None:
        self._ids = IdPool()
        self._items: dict[int, Item] = {}
        self._capacity = capacity
        self._order: deque[int] = deque()

    def __len__(self) -> int:
        return len(self._items)

    def add(self, item: Item) -> None:
        """Add ``item``; evict the oldest item when over capacity."""
        self._items[item.key] = item
        self._ids.add(item.key)
        if self._capacity is None:
            return
        self._order.append(item.key)
        while len(self._items) > self._capacity:
            self.discard(self._order.popleft())
        if len(self._order) > 4 * self._capacity:
            self._order = deque(key for key in self._order if key in self._items)

    def discard(self, key: int) -> None:
        """Remove the item with ``key`` if present."""
        self._items.pop(key, None)
        self._ids.discard(key)

    def choose(self, rng: random.Random) -> Item:
        """Return a random item; raise :class:`Infeasible` when empty."""
        return self._items[self._ids.choose(rng)]

    def values(self) -> list[Item]:
        """All items (in insertion order)."""
        return list(self._items.values())


class World:
    """The model: customers, accounts and transaction items, with pools of valid targets per operation."""

    def __init__(self) -> None:
        self.customers: dict[int, Customer] = {}
        self.accounts: dict[int, Account] = {}
        # customer pools
        self.all_customers = IdPool()
        self.kyc_pending = IdPool()  # pending applicants who will get a KYC decision
        self.verified = IdPool()
        self.can_open = IdPool()  # verified, fewer than MAX_OPEN_ACCOUNTS open
        self.erasable = IdPool()  # never had an account, and a prospect or rejected
        # account pools
        self.active = IdPool()
        self.funded = IdPool()  # active with a positive balance
        self.frozen = IdPool()
        # transaction items
        self.pending = ItemPool()
        self.cancelled = ItemPool()
        self.reversible = ItemPool(REVERSIBLE_CAPACITY)
        self.latest: datetime | None = None

    # ------------------------------------------------------------------ customers
    def add_customer(self, customer_id: int, customer: Customer) -> None:
        """Register a customer and put it in the pools it qualifies for."""
        self.customers[customer_id] = customer
        self.all_customers.add(customer_id)
        self._refresh_customer(customer_id)

    def _refresh_customer(self, customer_id: int) -> None:
        customer = self.customers[customer_id]
        kyc = customer.kyc_status
        for pool, member in (
            (self.kyc_pending, kyc == "pending" and not customer.prospect),
            (self.verified, kyc == "verified"),
            (self.can_open, kyc == "verified" and customer.open_accounts < MAX_OPEN_ACCOUNTS),
            (self.erasable, not customer.account_ids and (customer.prospect or kyc == "rejected")),
        ):
            if member:
                pool.add(customer_id)
            else:
                pool.discard(customer_id)

    def set_kyc(self, customer_id: int, kyc_status: str) -> None:
        """Record a KYC decision."""
        self.customers[customer_id].kyc_status = kyc_status
        self._refresh_customer(customer_id)

    def set_tier(self, customer_id: int, tier: str) -> None:
        """Record a tier change."""
        self.customers[customer_id].tier = tier

    def remove_customer(self, customer_id: int) -> None:
        """Forget an erased customer."""
        del self.customers[customer_id]
        for pool in (self.all_customers, self.kyc_pending, self.verified, self.can_open, self.erasable):
            pool.discard(customer_id)

    # ------------------------------------------------------------------ accounts
    def add_account(self, account_id: int, account: Account) -> None:
        """Register an account with its owner."""
        self.accounts[account_id] = account
        customer = self.customers.get(account.customer_id)
        if customer is not None:
            customer.account_ids.append(account_id)
            if account.status != "closed":
                customer.open_accounts += 1
            self._refresh_customer(account.customer_id)
        self._refresh_account(account_id)

    def _refresh_account(self, account_id: int) -> None:
        account = self.accounts[account_id]
        active = account.status == "active"
        for pool, member in (
            (self.active, active),
            (self.funded, active and account.balance > 0),
            (self.frozen, account.status == "frozen"),
        ):
            if member:
                pool.add(account_id)
            else:
                pool.discard(account_id)

    def set_balance(self, account_id: int, balance: Decimal) -> None:
        """Record an account's new posted balance."""
        self.accounts[account_id].balance = balance
        self._refresh_account(account_id)

    def set_account_status(self, account_id: int, status: str) -> None:
        """Record an account's new status (closing releases one of the owner's open-account slots)."""
        account = self.accounts[account_id]
        was_open = account.status != "closed"
        account.status = status
        customer = self.customers.get(account.customer_id)
        if customer is not None and was_open and status == "closed":
            customer.open_accounts -= 1
            self._refresh_customer(account.customer_id)
        self._refresh_account(account_id)

    def idle_accounts(self) -> list[int]:
        """Active accounts without pending transactions: the ones that can be closed now."""
        return [account_id for account_id in self.active if self.accounts[account_id].pending == 0]

    def sibling_accounts(self, account_id: int) -> list[int]:
        """Other active accounts of the same owner."""
        owner = self.customers.get(self.accounts[account_id].customer_id)
        if owner is None:
            return []
        return [other for other in owner.account_ids if other != account_id and other in self.active]

    # ------------------------------------------------------------------ transaction items
    def add_pending(self, item: Item) -> None:
        """Record a pending item (its accounts cannot be closed until it is posted or cancelled)."""
        self.pending.add(item)
        for account_id in item.account_ids:
            self.accounts[account_id].pending += 1

    def settle_pending(self, item: Item, *, posted: bool) -> None:
        """Record that a pending item was posted or cancelled."""
        self.pending.discard(item.key)
        for account_id in item.account_ids:
            self.accounts[account_id].pending -= 1
        if posted:
            self.reversible.add(item)
        else:
            self.cancelled.add(item)

    def postable_pending(self) -> list[Item]:
        """Pending items that would post now (no account closed, no balance below zero), not be declined."""
        postable: list[Item] = []
        for item in self.pending.values():
            accounts = [self.accounts.get(account_id) for account_id in item.account_ids]
            if any(account is None or account.status == "closed" for account in accounts):
                continue
            balances = {account_id: self.accounts[account_id].balance for account_id in item.account_ids}
            for leg in item.legs:
                balances[leg.account_id] += leg.amount if leg.direction == "credit" else -leg.amount
            if all(balance >= 0 for balance in balances.values()):
                postable.append(item)
        return postable

    def reversible_now(self) -> list[Item]:
        """Reversible items whose accounts are open and hold what reversing their credit legs takes back."""
        return [
            item
            for item in self.reversible.values()
            if all(
                (account := self.accounts.get(leg.account_id)) is not None
                and account.status != "closed"
                and (leg.direction == "debit" or account.balance >= leg.amount)
                for leg in item.legs
            )
        ]

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, conn: Any) -> World:
        """Build the model from the database (empty for a fresh database)."""
        world = cls()
        cur = conn.cursor()
        try:
            cur.execute("SELECT customer_id, tier, kyc_status FROM customers ORDER BY customer_id")
            for customer_id, tier, kyc_status in cur.fetchall():
                world.add_customer(int(customer_id), Customer(tier=tier, kyc_status=kyc_status))
            cur.execute("SELECT account_id, customer_id, status, balance FROM accounts ORDER BY account_id")
            for account_id, customer_id, status, balance in cur.fetchall():
                world.add_account(
                    int(account_id), Account(customer_id=int(customer_id), status=status, balance=balance)
                )
            cur.execute(
                "SELECT transaction_id, account_id, txn_type, direction, amount, status, transfer_id"
                " FROM transactions WHERE status <> 'posted' ORDER BY transaction_id"
            )
            for item, status in _group_items(cur.fetchall()):
                if status == "pending":
                    world.add_pending(item)
                else:
                    world.cancelled.add(item)
            cur.execute(
                """
                WITH recent AS (
                    SELECT t.transaction_id, t.transfer_id FROM transactions t
                    WHERE t.status = 'posted' AND t.txn_type <> 'reversal'
                      AND NOT EXISTS (SELECT 1 FROM transactions r WHERE r.reverses_transaction_id = t.transaction_id)
                    ORDER BY t.transaction_id DESC LIMIT %s
                )
                SELECT t.transaction_id, t.account_id, t.txn_type, t.direction, t.amount, t.status, t.transfer_id
                FROM transactions t
                WHERE t.transaction_id IN (SELECT transaction_id FROM recent)
                   OR t.transfer_id IN (SELECT transfer_id FROM recent WHERE transfer_id IS NOT NULL)
                ORDER BY t.transaction_id
                """,
                (REVERSIBLE_CAPACITY,),
            )
            for item, _status in _group_items(cur.fetchall()):
                if len(item.legs) == (2 if item.txn_type == "transfer" else 1):
                    world.reversible.add(item)
        finally:
            cur.close()
        conn.rollback()
        world.latest = latest_business_time(conn)
        return world


def _group_items(rows: list[tuple[Any, ...]]) -> list[tuple[Item, str]]:
    """Group transaction rows (ordered by id) into items: transfers by transfer id (debit leg first)."""
    singles: list[tuple[Item, str]] = []
    transfers: dict[str, list[tuple[Any, ...]]] = {}
    order: list[tuple[int, str | None]] = []
    for row in rows:
        transaction_id, _account_id, txn_type, _direction, _amount, _status, transfer_id = row
        if transfer_id is None:
            order.append((int(transaction_id), None))
            singles.append((_item(txn_type, [row]), row[5]))
        else:
            key = str(transfer_id)
            if key not in transfers:
                transfers[key] = []
                order.append((int(transaction_id), key))
            transfers[key].append(row)
    by_single = {item.key: (item, status) for item, status in singles}
    grouped: list[tuple[Item, str]] = []
    for first_id, transfer_key in order:
        if transfer_key is None:
            grouped.append(by_single[first_id])
        else:
            legs = sorted(transfers[transfer_key], key=lambda leg: (leg[3] != "debit", leg[0]))
            grouped.append((_item("transfer", legs), legs[0][5]))
    return grouped


def _item(txn_type: str, rows: list[tuple[Any, ...]]) -> Item:
    return Item(
        txn_type=txn_type,
        legs=tuple(
            Leg(transaction_id=int(row[0]), account_id=int(row[1]), direction=row[3], amount=row[4]) for row in rows
        ),
    )
