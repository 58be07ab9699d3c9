"""The monitoring configuration (``config/monitoring.yaml``): thresholds, consumer groups, retention.

Loading validates every key and raises :class:`MonitoringConfigError` naming the key at fault. The
watched connector, slot and topics are not repeated here: they come from ``capture.yaml``.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from datetime import timedelta
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from banking_cdc.exceptions import BankingCdcError
from banking_cdc.monitoring.metrics import METRICS
from banking_cdc.settings import DEFAULT_STAGE_GROUP, LANDING_PREFIX, MONITORING_CONFIG_ENV

_TOP_KEYS = {"retention_days", "timeout_seconds", "kafka", "landing", "bronze", "capture", "thresholds"}


class MonitoringConfigError(BankingCdcError):
    """The monitoring configuration (``monitoring.yaml``) is invalid; the message names the key."""


def _number(key: str, value: Any, *, allow_none: bool = False, positive: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise MonitoringConfigError(f"{key} must be a number, got {value!r}")
    if positive and value <= 0:
        raise MonitoringConfigError(f"{key} must be > 0, got {value!r}")
    if value < 0:
        raise MonitoringConfigError(f"{key} must be >= 0, got {value!r}")
    return float(value)


def _mapping(key: str, value: Any, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MonitoringConfigError(f"{key} must be a mapping, got {type(value).__name__}")
    unknown = sorted(set(value) - allowed)
    if unknown:
        prefix = "" if key == "monitoring.yaml" else f"{key}."
        raise MonitoringConfigError(f"{key}: unknown key(s) {', '.join(prefix + k for k in unknown)}")
    return value


@dataclass(frozen=True)
class Threshold:
    """
    The threshold of one metric: a default and per-subject overrides; ``None`` never alerts.

    :param default: Threshold of every subject without an override.
    :param per_subject: Thresholds of named subjects.
    """

    default: float | None = None
    per_subject: dict[str, float | None] = field(default_factory=dict)

    def for_subject(self, subject: str) -> float | None:
        """The threshold of ``subject``."""
        return self.per_subject.get(subject, self.default)


@dataclass(frozen=True)
class MonitoringConfig:
    """
    The validated monitoring configuration.

    :param retention_days: Observations older than this are pruned.
    :param timeout_seconds: Seconds to wait for each service request.
    :param group_ids: Kafka consumer groups whose lag is recorded.
    :param landing_prefix: Key prefix of landing files.
    :param max_window_seconds: Longest window of ``bronze.load_rows_per_s``.
    :param grace_seconds: How long a committed source change may take to reach its topic before
        ``capture.unstreamed_changes`` counts it.
    :param thresholds: Threshold per metric name (every documented metric has an entry).
    """

    retention_days: float = 30
    timeout_seconds: float = 10
    group_ids: tuple[str, ...] = (DEFAULT_STAGE_GROUP,)
    landing_prefix: str = LANDING_PREFIX
    max_window_seconds: float = 900
    grace_seconds: float = 60
    thresholds: dict[str, Threshold] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _number("retention_days", self.retention_days, positive=True)
        _number("timeout_seconds", self.timeout_seconds, positive=True)
        _number("bronze.max_window_seconds", self.max_window_seconds, positive=True)
        _number("capture.grace_seconds", self.grace_seconds, positive=True)
        if not self.group_ids or not all(isinstance(g, str) and g.strip() for g in self.group_ids):
            raise MonitoringConfigError(f"kafka.group_ids must list consumer group names, got {self.group_ids!r}")
        if not isinstance(self.landing_prefix, str) or not self.landing_prefix.strip("/"):
            raise MonitoringConfigError(f"landing.prefix must be a key prefix, got {self.landing_prefix!r}")
        unknown = sorted(set(self.thresholds) - set(METRICS))
        if unknown:
            raise MonitoringConfigError(
                f"thresholds.{unknown[0]} is not a monitoring metric (known: {', '.join(sorted(METRICS))})"
            )

    @property
    def retention(self) -> timedelta:
        """How long observations are kept."""
        return timedelta(days=self.retention_days)

    def threshold(self, metric: str, subject: str) -> float | None:
        """The threshold of ``metric`` for ``subject`` (``None``: no alert on the value)."""
        spec = self.thresholds.get(metric)
        return spec.for_subject(subject) if spec is not None else None

    @classmethod
    def from_dict(cls, data: Any) -> MonitoringConfig:
        """Validate a parsed ``monitoring.yaml``."""
        data = _mapping("monitoring.yaml", data, _TOP_KEYS)
        kafka = _mapping("kafka", data.get("kafka", {}), {"group_ids"})
        landing = _mapping("landing", data.get("landing", {}), {"prefix"})
        bronze = _mapping("bronze", data.get("bronze", {}), {"max_window_seconds"})
        capture = _mapping("capture", data.get("capture", {}), {"grace_seconds"})
        raw_thresholds = _mapping("thresholds", data.get("thresholds", {}), set(METRICS))
        thresholds = {name: cls._threshold(f"thresholds.{name}", value) for name, value in raw_thresholds.items()}
        group_ids = kafka.get("group_ids", [DEFAULT_STAGE_GROUP])
        if not isinstance(group_ids, list):
            raise MonitoringConfigError(f"kafka.group_ids must be a list, got {group_ids!r}")
        return cls(
            retention_days=_number("retention_days", data.get("retention_days", 30), positive=True) or 30,
            timeout_seconds=_number("timeout_seconds", data.get("timeout_seconds", 10), positive=True) or 10,
            group_ids=tuple(group_ids),
            landing_prefix=landing.get("prefix", LANDING_PREFIX),
            max_window_seconds=_number(
                "bronze.max_window_seconds", bronze.get("max_window_seconds", 900), positive=True
            )
            or 900,
            grace_seconds=_number("capture.grace_seconds", capture.get("grace_seconds", 60), positive=True) or 60,
            thresholds=thresholds,
        )

    @staticmethod
    def _threshold(key: str, value: Any) -> Threshold:
        if not isinstance(value, dict):
            return Threshold(default=_number(key, value, allow_none=True))
        if "default" not in value:
            raise MonitoringConfigError(f"{key}: missing key {key}.default (per-subject thresholds need one)")
        return Threshold(
            default=_number(f"{key}.default", value["default"], allow_none=True),
            per_subject={
                str(subject): _number(f"{key}.{subject}", limit, allow_none=True)
                for subject, limit in value.items()
                if subject != "default"
            },
        )

    @classmethod
    def load(cls, path: str | Path | None = None) -> MonitoringConfig:
        """Load and validate ``path`` (default: ``$BCDC_MONITORING_CONFIG``, else the packaged file)."""
        path = path or os.environ.get(MONITORING_CONFIG_ENV) or None
        text = (
            Path(path).read_text()
            if path is not None
            else files("banking_cdc").joinpath("config/monitoring.yaml").read_text()
        )
        return cls.from_dict(yaml.safe_load(text))
