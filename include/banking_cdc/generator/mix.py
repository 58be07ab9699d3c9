"""The operation mix of the workload: which banking operations exist, how often each occurs, how they are counted.

Tests and fixtures that model the same bank (``tests/dbt/bronze_fixture.py``) import these numbers rather than
repeating them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

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


def missing_operations(operations: Mapping[str, int], among: list[str] | None = None) -> list[str]:
    """
    The operations of :data:`OPERATION_WEIGHTS` of which ``operations`` counts no outcome.

    :param operations: Counts by name, as a summary's ``operations`` (see :data:`OPERATION_OUTCOMES`).
    :param among: Only these operations (in this order); all by default.
    """
    names = list(OPERATION_WEIGHTS) if among is None else among
    return [name for name in names if not any(operations.get(outcome) for outcome in OPERATION_OUTCOMES[name])]
