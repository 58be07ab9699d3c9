"""monitoring.yaml: validated on load, a bad key fails naming the key."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from banking_cdc.monitoring.config import MonitoringConfig, MonitoringConfigError
from banking_cdc.monitoring.metrics import METRICS

PACKAGED = Path(__file__).resolve().parents[3] / "include" / "banking_cdc" / "config" / "monitoring.yaml"


def test_packaged_config_loads_with_a_threshold_entry_for_every_metric() -> None:
    config = MonitoringConfig.load()
    assert set(config.thresholds) == set(METRICS)
    assert config.retention == timedelta(days=30)
    assert config.group_ids == ("bcdc-stage",)
    assert config.threshold("kafka.consumer_lag", "bcdc-stage/bank.public.accounts/0") == 50000
    assert config.threshold("bronze.load_rows_per_s", "bank.public.accounts") is None
    assert config.threshold("postgres.slot_active", "bcdc_slot") == 1


def test_per_subject_thresholds_override_the_default() -> None:
    config = MonitoringConfig.from_dict(
        {"thresholds": {"gold.freshness_seconds": {"default": 60, "fct_daily_activity": 900}}}
    )
    assert config.threshold("gold.freshness_seconds", "dim_customers") == 60
    assert config.threshold("gold.freshness_seconds", "fct_daily_activity") == 900
    assert config.threshold("kafka.consumer_lag", "x") is None  # not configured: never alerts on the value


def _with(change: dict[str, object]) -> dict[str, object]:
    data = yaml.safe_load(PACKAGED.read_text())
    for dotted, value in change.items():
        node = data
        *parents, leaf = dotted.split("/")
        for parent in parents:
            node = node[parent]
        node[leaf] = value
    return data


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"retension_days": 3}, "monitoring.yaml: unknown key(s) retension_days"),
        ({"retention_days": 0}, "retention_days must be > 0"),
        ({"timeout_seconds": "soon"}, "timeout_seconds must be a number"),
        ({"kafka/group_id": "x"}, "kafka: unknown key(s) kafka.group_id"),
        ({"kafka/group_ids": []}, "kafka.group_ids must list consumer group names"),
        ({"kafka/group_ids": "bcdc-stage"}, "kafka.group_ids must be a list"),
        ({"landing/prefix": "/"}, "landing.prefix must be a key prefix"),
        ({"bronze/max_window_seconds": -1}, "bronze.max_window_seconds must be > 0"),
        ({"thresholds/kafka.lag": 5}, "thresholds: unknown key(s) thresholds.kafka.lag"),
        ({"thresholds/kafka.consumer_lag": "lots"}, "thresholds.kafka.consumer_lag must be a number"),
        ({"thresholds/kafka.consumer_lag": -1}, "thresholds.kafka.consumer_lag must be >= 0"),
        ({"thresholds/kafka.consumer_lag": True}, "thresholds.kafka.consumer_lag must be a number"),
        ({"thresholds/gold.freshness_seconds": {"dim_customers": 5}}, "thresholds.gold.freshness_seconds.default"),
        (
            {"thresholds/gold.freshness_seconds": {"default": 5, "dim_customers": "x"}},
            "thresholds.gold.freshness_seconds.dim_customers must be a number",
        ),
    ],
)
def test_a_bad_key_fails_naming_it(change: dict[str, object], message: str) -> None:
    with pytest.raises(
        MonitoringConfigError, match=message.replace(".", r"\.").replace("(", r"\(").replace(")", r"\)")
    ):
        MonitoringConfig.from_dict(_with(change))


def test_load_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "monitoring.yaml"
    path.write_text("retention_days: 7\nthresholds: {kafka.consumer_lag: 10}\n")
    config = MonitoringConfig.load(path)
    assert (config.retention_days, config.threshold("kafka.consumer_lag", "g/t/0")) == (7, 10)
    path.write_text("- not a mapping\n")
    with pytest.raises(MonitoringConfigError, match=r"monitoring\.yaml must be a mapping"):
        MonitoringConfig.load(path)
