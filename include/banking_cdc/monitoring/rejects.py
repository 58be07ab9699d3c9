"""Rejected values: what the typed silver models kept out of silver, observed for ``cdc_monitoring``.

The models write every value their type cannot hold exactly to ``silver.rejects`` (banking_dbt
``macros/rejects.sql``) and keep a key whose newest event was rejected at its last good state, marked with
``_rejected_lsn``. Per checked silver model this records:

- ``silver.rejected_values``: rejected values not acknowledged, with the reasons and their counts as status
  (reasons name the problem, never the value);
- ``silver.new_rejected_values``: values rejected since the previous observation (alerts above 0);
- ``silver.rejected_keys``: keys currently held at their last good state.

Before any checked model has run, ``silver.rejects`` does not exist: every count is 0, and a model not built yet
has status ``NOT BUILT`` (no alert). A model built before the rejects columns existed is ``MISSING`` (an alert
naming the full refresh that fixes it).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from banking_cdc.monitoring.collectors import Query
from banking_cdc.monitoring.metrics import MISSING, UNREACHABLE
from banking_cdc.monitoring.store import MetricSample
from banking_cdc.settings import NEW_REJECTS, REJECTED_KEYS, REJECTED_VALUES

log = logging.getLogger(__name__)

#: longest status text (the reasons) kept per observation
MAX_STATUS = 300
#: status of a silver model not built yet (no alert: gold freshness reports a pipeline that never built)
NOT_BUILT = "NOT BUILT"


def _missing(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "does not exist" in text or "not found" in text


def _keys_problem(model: str, exc: BaseException) -> str:
    """The status of a silver model whose held keys cannot be counted (logged)."""
    if "_rejected_lsn" in str(exc):
        log.error(
            "silver.%s has no _rejected_lsn column: it was built before rejects existed; rebuild it once with "
            "dbt build --select %s --full-refresh (README, Rejected values)", model, model,
        )  # fmt: skip
        return MISSING
    if _missing(exc):
        log.info("silver.%s is not built yet: no held keys to count", model)
        return NOT_BUILT
    log.error("silver.%s: held keys not counted: %s: %s", model, type(exc).__name__, exc)
    return UNREACHABLE


def reasons_text(reasons: Sequence[tuple[str, str, int]]) -> str:
    """``column: reason (count); ...``, most frequent first, cut to :data:`MAX_STATUS` characters."""
    ordered = sorted(reasons, key=lambda r: (-r[2], r[0], r[1]))
    text = "; ".join(f"{column}: {reason} ({count})" for column, reason, count in ordered)
    return text if len(text) <= MAX_STATUS else text[: MAX_STATUS - 1] + "…"


def collect_rejects(query: Query | None, *, backend: str, models: Sequence[str], since: datetime) -> list[MetricSample]:
    """
    The three rejects metrics of every model in ``models``.

    :param query: Warehouse query function (``None``: the warehouse could not be opened).
    :param backend: ``duckdb`` or ``snowflake``.
    :param models: The checked silver models (:func:`banking_cdc.transform.dbt_project.checked_silver_models`).
    :param since: Start of the "new" window (the previous observation).
    """
    metrics = (REJECTED_VALUES, NEW_REJECTS, REJECTED_KEYS)
    if query is None:
        return [MetricSample(m, model, None, status=UNREACHABLE) for model in models for m in metrics]
    cast = "TO_TIMESTAMP_TZ" if backend == "snowflake" else "to_timestamp"
    reasons: dict[str, list[tuple[str, str, int]]] = defaultdict(list)
    new: dict[str, int] = defaultdict(int)
    try:
        rows = query(
            "SELECT model, column_name, reason, count(*), "
            f"sum(CASE WHEN rejected_at > {cast}(?) THEN 1 ELSE 0 END) "
            "FROM silver.rejects WHERE acknowledged_at IS NULL GROUP BY model, column_name, reason",
            [since.timestamp()],
        )
    except Exception as exc:  # noqa: BLE001 - recorded, never raised
        if not _missing(exc):
            log.error("Reading silver.rejects failed: %s: %s", type(exc).__name__, exc)
            return [MetricSample(m, model, None, status=UNREACHABLE) for model in models for m in metrics]
        rows = []  # no checked model has run yet
    for model, column, reason, count, fresh in rows:
        reasons[str(model)].append((str(column), str(reason), int(count)))
        new[str(model)] += int(fresh or 0)
    samples: list[MetricSample] = []
    for model in models:
        total = sum(count for _c, _r, count in reasons[model])
        samples.append(MetricSample(REJECTED_VALUES, model, float(total), status=reasons_text(reasons[model]) or None))
        samples.append(MetricSample(NEW_REJECTS, model, float(new[model])))
        try:
            ((keys,),) = query(f"SELECT count(*) FROM silver.{model} WHERE _rejected_lsn IS NOT NULL", [])
            samples.append(MetricSample(REJECTED_KEYS, model, float(keys)))
        except Exception as exc:  # noqa: BLE001 - a model not built yet, or built before the rejects columns
            samples.append(MetricSample(REJECTED_KEYS, model, None, status=_keys_problem(model, exc)))
    return samples
