"""What a generator run did: operations, rows per table and DML kind, money moved; counts only, never row data."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from banking_cdc.generator.values import ZERO

#: the money totals a summary keeps (posted movements only)
MONEY_KINDS: tuple[str, ...] = ("deposited", "withdrawn", "transferred", "reversed")
TABLES: tuple[str, ...] = ("customers", "accounts", "transactions")
DML_KINDS: tuple[str, ...] = ("insert", "update", "delete")


@dataclass
class Tally:
    """Counts of one operation or of a whole run."""

    operations: Counter[str] = field(default_factory=Counter)
    rows: Counter[tuple[str, str]] = field(default_factory=Counter)
    money: dict[str, Decimal] = field(default_factory=lambda: dict.fromkeys(MONEY_KINDS, ZERO))

    def op(self, name: str) -> Tally:
        """Count one operation called ``name``; return self (for chaining)."""
        self.operations[name] += 1
        return self

    def row(self, table: str, dml: str, count: int = 1) -> None:
        """Count ``count`` rows of ``table`` inserted, updated or deleted."""
        self.rows[(table, dml)] += count

    def add_money(self, kind: str, amount: Decimal) -> None:
        """Add a posted movement to the ``kind`` total."""
        self.money[kind] += amount

    def merge(self, other: Tally) -> None:
        """Add another tally's counts to this one."""
        self.operations.update(other.operations)
        self.rows.update(other.rows)
        for kind, amount in other.money.items():
            self.money[kind] = self.money.get(kind, ZERO) + amount

    @property
    def rows_written(self) -> int:
        """Rows inserted, updated and deleted."""
        return sum(self.rows.values())


@dataclass
class RunSummary:
    """
    The running totals of one generator run; :meth:`to_dict` gives the JSON-safe final summary.

    :param mode: The generator mode.
    :param seed: The seed of the run.
    """

    mode: str
    seed: int
    tally: Tally = field(default_factory=Tally)
    skipped: Counter[str] = field(default_factory=Counter)
    started: float = field(default_factory=time.perf_counter)
    finished: float | None = None
    clock_start: datetime | None = None
    clock_end: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def finish(self) -> None:
        """Stop the elapsed-time measurement."""
        self.finished = time.perf_counter()

    @property
    def elapsed(self) -> float:
        """Seconds since the run started (until :meth:`finish`)."""
        return (self.finished if self.finished is not None else time.perf_counter()) - self.started

    def to_dict(self) -> dict[str, Any]:
        """The summary as JSON-safe data: money as exact decimal strings, timestamps as ISO-8601."""
        elapsed = self.elapsed
        operations = sum(self.tally.operations.values())
        rows = {
            table: {dml: self.tally.rows.get((table, dml), 0) for dml in DML_KINDS}
            | {"total": sum(self.tally.rows.get((table, dml), 0) for dml in DML_KINDS)}
            for table in TABLES
        }
        written = self.tally.rows_written
        summary: dict[str, Any] = {
            "mode": self.mode,
            "seed": self.seed,
            "operations": dict(sorted(self.tally.operations.items())),
            "operations_total": operations,
            "skipped": dict(sorted(self.skipped.items())),
            "rows": rows,
            "rows_written": written,
            "money": {kind: str(self.tally.money.get(kind, ZERO)) for kind in MONEY_KINDS},
            "elapsed_seconds": round(elapsed, 3),
            "rows_per_second": round(written / elapsed, 1) if elapsed > 0 else None,
            "operations_per_second": round(operations / elapsed, 1) if elapsed > 0 else None,
            "business_clock": {
                "start": self.clock_start.isoformat() if self.clock_start else None,
                "end": self.clock_end.isoformat() if self.clock_end else None,
            },
        }
        summary.update(self.extra)
        return summary


def render_summary(summary: dict[str, Any]) -> str:
    """Return the summary as aligned plain text lines (counts and totals only)."""
    lines = [f"mode {summary['mode']}, seed {summary['seed']}"]
    if "violations" in summary:
        violations = summary["violations"]
        lines.append(f"invariant violations: {len(violations)}")
        lines.extend(f"  {violation}" for violation in violations)
    if "rows" in summary:
        lines.append("rows written:")
        for table, counts in summary["rows"].items():
            detail = ", ".join(f"{dml} {counts[dml]}" for dml in DML_KINDS)
            lines.append(f"  {table:<13} {counts['total']:>10}  ({detail})")
        lines.append(f"  {'total':<13} {summary['rows_written']:>10}")
    if summary.get("operations"):
        lines.append("operations:")
        lines.extend(f"  {name:<28} {count:>10}" for name, count in summary["operations"].items())
    if summary.get("skipped"):
        lines.append(
            "skipped (conflicts with other writers): " + ", ".join(f"{k} {v}" for k, v in summary["skipped"].items())
        )
    if "money" in summary:
        lines.append("money (posted): " + ", ".join(f"{kind} {amount}" for kind, amount in summary["money"].items()))
    if "rate" in summary:
        rate = summary["rate"]
        verdict = "kept" if rate["kept_up"] else "NOT kept (the database or this machine is too slow)"
        lines.append(
            f"rate: target {rate['target']}/s, achieved {rate['achieved']}/s"
            f" over {rate['duration_seconds']} s; {verdict}"
        )
    if "elapsed_seconds" in summary:
        lines.append(
            f"elapsed {summary['elapsed_seconds']} s, {summary['rows_per_second']} rows/s, "
            f"{summary['operations_per_second']} operations/s"
        )
    clock = summary.get("business_clock") or {}
    if clock.get("start"):
        lines.append(f"business clock {clock['start']} -> {clock['end']}")
    if "invariants" in summary:
        found = summary["invariants"]
        lines.append("invariants: " + ("all hold" if not found else f"{len(found)} violations"))
        lines.extend(f"  {violation}" for violation in found)
    return "\n".join(lines)
