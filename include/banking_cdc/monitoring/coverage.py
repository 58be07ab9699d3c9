"""Capture coverage: every captured table is published, and its committed changes reach its topic.

A connector can be RUNNING, its slot active and its lag zero while a captured table's changes never reach Kafka
(the table left the publication, a filter excludes it). Nothing else in the pipeline would notice: no event means
no file, no load, no stale partition. This collector compares the source's own counters with the topics:

- ``capture.table_published``: 1 when the connector's publication publishes the table (0 breaches);
- ``capture.source_changes``: ``n_tup_ins + n_tup_upd + n_tup_del`` of ``pg_stat_user_tables`` (recorded);
- ``capture.topic_end_offset``: the sum of the topic's high watermarks (recorded);
- ``capture.unstreamed_changes``: the rows changed in the source between two earlier observations, the later
  at least ``capture.grace_seconds`` old, when the topic has not moved at all since the earlier one (above 0
  breaches). See :func:`unstreamed_changes` for the exact rule and its limits.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from banking_cdc.capture.config import CaptureConfig
from banking_cdc.monitoring.metrics import MISSING, UNREACHABLE
from banking_cdc.monitoring.store import MetricSample
from banking_cdc.settings import SOURCE_CHANGES, TABLE_PUBLISHED, TOPIC_END, UNSTREAMED

log = logging.getLogger(__name__)

#: the consumer group of the watermark reads (metadata only: it never joins, reads or commits)
COVERAGE_GROUP = "bcdc-monitoring"

_STATS_SQL = """
SELECT relname, n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_user_tables
WHERE schemaname = %s AND relname = ANY(%s)
"""


@dataclass(frozen=True)
class Counters:
    """
    One observation of a table's counters.

    :param observed_at: When.
    :param source_changes: Rows changed in the source (``capture.source_changes``).
    :param topic_end: Offsets written to its topic (``capture.topic_end_offset``).
    """

    observed_at: datetime
    source_changes: float
    topic_end: float


def unstreamed_changes(history: Sequence[Counters], now: Counters, grace: timedelta) -> float | None:
    """
    The source changes that should have reached the topic by ``now`` but did not, or ``None`` (too little history).

    ``mid`` is the latest earlier observation at least ``grace`` old, ``base`` the one before it. Changes were
    committed between ``base`` and ``mid`` when the source counter grew; each captured change writes at least one
    event, so the topic must have moved between ``base`` and ``now``. When it did not move at all, every change of
    that window is unstreamed. Limits: a topic that moved for some changes but not others is not flagged (the
    counters do not say which rows), and rows of rolled-back transactions count in PostgreSQL's counters too (a
    lone rolled-back write on a quiet table alerts once). Counter resets (statistics reset, topic recreated) are
    read as no change.

    :param history: Earlier observations, any order.
    :param now: This observation.
    :param grace: How long a committed change may take to reach the topic.
    """
    earlier = sorted((c for c in history if c.observed_at < now.observed_at), key=lambda c: c.observed_at)
    settled = [c for c in earlier if c.observed_at <= now.observed_at - grace]
    if not settled:
        return None
    mid = settled[-1]
    before = [c for c in earlier if c.observed_at < mid.observed_at]
    if not before:
        return None
    base = before[-1]
    committed = mid.source_changes - base.source_changes
    if committed <= 0 or now.topic_end != base.topic_end:
        return 0.0
    return committed


def coverage_samples(
    capture: CaptureConfig,
    *,
    published: Sequence[str] | None,
    changes: Mapping[str, float] | None,
    topic_ends: Mapping[str, float] | None,
    history: Mapping[str, Sequence[Counters]],
    now: datetime,
    grace: timedelta,
) -> list[MetricSample]:
    """
    The four metrics per captured table from what was read (``None``: that service was unreachable).

    :param published: Schema-qualified tables of the publication.
    :param changes: ``capture.source_changes`` per table name (a table absent from the source is missing).
    :param topic_ends: ``capture.topic_end_offset`` per table name.
    :param history: Earlier :class:`Counters` per schema-qualified table.
    """
    samples: list[MetricSample] = []
    for table in capture.source.tables:
        subject = capture.source.qualified(table)
        if changes is None or published is None:
            samples.append(MetricSample(TABLE_PUBLISHED, subject, None, status=UNREACHABLE))
            samples.append(MetricSample(SOURCE_CHANGES, subject, None, status=UNREACHABLE))
        elif table not in changes:
            log.error("Captured table %s does not exist in the source database", subject)
            samples.append(MetricSample(TABLE_PUBLISHED, subject, 0.0, status=MISSING))
        else:
            is_published = subject in published
            if not is_published:
                log.error("Captured table %s is not in publication %s", subject, capture.source.publication)
            samples.append(MetricSample(TABLE_PUBLISHED, subject, 1.0 if is_published else 0.0))
            samples.append(MetricSample(SOURCE_CHANGES, subject, changes[table]))
        if topic_ends is None:
            samples.append(MetricSample(TOPIC_END, subject, None, status=UNREACHABLE))
            continue
        if table not in topic_ends:
            samples.append(MetricSample(TOPIC_END, subject, None, status=MISSING))
            continue
        samples.append(MetricSample(TOPIC_END, subject, topic_ends[table]))
        if changes is not None and table in changes:  # else already alerting above
            current = Counters(now, changes[table], topic_ends[table])
            value = unstreamed_changes(history.get(subject, ()), current, grace)
            samples.append(MetricSample(UNSTREAMED, subject, value))
    return samples


def read_source(capture: CaptureConfig, postgres_conn_id: str) -> tuple[list[str], dict[str, float]]:
    """The publication's tables and ``capture.source_changes`` per captured table present in the source."""
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    from banking_cdc.capture.source_setup import published_tables

    conn = PostgresHook(postgres_conn_id=postgres_conn_id).get_conn()
    try:
        with conn.cursor() as cur:
            published = published_tables(cur, capture.source.publication)
            cur.execute(_STATS_SQL, (capture.source.schema, list(capture.source.tables)))
            changes = {name: float(count) for name, count in cur.fetchall()}
    finally:
        conn.close()
    return published, changes


def read_topic_ends(capture: CaptureConfig, kafka_config_id: str, timeout: float) -> dict[str, float]:
    """``capture.topic_end_offset`` per captured table whose topic exists."""
    from banking_cdc.hooks.kafka_group import KafkaGroupConsumerHook, KafkaTopicNotFoundError

    ends: dict[str, float] = {}
    for table in capture.source.tables:
        topic = capture.topic(table)
        hook = KafkaGroupConsumerHook(topics=[topic], group_id=COVERAGE_GROUP, kafka_config_id=kafka_config_id)
        try:
            offsets = hook.get_backlog_offsets(timeout=timeout)[topic]
        except KafkaTopicNotFoundError:
            log.error("The topic %s of captured table %s does not exist", topic, table)
            continue
        ends[table] = float(sum(high for _, high in offsets.values()))
    return ends
