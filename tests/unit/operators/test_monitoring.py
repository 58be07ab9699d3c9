"""Monitoring operators without services: the verdict, one collector per behaviour, the e-mail notifier."""

from __future__ import annotations

from typing import Any

import pytest

from banking_cdc.operators.monitoring import (
    ALERT_BODY,
    ConnectorStateOperator,
    ConsumerLagOperator,
    MonitoringAlertError,
    MonitoringVerdictOperator,
    ReplicationSlotOperator,
    WarehouseMetricsOperator,
    breach_email_notifier,
)


class FakeTI:
    def __init__(self, xcoms: dict[str, Any]) -> None:
        self.xcoms = xcoms

    def xcom_pull(self, task_ids: str) -> Any:
        return self.xcoms.get(task_ids)


def test_verdict_passes_when_no_collector_reports_a_breach() -> None:
    op = MonitoringVerdictOperator(task_id="verdict", collector_task_ids=["a", "b"])
    assert op.trigger_rule == "all_done"
    assert op.execute({"ti": FakeTI({"a": {"breaches": []}, "b": {"breaches": []}})}) == {  # type: ignore[arg-type]
        "collectors": 2, "breaches": 0,
    }  # fmt: skip


def test_verdict_fails_listing_breaches_and_silent_collectors() -> None:
    op = MonitoringVerdictOperator(task_id="verdict", collector_task_ids=["a", "b"])
    ti = FakeTI({"a": {"breaches": ["connect.connector_state banking-source = 0 [STOPPED] (< threshold 1)"]}})
    with pytest.raises(MonitoringAlertError) as err:
        op.execute({"ti": ti})  # type: ignore[arg-type]
    assert str(err.value) == (
        "2 monitoring alert(s):\n"
        "connect.connector_state banking-source = 0 [STOPPED] (< threshold 1)\n"
        "collector b recorded nothing (the task failed; see its log)"
    )


def test_each_collector_takes_only_the_arguments_of_its_behaviour() -> None:
    with pytest.raises(TypeError, match="kafka_config_id"):
        ReplicationSlotOperator(task_id="x", kafka_config_id="kafka_default")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="bucket_name"):
        ConnectorStateOperator(task_id="x", bucket_name="b")  # type: ignore[call-arg]
    families = [cls.family for cls in (ConsumerLagOperator, ReplicationSlotOperator, ConnectorStateOperator,
                                       WarehouseMetricsOperator)]  # fmt: skip
    assert families == ["kafka", "postgres", "connect", "warehouse"]


def test_breach_email_goes_to_the_alert_recipients() -> None:
    notifier = breach_email_notifier()
    assert notifier.to == ["data-oncall@banking-cdc.invalid"]
    assert notifier.smtp_conn_id == "smtp_default"
    assert "{{ exception | e }}" in ALERT_BODY


def test_kafka_collector_watches_the_configured_groups_plus_the_stage_group(monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import UTC, datetime

    from banking_cdc.capture.config import CaptureConfig
    from banking_cdc.monitoring import collectors
    from banking_cdc.monitoring.config import MonitoringConfig

    seen: dict[str, Any] = {}

    def fake(group_ids: list[str], topics: list[str], **kwargs: Any) -> list[Any]:
        seen.update(groups=group_ids, topics=topics)
        return []

    monkeypatch.setattr(collectors, "collect_consumer_lag", fake)
    op = ConsumerLagOperator(task_id="kafka_lag", group_ids=["bcdc-stage", "rebuild-1"])
    assert "group_ids" in op.template_fields
    op.collect(MonitoringConfig.load(), CaptureConfig.load(), datetime.now(UTC))
    assert seen == {
        "groups": ["bcdc-stage", "rebuild-1"],
        "topics": ["bank.public.customers", "bank.public.accounts", "bank.public.transactions"],
    }
