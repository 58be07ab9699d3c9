"""Capture coverage: unpublished tables and source changes that never move their topic are breaches."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from banking_cdc.capture.config import CaptureConfig
from banking_cdc.monitoring.collectors import apply_thresholds
from banking_cdc.monitoring.config import MonitoringConfig
from banking_cdc.monitoring.coverage import Counters, coverage_samples, unstreamed_changes
from banking_cdc.monitoring.metrics import MISSING, UNREACHABLE
from banking_cdc.settings import SOURCE_CHANGES, TABLE_PUBLISHED, TOPIC_END, UNSTREAMED

T0 = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)
GRACE = timedelta(seconds=60)


def at(seconds: float, changes: float, end: float) -> Counters:
    return Counters(T0 + timedelta(seconds=seconds), changes, end)


def test_changes_of_a_settled_window_with_a_still_topic_are_unstreamed() -> None:
    history = [at(0, 100, 500), at(60, 130, 500)]
    assert unstreamed_changes(history, at(120, 130, 500), GRACE) == 30


def test_a_topic_that_moved_since_the_window_began_counts_nothing() -> None:
    history = [at(0, 100, 500), at(60, 130, 500)]
    assert unstreamed_changes(history, at(120, 140, 531), GRACE) == 0


def test_changes_younger_than_the_grace_are_not_judged_yet() -> None:
    # the 30 changes after 0 s were observed at 90 s, only 30 s before now: they may still be on their way
    history = [at(-60, 90, 500), at(0, 100, 500), at(90, 130, 500)]
    assert unstreamed_changes(history, at(120, 130, 500), GRACE) == 10
    assert unstreamed_changes([at(90, 130, 500)], at(120, 130, 500), GRACE) is None


def test_too_little_history_gives_no_value_and_a_quiet_table_gives_zero() -> None:
    assert unstreamed_changes([], at(120, 130, 500), GRACE) is None
    assert unstreamed_changes([at(0, 100, 500)], at(120, 100, 500), GRACE) is None
    assert unstreamed_changes([at(0, 100, 500), at(60, 100, 500)], at(120, 100, 500), GRACE) == 0


def test_counter_resets_read_as_no_change() -> None:
    assert unstreamed_changes([at(0, 100, 500), at(60, 5, 500)], at(120, 5, 500), GRACE) == 0


def _capture() -> CaptureConfig:
    return CaptureConfig.load()


def _by(samples: list) -> dict:
    return {(s.metric, s.subject): s for s in samples}


def test_samples_breach_for_an_unpublished_table_and_its_unstreamed_changes() -> None:
    capture = _capture()
    published = ["public.customers", "public.accounts", "public.debezium_heartbeat", "public.debezium_signal"]
    changes = {"customers": 10.0, "accounts": 20.0, "transactions": 80.0}
    ends = {"customers": 11.0, "accounts": 25.0, "transactions": 40.0}
    history = {"public.transactions": [at(0, 50, 40), at(60, 80, 40)]}
    samples = coverage_samples(
        capture, published=published, changes=changes, topic_ends=ends, history=history,
        now=T0 + timedelta(seconds=120), grace=GRACE,
    )  # fmt: skip
    judged = _by(apply_thresholds(samples, MonitoringConfig.load()))
    assert (
        judged[(TABLE_PUBLISHED, "public.transactions")].value == 0
        and judged[(TABLE_PUBLISHED, "public.transactions")].breached
    )
    assert judged[(UNSTREAMED, "public.transactions")].value == 30
    assert judged[(UNSTREAMED, "public.transactions")].breached
    assert not judged[(TABLE_PUBLISHED, "public.accounts")].breached
    assert judged[(UNSTREAMED, "public.accounts")].value is None  # no history yet
    assert not any(judged[(m, "public.accounts")].breached for m in (SOURCE_CHANGES, TOPIC_END, UNSTREAMED))


def test_an_absent_table_a_missing_topic_and_unreachable_services_alert() -> None:
    capture = _capture()
    samples = coverage_samples(
        capture, published=["public.accounts"], changes={"accounts": 1.0, "transactions": 1.0},
        topic_ends={"accounts": 1.0, "customers": 1.0}, history={}, now=T0, grace=GRACE,
    )  # fmt: skip
    by = _by(samples)
    assert by[(TABLE_PUBLISHED, "public.customers")].status == MISSING
    assert by[(TOPIC_END, "public.transactions")].status == MISSING
    down = _by(
        coverage_samples(capture, published=None, changes=None, topic_ends=None, history={}, now=T0, grace=GRACE)
    )
    assert {s.status for s in down.values()} == {UNREACHABLE}
    assert (UNSTREAMED, "public.accounts") not in down
