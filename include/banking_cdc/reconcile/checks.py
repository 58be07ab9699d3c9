"""The comparison of a source snapshot with a gold snapshot: pure logic, no I/O.

What each check asserts (per table; keys and counts only in the report):

- ``row_count``: live source rows = gold current rows (dimensions: ``is_current`` rows; facts: rows not
  ``is_deleted``).
- ``amount_sum``: per (status, direction), the sum of live source transaction amounts = the sum of gold's
  live fact amounts, exactly (Decimal); and the posted amount of ``fct_daily_activity`` = the source's.
- ``balance_total``: the sum of ``accounts.balance`` = the sum of each account's latest closing balance in
  ``fct_daily_account_balances`` (an account without postings has balance 0 and no row).
- ``balance_per_account``: the same, account by account.
- ``daily_activity``: per (UTC booking day, type), counts by status, posted amounts and active accounts of
  ``fct_daily_activity`` = the same figures computed from the source.
- ``current_rows`` (dimensions) / ``fact_rows`` (facts): every live source key has exactly one current gold
  row and its compared attributes equal the source's (PII as gold's hash / masked form).
- ``scd2_versions``: for every key with versions in gold or changes in bronze, ``1 <= versions <= tracked
  changes``, where tracked changes are the consecutive distinct states of the tracked columns (and the
  delete flag) among the key's bronze events in commit order. Not ``=``: a dbt snapshot sees states, so
  several tracked changes between two runs collapse into one version (documented limitation). That the
  *current* version equals the source is ``current_rows``.
- ``deleted_keys_closed``: every key gold holds that the source no longer has has no current row
  (dimensions: no ``is_current`` version; facts: ``is_deleted``).

Strict mode (no grace) compares everything: use it on a quiesced source whose changes have all reached
gold. Grace mode leaves out the keys *in flight*: source rows changed in the last ``grace`` minutes (on the
database's clock), gold keys the source no longer has whose delete is not yet in bronze or is newer than
the window, and, for balances and daily activity, the accounts and booking days those keys touch. A lost
delete therefore shows only in strict mode.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from banking_cdc.exceptions import BankingCdcError
from banking_cdc.reconcile.report import CheckResult, ReconciliationReport
from banking_cdc.reconcile.snapshot import GoldSnapshot, GoldTable, Row, SourceSnapshot, SourceTable
from banking_cdc.reconcile.spec import ACCOUNTS, TABLES, TRANSACTIONS, TableSpec

ZERO = Decimal("0.00")
ACTIVITY_FIELDS = (
    "transaction_count",
    "posted_count",
    "pending_count",
    "cancelled_count",
    "posted_amount",
    "posted_net_amount",
    "active_accounts",
)


class ReconcileConfigError(BankingCdcError):
    """Reconciliation options are invalid; the message names the option."""


@dataclass(frozen=True)
class ReconcileOptions:
    """
    How to compare.

    :param grace_minutes: 0 = strict (everything must match); N > 0 = leave out keys whose last source
        change is younger than N minutes (gold lags the source).
    """

    grace_minutes: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.grace_minutes, bool) or not isinstance(self.grace_minutes, int) or self.grace_minutes < 0:
            raise ReconcileConfigError(f"grace_minutes must be an integer >= 0, got {self.grace_minutes!r}")

    @property
    def strict(self) -> bool:
        """Whether every key is compared."""
        return self.grace_minutes == 0


def reconcile(
    source: SourceSnapshot, gold: GoldSnapshot, options: ReconcileOptions, warehouse: str = "duckdb"
) -> ReconciliationReport:
    """
    Compare ``source`` with ``gold``; return every check's result.

    :param source: The source database's live rows.
    :param gold: The warehouse's gold tables (and the bronze facts SCD2 and grace need).
    :param options: Strict or grace.
    :param warehouse: Name of the warehouse backend, for the report.
    """
    cutoff = None if options.strict else source.taken_at - timedelta(minutes=options.grace_minutes)
    report = ReconciliationReport(
        mode="strict" if options.strict else "grace",
        grace_minutes=options.grace_minutes,
        source_taken_at=source.taken_at,
        warehouse=warehouse,
    )
    in_flight = {
        spec.table: _in_flight(spec, source.tables[spec.table], gold.tables[spec.table], cutoff) for spec in TABLES
    }
    if cutoff is not None:
        report.in_flight = {table: len(keys) for table, keys in in_flight.items()}
    for spec in TABLES:
        src, gld, skip = source.tables[spec.table], gold.tables[spec.table], in_flight[spec.table]
        report.results.append(_row_count(spec, src, gld, skip))
        report.results.append(_current_rows(spec, src, gld, skip))
        if spec.is_dimension:
            report.results.append(_scd2_versions(spec, gld, skip))
        report.results.append(_deleted_keys_closed(spec, src, gld, skip, cutoff))
    transactions_src = source.tables[TRANSACTIONS.table]
    transactions_gold = gold.tables[TRANSACTIONS.table]
    skip_tx = in_flight[TRANSACTIONS.table]
    report.results.extend(_amount_sums(transactions_src, transactions_gold, skip_tx))
    skip_accounts = set(in_flight[ACCOUNTS.table]) | _touched(
        transactions_src, transactions_gold, skip_tx, "account_id"
    )
    report.results.extend(_balances(source.tables[ACCOUNTS.table], gold, skip_accounts))
    skip_days = {_utc_day(value) for value in _touched(transactions_src, transactions_gold, skip_tx, "booked_at")}
    report.results.extend(_daily_activity(transactions_src, gold, skip_days))
    return report


# ---------------------------------------------------------------------------------------------- grace
def _in_flight(spec: TableSpec, src: SourceTable, gold: GoldTable, cutoff: datetime | None) -> set[int]:
    """Keys left out in grace mode: changed in the window, or deleted with the delete not yet visible."""
    if cutoff is None:
        return set()
    keys = {key for key, changed in src.changed_at.items() if changed >= cutoff}
    for key in _gold_keys(gold) - src.rows.keys():
        deleted = gold.deleted_at.get(key)
        if deleted is None or deleted >= cutoff:
            keys.add(key)
    return keys


def _touched(src: SourceTable, gold: GoldTable, keys: Iterable[int], column: str) -> set[Any]:
    """Values of ``column`` of the given transactions, on either side."""
    values: set[Any] = set()
    for key in keys:
        for row in [src.rows.get(key), *gold.current.get(key, [])]:
            if row is not None and row.get(column) is not None:
                values.add(row[column])
    return values


# --------------------------------------------------------------------------------------------- checks
def _row_count(spec: TableSpec, src: SourceTable, gold: GoldTable, skip: set[int]) -> CheckResult:
    source_n = sum(1 for key in src.rows if key not in skip)
    gold_n = sum(len(rows) for key, rows in gold.current.items() if key not in skip)
    extra = sorted(k for k in gold.current.keys() - src.rows.keys() if k not in skip)
    missing = sorted(k for k in src.rows.keys() - gold.current.keys() if k not in skip)
    what = "current rows" if spec.is_dimension else "rows not is_deleted"
    note = f"live source rows vs gold {what}"
    if source_n != gold_n:
        note += f"; {len(missing)} source keys without, {len(extra)} gold keys not live in the source"
    return CheckResult.figures("row_count", spec.gold_table, source_n, gold_n, note=note, examples=[*missing, *extra])


def _current_rows(spec: TableSpec, src: SourceTable, gold: GoldTable, skip: set[int]) -> CheckResult:
    checked = 0
    failing: list[int] = []
    missing = duplicated = 0
    columns: Counter[str] = Counter()
    for key, expected in src.rows.items():
        if key in skip:
            continue
        checked += 1
        rows = gold.current.get(key, [])
        if not rows:
            missing += 1
            failing.append(key)
            continue
        if len(rows) > 1:
            duplicated += 1
            failing.append(key)
            continue
        differing = [c for c in spec.compared if rows[0].get(c) != expected.get(c)]
        if differing:
            columns.update(differing)
            failing.append(key)
    parts = []
    if missing:
        parts.append(f"{missing} without a current row")
    if duplicated:
        parts.append(f"{duplicated} with several current rows")
    if columns:
        parts.append("differing columns: " + ", ".join(f"{c} ({n})" for c, n in sorted(columns.items())))
    skipped = "; not compared: " + ", ".join(f"{c} ({why})" for c, why in spec.skipped) if spec.skipped else ""
    return CheckResult.key_by_key(
        "current_rows" if spec.is_dimension else "fact_rows", spec.gold_table, checked, failing,
        note=("; ".join(parts) if parts else f"{len(spec.compared)} columns compared") + skipped,
    )  # fmt: skip


def _scd2_versions(spec: TableSpec, gold: GoldTable, skip: set[int]) -> CheckResult:
    keys = sorted((gold.versions.keys() | gold.tracked_changes.keys()) - skip)
    too_few: list[int] = []
    too_many: list[int] = []
    for key in keys:
        versions = gold.versions[key].versions if key in gold.versions else 0
        changes = gold.tracked_changes.get(key, 0)
        if versions < 1:
            too_few.append(key)
        elif versions > changes:
            too_many.append(key)
    failing = sorted(too_few + too_many)
    total_versions = sum(gold.versions[k].versions for k in keys if k in gold.versions)
    total_changes = sum(gold.tracked_changes.get(k, 0) for k in keys)
    note = (
        f"asserts 1 <= versions <= tracked changes per key; {total_versions} versions, {total_changes} tracked changes"
    )
    if too_few:
        note += f"; {len(too_few)} keys changed in bronze without a version"
    if too_many:
        note += f"; {len(too_many)} keys with more versions than tracked changes"
    return CheckResult.key_by_key("scd2_versions", spec.gold_table, len(keys), failing, note=note)


def _deleted_keys_closed(
    spec: TableSpec, src: SourceTable, gold: GoldTable, skip: set[int], cutoff: datetime | None
) -> CheckResult:
    deleted = sorted(k for k in _gold_keys(gold) - src.rows.keys() if k not in skip)
    still_open = [k for k in deleted if gold.current.get(k)]
    what = "an is_current version" if spec.is_dimension else "a row not is_deleted"
    note = f"keys gold holds that the source no longer has must not have {what}"
    if still_open:
        note += f"; {len(still_open)} still open"
    return CheckResult.key_by_key("deleted_keys_closed", spec.gold_table, len(deleted), still_open, note=note)


def _amount_sums(src: SourceTable, gold: GoldTable, skip: set[int]) -> list[CheckResult]:
    source_sums: dict[tuple[str, str], Decimal] = {}
    gold_sums: dict[tuple[str, str], Decimal] = {}
    for key, row in src.rows.items():
        if key not in skip:
            scope = (row["status"], row["direction"])
            source_sums[scope] = source_sums.get(scope, ZERO) + row["amount"]
    for key, rows in gold.current.items():
        if key not in skip:
            for row in rows:
                scope = (row["status"], row["direction"])
                gold_sums[scope] = gold_sums.get(scope, ZERO) + row["amount"]
    return [
        CheckResult.figures(
            "amount_sum",
            TRANSACTIONS.gold_table,
            source_sums.get(scope, ZERO),
            gold_sums.get(scope, ZERO),
            scope=f"status={scope[0]} direction={scope[1]}",
            note="sum of amount, exact",
        )
        for scope in sorted(source_sums.keys() | gold_sums.keys())
    ]


def _balances(accounts: SourceTable, gold: GoldSnapshot, skip: set[int]) -> list[CheckResult]:
    keys = sorted((accounts.rows.keys() | gold.balances.keys()) - skip)
    source_total = gold_total = ZERO
    failing = []
    for key in keys:
        s = accounts.rows[key]["balance"] if key in accounts.rows else ZERO
        g = gold.balances.get(key, ZERO)
        source_total += s
        gold_total += g
        if s != g:
            failing.append(key)
    table = "fct_daily_account_balances"
    return [
        CheckResult.figures(
            "balance_total",
            table,
            source_total,
            gold_total,
            note="sum of accounts.balance vs sum of each account's latest closing_balance, exact",
        ),
        CheckResult.key_by_key(
            "balance_per_account",
            table,
            len(keys),
            failing,
            note="accounts.balance vs the account's latest closing_balance (0 without postings)",
        ),
    ]


def _daily_activity(transactions: SourceTable, gold: GoldSnapshot, skip_days: set[date]) -> list[CheckResult]:
    expected: dict[tuple[date, str], dict[str, Any]] = {}
    accounts: dict[tuple[date, str], set[int]] = {}
    for row in transactions.rows.values():
        group = (_utc_day(row["booked_at"]), row["txn_type"])
        if group[0] in skip_days:
            continue
        figures = expected.setdefault(group, {name: 0 for name in ACTIVITY_FIELDS[:4]} | {
            "posted_amount": ZERO, "posted_net_amount": ZERO,
        })  # fmt: skip
        figures["transaction_count"] += 1
        figures[f"{row['status']}_count"] += 1
        if row["status"] == "posted":
            figures["posted_amount"] += row["amount"]
            figures["posted_net_amount"] += row["amount"] if row["direction"] == "credit" else -row["amount"]
        accounts.setdefault(group, set()).add(row["account_id"])
    for group, members in accounts.items():
        expected[group]["active_accounts"] = len(members)
    actual = {group: figures for group, figures in gold.activity.items() if group[0] not in skip_days}
    groups = sorted(expected.keys() | actual.keys())
    failing: list[str] = []
    columns: Counter[str] = Counter()
    for group in groups:
        want, got = expected.get(group), actual.get(group)
        if want is None or got is None:
            failing.append(f"{group[0].isoformat()}/{group[1]}")
            columns["(group missing on one side)"] += 1
            continue
        differing = [name for name in ACTIVITY_FIELDS if want[name] != got.get(name)]
        if differing:
            columns.update(differing)
            failing.append(f"{group[0].isoformat()}/{group[1]}")
    source_posted = sum((f["posted_amount"] for f in expected.values()), ZERO)
    gold_posted = sum((f.get("posted_amount", ZERO) for f in actual.values()), ZERO)
    table = "fct_daily_activity"
    note = "per UTC booking day and type: counts by status, posted amounts, active accounts"
    if columns:
        note += "; differing: " + ", ".join(f"{c} ({n})" for c, n in sorted(columns.items()))
    return [
        CheckResult.figures(
            "amount_sum", table, source_posted, gold_posted, scope="status=posted", note="sum of posted_amount, exact"
        ),
        # failing groups are unique, in day/type order: the examples are the first few
        CheckResult.key_by_key("daily_activity", table, len(groups), failing, note=note),
    ]


# -------------------------------------------------------------------------------------------- helpers
def _gold_keys(gold: GoldTable) -> set[int]:
    return set(gold.current) | gold.closed | set(gold.versions)


def _utc_day(value: datetime) -> date:
    return value.astimezone(UTC).date()


__all__ = ["ReconcileConfigError", "ReconcileOptions", "Row", "reconcile"]
