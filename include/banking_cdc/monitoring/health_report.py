"""What the pipeline health page shows: observations of the metrics table turned into chart series.

Pure functions over :class:`~banking_cdc.monitoring.store.MetricRow` (no I/O except
:func:`load_report`), so the aggregation is unit-testable without a database or a web server.

Charts (metric names as written by the monitoring DAG and the dbt test listener):

- **freshness**: ``gold.freshness_seconds``, one series per gold model (subject), seconds;
- **consumer lag**: ``kafka.consumer_lag`` (subject ``<group>/<topic>/<partition>``), summed per topic at
  each observation time, or one series per partition;
- **throughput**: ``bronze.load_rows_per_s``, one series per topic (subject), rows/s;
- **data tests**: ``dbt.test_task`` (subject the Cosmos test task id, value 1 pass / 0 fail), per DAG
  run the number of test tasks whose latest result passed and failed.

The failing-tasks table lists the stage, load and dbt tasks whose latest ``airflow.task_failing`` observation
is a failure: the error line, since when the task fails (its first failure after its last recovery) and how
many failed attempts the window holds.

The current-status table holds the latest observation of each (metric, subject) of the state metrics
(replication slot WAL, connector and task state, landing files not yet loaded, rejected values with their
reasons and the keys held at their last good state) and of any metric whose latest observation breached its
threshold.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from banking_cdc.exceptions import BankingCdcError
from banking_cdc.monitoring.store import METRICS_CONN_ID, TABLE, MetricRow, MetricsStore
from banking_cdc.settings import (
    CONNECTOR_STATE,
    CONSUMER_LAG,
    DBT_TEST,
    FRESHNESS,
    NEW_REJECTS,
    REJECTED_KEYS,
    REJECTED_VALUES,
    SLOT_WAL,
    TASK_FAILING,
    TASK_STATE,
    THROUGHPUT,
    UNLOADED_FILES,
)

#: metrics drawn as charts
CHART_METRICS: tuple[str, ...] = (FRESHNESS, CONSUMER_LAG, THROUGHPUT, DBT_TEST)
#: metrics listed in the current-status table (latest observation per subject)
STATUS_METRICS: tuple[str, ...] = (
    SLOT_WAL, CONNECTOR_STATE, TASK_STATE, UNLOADED_FILES, REJECTED_VALUES, NEW_REJECTS, REJECTED_KEYS,
)  # fmt: skip
#: every metric the page reads
PAGE_METRICS: tuple[str, ...] = CHART_METRICS + STATUS_METRICS + (TASK_FAILING,)

#: longest window the page accepts (31 days)
MAX_WINDOW = timedelta(days=31)

LagGrouping = Literal["topic", "partition"]


class MetricsUnavailableError(BankingCdcError):
    """The metrics table could not be read; the message names the Airflow connection and the cause."""


@dataclass(frozen=True)
class Point:
    """One value of a series at one time."""

    at: datetime
    value: float


@dataclass(frozen=True)
class Series:
    """
    A labelled line of a chart, points in time order.

    :param label: What the line is about (a gold model, a topic, ``passed``).
    :param points: The observations, oldest first.
    """

    label: str
    points: tuple[Point, ...]

    @property
    def latest(self) -> Point | None:
        """The newest point, if any."""
        return self.points[-1] if self.points else None


@dataclass(frozen=True)
class Chart:
    """
    One chart of the page.

    :param key: Stable identifier (``freshness``, ``lag``, ``throughput``, ``tests``).
    :param title: Heading shown above the chart.
    :param unit: Unit of the values (``s``, ``messages``, ``rows/s``, ``tasks``).
    :param metric: The metric it is drawn from.
    :param series: Its lines, in label order.
    :param description: One sentence on what is drawn.
    """

    key: str
    title: str
    unit: str
    metric: str
    series: tuple[Series, ...]
    description: str

    @property
    def point_count(self) -> int:
        """Number of points over all series."""
        return sum(len(s.points) for s in self.series)

    @property
    def empty(self) -> bool:
        """True when the chart has no point to draw."""
        return self.point_count == 0


#: a row of the current-status and failing-tests tables: the latest stored observation of a (metric, subject)
StatusRow = MetricRow


@dataclass(frozen=True)
class FailingTask:
    """
    A pipeline task whose latest recorded attempt failed.

    :param task: ``<dag_id>/<task_id>``.
    :param error: The error line of its latest failure (literals blanked).
    :param since: Its first failure after its last recovery (in the window).
    :param last_failed_at: Its latest failure.
    :param failures: Failed attempts since ``since``.
    :param run_id: DAG run of the latest failure.
    """

    task: str
    error: str
    since: datetime
    last_failed_at: datetime
    failures: int
    run_id: str | None


@dataclass(frozen=True)
class HealthReport:
    """
    Everything the health page draws for one time window.

    :param window: How far back the page looks.
    :param generated_at: When the report was built (the right edge of the charts).
    :param charts: Freshness, lag, throughput and data-test charts, in that order.
    :param status: Current-status table (latest state metrics and breached metrics).
    :param failing_tests: Latest result of each dbt test task whose latest result failed.
    :param observations: Number of rows read from the metrics table.
    :param last_observed_at: Time of the newest row read, if any.
    :param failing_tasks: Stage, load and dbt tasks whose latest attempt failed, with error line and since when.
    """

    window: timedelta
    generated_at: datetime
    charts: tuple[Chart, ...]
    status: tuple[StatusRow, ...]
    failing_tests: tuple[StatusRow, ...]
    observations: int
    last_observed_at: datetime | None
    failing_tasks: tuple[FailingTask, ...] = ()

    @property
    def start(self) -> datetime:
        """Left edge of the charts."""
        return self.generated_at - self.window

    @property
    def empty(self) -> bool:
        """True when the window holds no observation at all."""
        return self.observations == 0

    def chart(self, key: str) -> Chart:
        """The chart with ``key``; raises ``KeyError`` if there is none."""
        for chart in self.charts:
            if chart.key == key:
                return chart
        raise KeyError(key)


def _series_by(rows: Iterable[MetricRow], label_of: dict[str, str] | None = None) -> tuple[Series, ...]:
    """One series per subject (or per ``label_of[subject]``, values of one time summed)."""
    sums: dict[str, dict[datetime, float]] = defaultdict(lambda: defaultdict(float))
    for row in rows:
        if row.value is None:
            continue
        label = label_of.get(row.subject, row.subject) if label_of else row.subject
        sums[label][row.observed_at] += float(row.value)
    return tuple(
        Series(label, tuple(Point(at, value) for at, value in sorted(by_time.items())))
        for label, by_time in sorted(sums.items())
    )


def split_lag_subject(subject: str) -> tuple[str, str, str] | None:
    """
    Split a ``kafka.consumer_lag`` subject ``<group>/<topic>/<partition>`` into its parts.

    A group id may contain ``/`` (topics and partitions cannot), so the split is from the right.

    :return: ``(group, topic, partition)``, or ``None`` when the subject has another shape.
    """
    parts = subject.rsplit("/", 2)
    if len(parts) != 3 or not parts[2].isdigit() or not parts[0] or not parts[1]:
        return None
    return parts[0], parts[1], parts[2]


def _per_subject_chart(
    rows: Sequence[MetricRow], metric: str, *, key: str, title: str, unit: str, description: str
) -> Chart:
    """A chart of one metric with one series per subject."""
    series = _series_by(r for r in rows if r.metric == metric)
    return Chart(key=key, title=title, unit=unit, metric=metric, series=series, description=description)


def freshness_chart(rows: Sequence[MetricRow]) -> Chart:
    """Seconds since the newest change reached each gold model, one series per model."""
    return _per_subject_chart(
        rows, FRESHNESS, key="freshness", title="Gold freshness", unit="s",
        description="Age of the newest change in each gold model, in seconds (lower is fresher).",
    )  # fmt: skip


def lag_chart(rows: Sequence[MetricRow], by: LagGrouping = "topic") -> Chart:
    """
    Consumer-group lag in messages, summed per topic (``by="topic"``) or per partition.

    The consumer group is part of the label only when the window holds more than one group.
    """
    lag_rows = [r for r in rows if r.metric == CONSUMER_LAG]
    parsed = {r.subject: split_lag_subject(r.subject) for r in lag_rows}
    groups = {p[0] for p in parsed.values() if p is not None}
    labels: dict[str, str] = {}
    for subject, parts in parsed.items():
        if parts is None:
            continue
        group, topic, partition = parts
        label = f"{topic}/{partition}" if by == "partition" else topic
        labels[subject] = f"{group}/{label}" if len(groups) > 1 else label
    per = "partition" if by == "partition" else "topic (sum of its partitions)"
    return Chart(
        key="lag",
        title="Consumer lag",
        unit="messages",
        metric=CONSUMER_LAG,
        series=_series_by(lag_rows, labels),
        description=f"Messages not yet consumed by the staging consumer group, per {per}.",
    )


def throughput_chart(rows: Sequence[MetricRow]) -> Chart:
    """Bronze load throughput in rows per second, one series per topic."""
    return _per_subject_chart(
        rows, THROUGHPUT, key="throughput", title="Bronze load throughput", unit="rows/s",
        description="Rows per second of the latest bronze load, per topic.",
    )  # fmt: skip


def _latest_test_results(rows: Iterable[MetricRow]) -> dict[str, dict[str, MetricRow]]:
    """The latest ``dbt.test_task`` row per test task, per DAG run (rows without a run id: per time)."""
    runs: dict[str, dict[str, MetricRow]] = defaultdict(dict)
    for row in rows:
        if row.metric != DBT_TEST:
            continue
        run = row.run_id or row.observed_at.isoformat()
        previous = runs[run].get(row.subject)
        if previous is None or row.observed_at >= previous.observed_at:
            runs[run][row.subject] = row
    return runs


def _passed(row: MetricRow) -> bool:
    return row.value is not None and row.value >= 1


def data_test_chart(rows: Sequence[MetricRow]) -> Chart:
    """
    Per DAG run, how many dbt test tasks passed and failed (latest attempt of each task counts).

    A point is placed at the time of the run's last recorded test result.
    """
    passed: list[Point] = []
    failed: list[Point] = []
    for results in _latest_test_results(rows).values():
        at = max(r.observed_at for r in results.values())
        ok = sum(1 for r in results.values() if _passed(r))
        passed.append(Point(at, float(ok)))
        failed.append(Point(at, float(len(results) - ok)))
    passed.sort(key=lambda p: p.at)
    failed.sort(key=lambda p: p.at)
    series = (Series("passed", tuple(passed)), Series("failed", tuple(failed))) if passed else ()
    return Chart(
        key="tests",
        title="dbt data tests",
        unit="tasks",
        metric=DBT_TEST,
        series=series,
        description="Per run of banking_dbt_transform: test tasks whose latest attempt passed / failed.",
    )


def _latest_by_key(rows: Iterable[MetricRow]) -> dict[tuple[str, str], MetricRow]:
    latest: dict[tuple[str, str], MetricRow] = {}
    for row in rows:
        key = (row.metric, row.subject)
        if key not in latest or row.observed_at >= latest[key].observed_at:
            latest[key] = row
    return latest


def status_table(rows: Sequence[MetricRow]) -> tuple[StatusRow, ...]:
    """Latest observation of each state metric's subject, and of any subject whose latest breached."""
    latest = _latest_by_key(r for r in rows if r.metric not in (DBT_TEST, TASK_FAILING))
    chosen = [row for key, row in latest.items() if key[0] in STATUS_METRICS or row.breached]
    order = {metric: i for i, metric in enumerate(STATUS_METRICS + CHART_METRICS)}
    chosen.sort(key=lambda r: (order.get(r.metric, len(order)), r.metric, r.subject))
    return tuple(chosen)


