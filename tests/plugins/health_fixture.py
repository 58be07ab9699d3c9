"""Metric rows like the monitoring DAG and the dbt test listener write, for health page tests."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from banking_cdc.monitoring.health_report import (
    CONNECTOR_STATE,
    CONSUMER_LAG,
    DBT_TEST,
    FRESHNESS,
    SLOT_WAL,
    TASK_STATE,
    THROUGHPUT,
    UNLOADED_FILES,
)
from banking_cdc.monitoring.store import MetricRow, MetricSample

GOLD_MODELS = ("dim_accounts", "dim_customers", "fct_daily_account_balances", "fct_daily_activity", "fct_transactions")
TOPICS = ("bank.public.accounts", "bank.public.customers", "bank.public.transactions")
PARTITIONS = 3
GROUP = "banking-cdc"
TEST_TASKS = ("stg_accounts.test", "dim_customers.test", "assert_no_orphan_transactions_test")


def monitoring_samples(step: int) -> list[MetricSample]:
    """What one run of the monitoring DAG records at observation number ``step``."""
    wave = 1 + math.sin(step / 2)
    samples = [
        MetricSample(FRESHNESS, model, 30.0 + 20 * i + 40 * wave, threshold=900.0)
        for i, model in enumerate(GOLD_MODELS)
    ]
    samples += [
        MetricSample(CONSUMER_LAG, f"{GROUP}/{topic}/{p}", float(10 * (t + 1) * (p + 1) + 50 * step), threshold=1e5)
        for t, topic in enumerate(TOPICS)
        for p in range(PARTITIONS)
    ]
    samples += [MetricSample(THROUGHPUT, topic, 1000.0 * (t + 1) * wave) for t, topic in enumerate(TOPICS)]
    samples += [
        MetricSample(SLOT_WAL, "banking_cdc_slot", float(2**20 * (step + 1)), status="reserved", threshold=2.0**31),
        MetricSample(CONNECTOR_STATE, "banking-source", 1.0, status="RUNNING"),
        MetricSample(TASK_STATE, "banking-source/0", 1.0, status="RUNNING"),
        MetricSample(UNLOADED_FILES, TOPICS[2], float(step % 3), threshold=50.0),
    ]
    return samples


def dbt_test_samples(step: int) -> list[tuple[MetricSample, str]]:
    """dbt test results of DAG run number ``step``: (sample, run_id); one test fails in odd runs."""
    run_id = f"asset_triggered__seed_{step:02d}"
    return [
        (
            MetricSample(DBT_TEST, task, 0.0 if (step % 2 and i == 2) else 1.0,
                         status="failed" if (step % 2 and i == 2) else "success"),
            run_id,
        )
        for i, task in enumerate(TEST_TASKS)
    ]  # fmt: skip


def rows(start: datetime, steps: int, every: timedelta) -> list[MetricRow]:
    """The rows ``steps`` monitoring runs and dbt runs would have stored from ``start`` on."""
    out: list[MetricRow] = []
    for step in range(steps):
        at = start + step * every
        for s in monitoring_samples(step):
            out.append(MetricRow(s.metric, s.subject, s.value, s.status, s.threshold, s.breached, at, f"mon_{step}"))
        for s, run_id in dbt_test_samples(step):
            out.append(MetricRow(s.metric, s.subject, s.value, s.status, s.threshold, s.breached, at, run_id))
    return out
