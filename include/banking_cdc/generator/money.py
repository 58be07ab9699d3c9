"""Money movements: deposits, withdrawals and transfers (posted or pending), posting, cancelling, reversing.

Every posting locks its account rows in account-id order, re-checks them and updates ``accounts.balance`` in the
same transaction; debits never overdraw (a pending debit that no longer fits at posting time is cancelled).
"""

from __future__ import annotations

from typing import Final

from banking_cdc.generator.db import transaction
from banking_cdc.generator.mix import PENDING_SHARE
from banking_cdc.generator.operation_base import Declined, OperationBase
from banking_cdc.generator.summary import Tally
from banking_cdc.generator.values import random_uuid
from banking_cdc.generator.world import Infeasible, Item, Leg

_MONEY_KIND: Final = {"deposit": "deposited", "withdrawal": "withdrawn", "transfer": "transferred"}


class MoneyOperations(OperationBase):
    """The money movements of :data:`~banking_cdc.generator.mix.OPERATION_WEIGHTS`."""

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