def failing_tests(rows: Sequence[MetricRow]) -> tuple[StatusRow, ...]:
    """The dbt test tasks whose latest recorded result (over the window) is a failure."""
    latest = _latest_by_key(r for r in rows if r.metric == DBT_TEST)
    return tuple(r for _, r in sorted(latest.items()) if not _passed(r))


def failing_tasks(rows: Sequence[MetricRow]) -> tuple[FailingTask, ...]:
    """The tasks whose latest ``airflow.task_failing`` observation is a failure, longest failing first."""
    by_task: dict[str, list[MetricRow]] = defaultdict(list)
    for row in sorted((r for r in rows if r.metric == TASK_FAILING), key=lambda r: r.observed_at):
        by_task[row.subject].append(row)
    failing = []
    for task, history in by_task.items():
        if not _passed(history[-1]):
            continue
        streak: list[MetricRow] = []
        for row in reversed(history):
            if not _passed(row):
                break
            streak.append(row)
        latest, first = streak[0], streak[-1]
        failing.append(
            FailingTask(
                task=task, error=latest.status or "failed", since=first.observed_at,
                last_failed_at=latest.observed_at, failures=len(streak), run_id=latest.run_id,
            )
        )  # fmt: skip
    return tuple(sorted(failing, key=lambda f: (f.since, f.task)))


