"""With the connector stopped the slot is inactive and retains more WAL with every write; both are recorded."""

from __future__ import annotations

import pytest
from airflow.providers.postgres.hooks.postgres import PostgresHook

from banking_cdc.monitoring.collectors import collect_replication_slots
from banking_cdc.monitoring.config import MonitoringConfig, Threshold
from banking_cdc.monitoring.observe import observe
from banking_cdc.monitoring.store import MetricRow, MetricsStore
from banking_cdc.operators.monitoring import ReplicationSlotOperator
from tests.integration.monitoring.conftest import SLOT, new_run_id, recorded, set_connector, wait_until
from tests.source_changes import change_every_table

pytestmark = pytest.mark.integration


def retained_now() -> tuple[int, bool]:
    """The slot's retained WAL bytes and activity, read directly."""
    conn = PostgresHook(postgres_conn_id="postgres_source").get_conn()
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint, active "
                "FROM pg_replication_slots WHERE slot_name = %s",
                (SLOT,),
            )
            retained, active = cur.fetchone()
    finally:
        conn.close()
    return int(retained), bool(active)


def observe_slot(store: MetricsStore) -> tuple[int, dict[str, MetricRow], int]:
    """Observe through the DAG's operator, between two direct reads of the slot."""
    before, _ = retained_now()
    run_id = new_run_id()
    ReplicationSlotOperator(task_id="replication_slot").execute({"run_id": run_id})  # type: ignore[arg-type]
    after, _ = retained_now()
    rows = {
        metric: recorded(store, run_id, metric)[SLOT]
        for metric in ("postgres.slot_retained_wal_bytes", "postgres.slot_active")
    }
    return before, rows, after


def test_growing_slot_of_a_stopped_connector_is_recorded(store: MetricsStore, connector: str) -> None:
    set_connector("stop", "STOPPED")
    wait_until(lambda: not retained_now()[1], f"slot {SLOT} released by the stopped connector")

    before, first, after = observe_slot(store)
    wal = first["postgres.slot_retained_wal_bytes"]
    assert wal.value is not None and before <= wal.value <= after
    assert wal.status in ("reserved", "extended"), wal.status
    assert (wal.threshold, wal.breached) == (1073741824.0, False)
    active = first["postgres.slot_active"]
    assert (active.value, active.threshold, active.breached) == (0.0, 1.0, True)

    for _ in range(20):  # the bank keeps writing while nobody reads the slot
        change_every_table()
    written, _ = retained_now()
    before, second, after = observe_slot(store)
    grown = second["postgres.slot_retained_wal_bytes"]
    assert grown.value is not None and before <= grown.value <= after
    assert grown.value >= written > wal.value, (wal.value, written, grown.value)
    assert grown.status in ("reserved", "extended")
    print(f"slot {SLOT}: retained {wal.value:.0f} -> {grown.value:.0f} bytes, wal_status {grown.status}")
    assert second["postgres.slot_active"].value == 0.0

    # a threshold below the retained WAL raises the alert, with the threshold recorded
    low = MonitoringConfig(thresholds={"postgres.slot_retained_wal_bytes": Threshold(default=written - 1)})
    run_id = new_run_id()
    observe(collect_replication_slots([SLOT]), low, store=store, collector="replication_slot", run_id=run_id)
    row = recorded(store, run_id, "postgres.slot_retained_wal_bytes")[SLOT]
    assert (row.threshold, row.breached) == (float(written - 1), True)
    assert row.value is not None and row.value >= written

    set_connector("resume", "RUNNING")
    wait_until(lambda: retained_now()[1], f"slot {SLOT} active again")
    _, third, _ = observe_slot(store)
    assert (third["postgres.slot_active"].value, third["postgres.slot_active"].breached) == (1.0, False)


def test_missing_slot_and_unreachable_database_are_recorded(
    store: MetricsStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = new_run_id()
    config = MonitoringConfig.load()
    observe(collect_replication_slots(["no_such_slot"]), config, store=store, collector="t", run_id=run_id)
    row = recorded(store, run_id, "postgres.slot_retained_wal_bytes")["no_such_slot"]
    assert (row.value, row.status, row.breached) == (None, "MISSING", True)

    monkeypatch.setenv("AIRFLOW_CONN_POSTGRES_CLOSED", "postgres://nobody:x@127.0.0.1:9/none")
    run_id = new_run_id()
    samples = collect_replication_slots([SLOT], postgres_conn_id="postgres_closed")
    observe(samples, config, store=store, collector="t", run_id=run_id)
    rows = {m: recorded(store, run_id, m)[SLOT] for m in ("postgres.slot_retained_wal_bytes", "postgres.slot_active")}
    assert {m: (r.value, r.status, r.breached) for m, r in rows.items()} == {
        "postgres.slot_retained_wal_bytes": (None, "UNREACHABLE", True),
        "postgres.slot_active": (None, "UNREACHABLE", True),
    }
