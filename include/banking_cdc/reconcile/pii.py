"""The gold forms of PII, computed exactly as the dbt macros do (``banking_dbt/macros/pii.sql``).

Reconciliation compares these, never the raw values, and never prints them: the report holds keys
and counts only.
"""

from __future__ import annotations

import hashlib


def hash_pii(value: str | None) -> str | None:
    """``sha256(nullif(lower(trim(value)), ''))`` as hex; ``trim`` removes spaces only (SQL semantics)."""
    if value is None:
        return None
    normalised = value.strip(" ").lower()
    if not normalised:
        return None
    return hashlib.sha256(normalised.encode()).hexdigest()


def mask_name(value: str | None) -> str | None:
    """``"Jane"`` -> ``"J***"``."""
    return None if value is None else value[:1] + "***"


def mask_email(value: str | None) -> str | None:
    """``"jane.doe@example.com"`` -> ``"j***@example.com"`` (SQL ``position`` is 1-based; 0 when absent)."""
    if value is None:
        return None
    at = value.find("@")
    return value[:1] + "***" + (value[at:] if at >= 0 else value)


def mask_phone(value: str | None) -> str | None:
    """``"+49 170 1234567"`` -> ``"***4567"``."""
    return None if value is None else "***" + value[-4:]


def mask_iban(value: str | None) -> str | None:
    """``"DE89370400440532013000"`` -> ``"DE***3000"``."""
    return None if value is None else value[:2] + "***" + value[-4:]