def build_report(
    rows: Sequence[MetricRow],
    window: timedelta,
    now: datetime | None = None,
    lag_by: LagGrouping = "topic",
) -> HealthReport:
    """
    Aggregate metric rows into the page's charts and tables.

    :param rows: Observations of the window, any order (as read from the metrics table).
    :param window: How far back the page looks (the charts' time axis).
    :param now: Right edge of the charts; default: now, UTC.
    :param lag_by: Sum consumer lag per ``topic`` or draw each ``partition``.
    """
    now = now or datetime.now(UTC)
    ordered = sorted(rows, key=lambda r: (r.observed_at, r.metric, r.subject))
    return HealthReport(
        window=window,
        generated_at=now,
        charts=(
            freshness_chart(ordered),
            lag_chart(ordered, lag_by),
            throughput_chart(ordered),
            data_test_chart(ordered),
        ),
        status=status_table(ordered),
        failing_tests=failing_tests(ordered),
        observations=len(ordered),
        last_observed_at=ordered[-1].observed_at if ordered else None,
        failing_tasks=failing_tasks(ordered),
    )


def load_report(
    window: timedelta,
    store: MetricsStore | None = None,
    now: datetime | None = None,
    lag_by: LagGrouping = "topic",
) -> HealthReport:
    """
    Read the window's observations from the metrics table and build the report.

    :param window: How far back to read (at most :data:`MAX_WINDOW`).
    :param store: The metrics table; default: ``MetricsStore()`` on the ``bcdc_metrics`` connection.
    :param now: Right edge of the window; default: now, UTC.
    :param lag_by: Sum consumer lag per ``topic`` or draw each ``partition``.
    :raises MetricsUnavailableError: The table could not be read; names the connection and the cause.
    """
    if window <= timedelta(0) or window > MAX_WINDOW:
        raise ValueError(f"window must be between 0 and {MAX_WINDOW}, got {window}")
    store = store or MetricsStore()
    now = now or datetime.now(UTC)
    try:
        rows = store.read(metrics=PAGE_METRICS, since=now - window)
    except Exception as exc:  # any driver or connection error becomes one clear message
        conn_id = getattr(store, "conn_id", METRICS_CONN_ID)
        cause = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise MetricsUnavailableError(
            f"cannot read {TABLE} through the Airflow connection {conn_id!r}: {type(exc).__name__}: {cause}"
        ) from exc
    return build_report([r for r in rows if r.observed_at <= now], window, now, lag_by)
