"""What reconciliation compares: per source table, its key, its gold table and the attributes gold carries.

The tracked columns mirror the dbt staging models (``banking_dbt/models/staging/stg_*.sql``, argument
``tracked``): a change of one of them (or a delete) is what makes a new SCD2 version. A unit test keeps
the two lists equal. PII never leaves the source reader raw: gold holds hashes and masked forms, so the
reader derives the same forms (:mod:`banking_cdc.reconcile.pii`) and compares those.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class TableSpec:
    """
    One captured source table and the gold table holding its current state.

    :param table: Source (and bronze) table name.
    :param key: Primary-key column.
    :param gold_table: Gold table compared with the source table.
    :param compared: Gold columns compared key by key with the source (derived PII forms included).
    :param tracked: Source columns whose change makes a new SCD2 version (empty: not a dimension).
    :param skipped: Source columns not compared, with the reason (reported, never silently dropped).
    """

    table: str
    key: str
    gold_table: str
    compared: tuple[str, ...]
    tracked: tuple[str, ...] = ()
    skipped: tuple[tuple[str, str], ...] = ()

    @property
    def is_dimension(self) -> bool:
        """Whether gold keeps SCD2 versions of this table (a dbt snapshot)."""
        return bool(self.tracked)


#: why a source column is not compared
_PII = "PII, not in gold"
_UNTRACKED = "untracked: no version of its own"


def _columns(names: str) -> tuple[str, ...]:
    """Column names from a whitespace-separated list, in order."""
    return tuple(names.split())


CUSTOMERS: Final = TableSpec(
    table="customers",
    key="customer_id",
    gold_table="dim_customers",
    compared=_columns("""
        customer_ref first_name_masked last_name_masked email_hash email_masked phone_hash phone_masked birth_year
        city country_code tier kyc_status created_at
    """),
    tracked=_columns("""
        first_name last_name email phone date_of_birth address_line city postal_code country_code tier kyc_status
    """),
    skipped=(("address_line", _PII), ("postal_code", _PII), ("updated_at", _UNTRACKED)),
)

ACCOUNTS: Final = TableSpec(
    table="accounts",
    key="account_id",
    gold_table="dim_accounts",
    compared=_columns("customer_id iban_hash iban_masked account_type currency status opened_at closed_at created_at"),
    tracked=_columns("customer_id iban account_type currency status closed_at"),
    skipped=(
        ("balance", "untracked in the dimension; compared with fct_daily_account_balances"),
        ("updated_at", _UNTRACKED),
    ),
)

TRANSACTIONS: Final = TableSpec(
    table="transactions",
    key="transaction_id",
    gold_table="fct_transactions",
    compared=_columns("""
        account_id txn_type direction amount status transfer_id reverses_transaction_id booked_at posted_at
        created_at updated_at
    """),
    skipped=(("description", "not in gold"),),
)

TABLES: Final[tuple[TableSpec, ...]] = (CUSTOMERS, ACCOUNTS, TRANSACTIONS)
DIMENSIONS: Final[tuple[TableSpec, ...]] = (CUSTOMERS, ACCOUNTS)
