"""Customer and account lifecycle: sign-up, KYC decision, profile and tier changes, erasure; opening, freezing,
unfreezing and closing accounts (drained to zero first).
"""

from __future__ import annotations

from decimal import Decimal

from banking_cdc.generator.db import transaction
from banking_cdc.generator.mix import ACCOUNT_TYPES, KYC_REJECT_SHARE, PROFILE_CHANGES, PROSPECT_SHARE
from banking_cdc.generator.operation_base import Declined, OperationBase
from banking_cdc.generator.summary import Tally
from banking_cdc.generator.values import TIERS, iban_for, random_uuid
from banking_cdc.generator.world import Account, Customer, Infeasible


class CustomerOperations(OperationBase):
    """The customer operations of :data:`~banking_cdc.generator.mix.OPERATION_WEIGHTS`."""

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


class AccountOperations(OperationBase):
    """The account operations of :data:`~banking_cdc.generator.mix.OPERATION_WEIGHTS`."""

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
