"""Reading landed file lists from triggering Asset events."""

from __future__ import annotations

from types import SimpleNamespace

from banking_cdc.assets import BRONZE, LANDING, landed_files


def test_files_of_every_landing_event_in_order_without_repeats() -> None:
    events = {
        LANDING: [
            SimpleNamespace(extra={"files": ["raw/a/partition=0/1.parquet", "raw/a/partition=1/1.parquet"]}),
            SimpleNamespace(extra={"files": ["raw/a/partition=0/1.parquet", "raw/b/partition=0/2.parquet"]}),
            SimpleNamespace(extra={}),
        ],
        BRONZE: [SimpleNamespace(extra={"files": ["not/landing"]})],
    }
    assert landed_files(events, LANDING) == [
        "raw/a/partition=0/1.parquet",
        "raw/a/partition=1/1.parquet",
        "raw/b/partition=0/2.parquet",
    ]


def test_a_manual_run_has_no_events() -> None:
    assert landed_files(None, LANDING) == []
    assert landed_files({}, LANDING) == []
