"""The rejects metrics of cdc_monitoring from silver.rejects and the silver models (query faked)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from banking_cdc.monitoring.metrics import MISSING, UNREACHABLE, evaluate
from banking_cdc.monitoring.rejects import MAX_STATUS, NOT_BUILT, collect_rejects, reasons_text
from banking_cdc.settings import NEW_REJECTS, REJECTED_KEYS, REJECTED_VALUES

SINCE = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def by_metric(samples: Sequence[Any]) -> dict[tuple[str, str], Any]:
    return {(s.metric, s.subject): s for s in samples}


def test_counts_reasons_new_values_and_held_keys_per_model() -> None:
    calls: list[tuple[str, Sequence[Any]]] = []

    def query(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        calls.append((sql, params))
        if "FROM silver.rejects" in sql:
            return [
                ("stg_transactions", "amount", "more decimal places than numeric(18,2) holds", 3, 1),
                ("stg_transactions", "amount", "not a decimal number", 1, 0),
                ("current_ledger", "at", "impossible timestamp", 2, 2),
            ]
        return [(1,)] if "stg_transactions" in sql else [(0,)]

    samples = by_metric(
        collect_rejects(
            query, backend="duckdb", models=["current_ledger", "stg_accounts", "stg_transactions"], since=SINCE
        )
    )
    assert samples[(REJECTED_VALUES, "stg_transactions")].value == 4
    assert samples[(REJECTED_VALUES, "stg_transactions")].status == (
        "amount: more decimal places than numeric(18,2) holds (3); amount: not a decimal number (1)"
    )
    assert samples[(NEW_REJECTS, "stg_transactions")].value == 1
    assert samples[(NEW_REJECTS, "current_ledger")].value == 2
    assert samples[(REJECTED_KEYS, "stg_transactions")].value == 1
    assert (
        samples[(REJECTED_VALUES, "stg_accounts")].value == 0
        and samples[(REJECTED_VALUES, "stg_accounts")].status is None
    )
    assert calls[0][1] == [SINCE.timestamp()] and "to_timestamp(?)" in calls[0][0]


def test_before_any_model_ran_every_count_is_zero_and_unbuilt_models_do_not_alert() -> None:
    def query(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        raise RuntimeError(f"Catalog Error: Table with name {'rejects' if 'rejects' in sql else 'x'} does not exist!")

    samples = by_metric(collect_rejects(query, backend="duckdb", models=["stg_accounts"], since=SINCE))
    assert samples[(REJECTED_VALUES, "stg_accounts")].value == 0
    assert samples[(NEW_REJECTS, "stg_accounts")].value == 0
    assert samples[(REJECTED_KEYS, "stg_accounts")].status == NOT_BUILT
    assert not evaluate(samples[(REJECTED_KEYS, "stg_accounts")], None).breached


def test_a_model_built_before_the_rejects_columns_alerts() -> None:
    def query(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        if "FROM silver.rejects" in sql:
            return []
        raise RuntimeError('Binder Error: Referenced column "_rejected_lsn" not found in FROM clause!')

    (keys,) = [
        s for s in collect_rejects(query, backend="duckdb", models=["stg_x"], since=SINCE) if s.metric == REJECTED_KEYS
    ]
    assert keys.status == MISSING and evaluate(keys, None).breached


def test_an_unreachable_warehouse_is_recorded_not_raised() -> None:
    samples = collect_rejects(None, backend="snowflake", models=["stg_accounts"], since=SINCE)
    assert {s.status for s in samples} == {UNREACHABLE} and len(samples) == 3

    def broken(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        raise ConnectionError("connection reset")

    assert {s.status for s in collect_rejects(broken, backend="snowflake", models=["m"], since=SINCE)} == {UNREACHABLE}


def test_reasons_are_ordered_by_count_and_cut() -> None:
    text = reasons_text([("a", "x", 1), ("b", "y", 5)])
    assert text == "b: y (5); a: x (1)"
    long = reasons_text([(f"column_{n}", "reason " * 10, n) for n in range(40)])
    assert len(long) == MAX_STATUS and long.endswith("…")
