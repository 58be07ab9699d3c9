"""The reconciliation report: one named result row per check, table and scope; text table and JSON.

A report carries keys and counts only (at most a few example keys per failing check), never row
payloads or PII. Money is exact: :class:`~decimal.Decimal` in memory, decimal strings in JSON.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

#: example keys kept per failing check
MAX_EXAMPLES = 5

Number = int | Decimal


@dataclass(frozen=True)
class CheckResult:
    """
    One comparison between source and gold.

    For count and money checks the values are the two figures and ``difference = source - gold``. For
    key-by-key checks the source value is the number of keys checked, the gold value the keys that pass,
    and the difference the keys that fail.

    :param check: Check name (``row_count``, ``amount_sum``, ``balance_total``, ``balance_per_account``,
        ``daily_activity``, ``current_rows``, ``fact_rows``, ``scd2_versions``, ``deleted_keys_closed``).
    :param table: Gold table checked.
    :param source_value: The source's figure.
    :param gold_value: Gold's figure.
    :param difference: ``source - gold`` (counts, money) or keys failing (key checks); zero when ok.
    :param ok: Whether the check passed.
    :param scope: Sub-scope of the check (e.g. ``status=posted direction=credit``), or empty.
    :param examples: A few failing keys (never values).
    :param note: What was compared or why it failed, in words (column names, counts; never values).
    """

    check: str
    table: str
    source_value: Number
    gold_value: Number
    difference: Number
    ok: bool
    scope: str = ""
    examples: tuple[str, ...] = ()
    note: str = ""

    @classmethod
    def figures(
        cls,
        check: str,
        table: str,
        source: Number,
        gold: Number,
        *,
        note: str,
        scope: str = "",
        examples: Iterable[Any] = (),
    ) -> CheckResult:
        """
        A count or money check: the two figures, ``difference = source - gold``, ok when they are equal.

        :param examples: Keys to name when the figures differ (a few are kept, sorted).
        """
        return cls(
            check=check, table=table, source_value=source, gold_value=gold, difference=source - gold,
            ok=source == gold, scope=scope, examples=example_keys(examples) if source != gold else (), note=note,
        )  # fmt: skip

    @classmethod
    def listed(cls, check: str, table: str, keys: Iterable[Any], *, note: str) -> CheckResult:
        """Keys accounted for apart from the comparison (rejected keys): ok, counted, a few named."""
        named = list(keys)
        return cls(
            check=check, table=table, source_value=len(named), gold_value=len(named), difference=0, ok=True,
            examples=example_keys(named), note=note,
        )  # fmt: skip

    @classmethod
    def key_by_key(cls, check: str, table: str, checked: int, failing: Iterable[Any], *, note: str) -> CheckResult:
        """
        A key-by-key check: ``checked`` keys compared, ``failing`` those that fail (a few kept as examples).
        """
        failed = list(failing)
        return cls(
            check=check, table=table, source_value=checked, gold_value=checked - len(failed),
            difference=len(failed), ok=not failed, examples=example_keys(failed), note=note,
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form: money as exact decimal strings."""
        return {
            "check": self.check,
            "table": self.table,
            "scope": self.scope,
            "source_value": _json_number(self.source_value),
            "gold_value": _json_number(self.gold_value),
            "difference": _json_number(self.difference),
            "ok": self.ok,
            "examples": list(self.examples),
            "note": self.note,
        }

    @property
    def label(self) -> str:
        """``check[table scope]``, as used in failure messages."""
        return f"{self.check}[{self.table}{' ' + self.scope if self.scope else ''}]"


@dataclass
class ReconciliationReport:
    """
    Every check of one reconciliation run.

    :param mode: ``strict`` (quiesced source: everything must match) or ``grace``.
    :param grace_minutes: The grace window (0 in strict mode).
    :param source_taken_at: The source database's clock when it was read.
    :param warehouse: The warehouse backend read (``duckdb`` / ``snowflake``).
    :param results: The result rows, in check order.
    :param in_flight: Source table -> keys left out as in flight (grace mode only).
    :param notes: Checks not run, and why (shown with the report).
    """

    mode: str
    grace_minutes: int
    source_taken_at: datetime
    warehouse: str
    results: list[CheckResult] = field(default_factory=list)
    in_flight: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every check passed."""
        return all(result.ok for result in self.results)

    @property
    def failures(self) -> list[CheckResult]:
        """The checks that found a difference."""
        return [result for result in self.results if not result.ok]

    def failure_summary(self) -> str:
        """One line naming every failing check, its table and difference."""
        return "; ".join(
            f"{r.label}: difference {r.difference}" + (f" ({r.note})" if r.note else "") for r in self.failures
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form of the whole report."""
        return {
            "verdict": "reconciled" if self.ok else "differences",
            "ok": self.ok,
            "mode": self.mode,
            "grace_minutes": self.grace_minutes,
            "source_taken_at": self.source_taken_at.isoformat(),
            "warehouse": self.warehouse,
            "in_flight": dict(self.in_flight),
            "notes": list(self.notes),
            "checks": len(self.results),
            "failed": len(self.failures),
            "results": [result.to_dict() for result in self.results],
        }

    def to_json(self) -> str:
        """The report as indented JSON."""
        return json.dumps(self.to_dict(), indent=2)

    def render(self) -> str:
        """The report as a text table, then the verdict."""
        header = ("check", "table", "scope", "source", "gold", "difference", "ok")
        rows = [
            (
                r.check,
                r.table,
                r.scope,
                str(r.source_value),
                str(r.gold_value),
                str(r.difference),
                "ok" if r.ok else "DIFF",
            )
            for r in self.results
        ]
        widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
        numeric = {3, 4, 5}

        def line(cells: tuple[str, ...]) -> str:
            return "  ".join(
                cell.rjust(width) if i in numeric else cell.ljust(width)
                for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
            ).rstrip()

        mode = "strict" if self.mode == "strict" else f"grace {self.grace_minutes} min"
        out = [
            f"reconciliation: source at {self.source_taken_at.isoformat()} vs {self.warehouse} gold ({mode})",
            line(header),
            line(tuple("-" * width for width in widths)),
            *(line(row) for row in rows),
        ]
        if self.in_flight:
            out.append("in flight (left out): " + ", ".join(f"{t} {n}" for t, n in self.in_flight.items()))
        out.extend(f"note: {note}" for note in self.notes)
        for failure in self.failures:
            detail = failure.note
            if failure.examples:
                detail += f"{'; ' if detail else ''}example keys: {', '.join(failure.examples)}"
            out.append(f"DIFF {failure.label}: {detail}")
        out.append(
            "verdict: reconciled" if self.ok else f"verdict: {len(self.failures)} of {len(self.results)} checks differ"
        )
        return "\n".join(out)


def example_keys(keys: Iterable[Any]) -> tuple[str, ...]:
    """At most :data:`MAX_EXAMPLES` of ``keys``, sorted, without repeats, as strings."""
    return tuple(str(key) for key in sorted(set(keys))[:MAX_EXAMPLES])


def _json_number(value: Number) -> int | str:
    return str(value) if isinstance(value, Decimal) else value
