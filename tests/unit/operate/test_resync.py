"""Resync helpers: param validation, the signal row, dbt selection, notifications, ledger coverage."""

from __future__ import annotations

import json

import pytest

from banking_cdc.capture.config import CaptureConfig
from banking_cdc.operate.resync import (
    ResyncError,
    dbt_selection,
    notification_topic,
    resync_tables,
    signal_id,
    signal_insert_sql,
    snapshot_progress,
    snapshot_signal,
    uncovered_offsets,
)

CAPTURE = CaptureConfig.load()


def test_tables_are_validated_against_capture_yaml_and_ordered() -> None:
    assert resync_tables(CAPTURE, ["transactions", "accounts", "accounts"]) == ["accounts", "transactions"]
    assert resync_tables(CAPTURE, "public.accounts, customers") == ["customers", "accounts"]


@pytest.mark.parametrize(
    ("tables", "message"),
    [
        (
            ["accounts", "loans"],
            "'loans' not captured: capture.yaml source.tables is customers, accounts, transactions",
        ),
        ([], "must name at least one captured table"),
        ("", "must name at least one captured table"),
        ([3], "must hold table names"),
    ],
)
def test_a_bad_tables_param_fails_naming_it(tables: object, message: str) -> None:
    with pytest.raises(ResyncError, match=message):
        resync_tables(CAPTURE, tables)


def test_signal_row_is_an_incremental_snapshot_of_qualified_tables() -> None:
    kind, data = snapshot_signal(CAPTURE, ["accounts", "transactions"])
    assert kind == "execute-snapshot"
    assert json.loads(data) == {"data-collections": ["public.accounts", "public.transactions"], "type": "INCREMENTAL"}
    assert signal_insert_sql(CAPTURE) == (
        "INSERT INTO public.debezium_signal (id, type, data) VALUES (%s, %s, %s) ON CONFLICT (id) DO NOTHING"
    )


def test_signal_id_is_fixed_per_run_and_fits_the_column() -> None:
    first = signal_id("cdc_resync", "manual__2026-01-01T00:00:00+00:00")
    assert first == signal_id("cdc_resync", "manual__2026-01-01T00:00:00+00:00")
    assert first != signal_id("cdc_resync", "manual__2026-01-02T00:00:00+00:00")
    assert len(first) <= 64  # debezium_signal.id is varchar(64)


def test_dbt_selection_is_each_staging_model_and_downstream() -> None:
    assert dbt_selection(["customers", "accounts"]) == "stg_customers+ stg_accounts+"


def test_notification_topic_comes_from_capture_yaml_or_fails_naming_the_key() -> None:
    assert notification_topic(CAPTURE) == "bank.debezium.notifications"
    data = {
        "source": {"schema": "public", "tables": ["accounts"], "publication": "p", "heartbeat_table": "h",
                   "signal_table": "s"},
        "topics": {"prefix": "bank", "replication_factor": 1, "partitions": {"accounts": 1}},
        "connector": {"name": "c", "config": {k: v for k, v in CAPTURE.connector.config.items()
                                               if not k.startswith("notification.")}},
    }  # fmt: skip
    with pytest.raises(ResyncError, match=r"notification\.enabled\.channels"):
        notification_topic(CaptureConfig.from_dict(data))


def _note(signal: str, kind: str, aggregate: str = "Incremental Snapshot", **extra: str) -> dict[str, object]:
    return {"id": signal, "aggregate_type": aggregate, "type": kind, "additional_data": extra}


def test_progress_follows_only_this_signals_incremental_notifications() -> None:
    notes = [
        _note("x", "COMPLETED", aggregate="Initial Snapshot"),
        _note("other", "COMPLETED"),
        _note("sig", "STARTED"),
        _note("sig", "TABLE_SCAN_COMPLETED", scanned_collection="public.accounts", total_rows_scanned="18",
              status="SUCCEEDED"),
    ]  # fmt: skip
    progress = snapshot_progress("sig", notes)
    assert (progress.status, progress.done, progress.rows_scanned) == ("STARTED", False, {"public.accounts": 18})
    done = snapshot_progress("sig", [*notes, _note("sig", "COMPLETED"), _note("sig", "IN_PROGRESS")])
    assert (done.status, done.done) == ("COMPLETED", True)
    assert snapshot_progress("sig", [_note("sig", "ABORTED")]).status == "ABORTED"
    assert snapshot_progress("sig", []).status == "pending"


def test_uncovered_offsets_finds_the_first_gap_per_partition() -> None:
    ledger = [(0, 0, 9), (0, 10, 19), (1, 0, 4), (1, 8, 12), (2, 0, 3)]
    assert uncovered_offsets(ledger, marks={0: 5, 1: 0, 2: 4}, ends={0: 20, 1: 13, 2: 4}) == {1: (5, 13)}
    assert uncovered_offsets(ledger, marks={0: 5}, ends={0: 21}) == {0: (20, 21)}
    assert uncovered_offsets([], marks={0: 7}, ends={0: 7}) == {}  # nothing to load in that partition
    assert uncovered_offsets([(0, 0, 50)], marks={0: 10}, ends={0: 30}) == {}
