"""Seedable, realistic banking workload for the source PostgreSQL (customers, accounts, transactions).

Modes: exactly N operations (``events``), a paced steady rate (``rate`` + ``duration``), and backfill-size COPY
loads (``bulk``). Invariants (no negative balance, balances equal posted sums, transfers balance, reversals mirror
their originals) hold after every commit; :func:`check_invariants` verifies them.

    python -m banking_cdc.generator --help
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from banking_cdc.generator.config import GeneratorConfig, GeneratorConfigError, GeneratorMode
from banking_cdc.generator.invariants import InvariantViolationError, check_invariants

if TYPE_CHECKING:
    from banking_cdc.generator.runner import run


def __getattr__(name: str) -> Any:
    # the engine (Faker, rich) is imported on first use, not when a DAG file imports the operator
    if name == "run":
        from banking_cdc.generator.runner import run

        return run
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "GeneratorConfig",
    "GeneratorConfigError",
    "GeneratorMode",
    "InvariantViolationError",
    "check_invariants",
    "run",
]
