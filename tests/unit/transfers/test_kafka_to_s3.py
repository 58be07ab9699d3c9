"""KafkaToS3Operator without services: deferral decisions and error events (Kafka client faked)."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from airflow.exceptions import TaskDeferred

from banking_cdc.transfers.kafka_to_s3 import KafkaStageError, KafkaToS3Operator
from banking_cdc.triggers.kafka import KafkaBacklogTrigger

MODULE = "banking_cdc.transfers.kafka_to_s3"


def make(**kwargs: Any) -> KafkaToS3Operator:
    defaults: dict[str, Any] = {"task_id": "stage", "topics": ["bank.public.transactions"], "group_id": "g",
                                "bucket_name": "landing"}  # fmt: skip
    return KafkaToS3Operator(**{**defaults, **kwargs})


def test_defers_on_the_backlog_trigger_when_too_little_is_pending() -> None:
    op = make(min_messages=100, max_age_seconds=5, poll_interval=1)
    with (
        mock.patch.object(KafkaToS3Operator, "_consumer"),
        mock.patch(f"{MODULE}.backlog_offsets", return_value={"bank.public.transactions": {0: (10, 15)}}),
        pytest.raises(TaskDeferred) as deferred,
    ):
        op.execute(context={})  # type: ignore[arg-type]
    trigger = deferred.value.trigger
    assert isinstance(trigger, KafkaBacklogTrigger)
    assert deferred.value.method_name == "execute_complete"
    classpath, kwargs = trigger.serialize()
    assert classpath == "banking_cdc.triggers.kafka.KafkaBacklogTrigger"
    assert kwargs["topics"] == ["bank.public.transactions"] and kwargs["group_id"] == "g"
    assert kwargs["min_messages"] == 100 and kwargs["max_age_seconds"] == 5
    assert kwargs["pending_since"] is not None  # 5 events already wait: their age counts from now
    assert kwargs["max_idle_seconds"] is None  # by default a deferred task waits for a backlog forever


def test_the_idle_limit_reaches_the_trigger() -> None:
    op = make(min_messages=100, max_idle_seconds=240)
    with (
        mock.patch.object(KafkaToS3Operator, "_consumer"),
        mock.patch(f"{MODULE}.backlog_offsets", return_value={"bank.public.transactions": {0: (15, 15)}}),
        pytest.raises(TaskDeferred) as deferred,
    ):
        op.execute(context={})  # type: ignore[arg-type]
    _, kwargs = deferred.value.trigger.serialize()
    assert kwargs["max_idle_seconds"] == 240
    assert kwargs["pending_since"] is None


def test_idle_event_skips_the_task_without_staging() -> None:
    from airflow.sdk.exceptions import AirflowSkipException

    with (
        mock.patch.object(KafkaToS3Operator, "_stage") as stage,
        pytest.raises(AirflowSkipException, match=r"no change events for group g in 240.0 s"),
    ):
        make().execute_complete(context={}, event={"status": "idle", "idle_seconds": 240.0})  # type: ignore[arg-type]
    stage.assert_not_called()


def test_stages_at_once_when_enough_is_pending() -> None:
    op = make(min_messages=5)
    offsets = {"bank.public.transactions": {0: (10, 15)}}
    with (
        mock.patch.object(KafkaToS3Operator, "_consumer"),
        mock.patch(f"{MODULE}.backlog_offsets", return_value=offsets),
        mock.patch.object(KafkaToS3Operator, "_stage", return_value={"files": []}) as stage,
    ):
        assert op.execute(context={}) == {"files": []}  # type: ignore[arg-type]
    stage.assert_called_once()
    assert stage.call_args.args[0] == offsets


def test_not_deferrable_never_defers() -> None:
    op = make(deferrable=False, min_messages=1000)
    with (
        mock.patch.object(KafkaToS3Operator, "_consumer"),
        mock.patch(f"{MODULE}.backlog_offsets", return_value={"t": {0: (3, 3)}}),
        mock.patch.object(KafkaToS3Operator, "_stage", return_value={"files": []}) as stage,
    ):
        op.execute(context={})  # type: ignore[arg-type]
    stage.assert_called_once()


def test_error_event_fails_the_task_with_the_trigger_message() -> None:
    event = {"status": "error", "message": "Kafka backlog check failed: broker down (bootstrap.servers k:9092)"}
    with pytest.raises(
        KafkaStageError, match=r"waiting for a Kafka backlog failed: Kafka backlog check failed: broker down"
    ):
        make().execute_complete(context={}, event=event)  # type: ignore[arg-type]


def test_ready_event_stages_up_to_its_snapshot() -> None:
    event = {"status": "ready", "offsets": {"t": {"0": [4, 9], "1": [0, 0]}}, "pending": 5, "reason": "max_age"}
    with mock.patch.object(KafkaToS3Operator, "_stage", return_value={"files": []}) as stage:
        make().execute_complete(context={}, event=event)  # type: ignore[arg-type]
    assert stage.call_args.args[0] == {"t": {0: (4, 9), 1: (0, 0)}}


@pytest.mark.parametrize("name", ["max_messages_per_file", "max_bytes_per_file", "max_message_bytes", "min_messages"])
def test_bad_bounds_are_named(name: str) -> None:
    with pytest.raises(ValueError, match=f"{name} must be an integer >= 1, got 0"):
        make(**{name: 0})


def test_transient_kafka_errors_are_retried_then_succeed() -> None:
    from confluent_kafka import KafkaError, KafkaException

    op = make()
    op.retry_window_seconds = 5
    answers: list[Any] = [KafkaException(KafkaError(KafkaError.NOT_COORDINATOR)), {"ok": 1}]

    def call() -> Any:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    with mock.patch(f"{MODULE}.time.sleep") as sleep:
        assert op._with_kafka_retries(call, "read offsets") == {"ok": 1}
    sleep.assert_called_once()


def test_a_permanent_kafka_error_is_not_retried() -> None:
    from confluent_kafka import KafkaError, KafkaException

    op = make()
    calls = []

    def call() -> Any:
        calls.append(1)
        raise KafkaException(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED))

    with pytest.raises(KafkaException):
        op._with_kafka_retries(call, "read offsets")
    assert len(calls) == 1
