"""KafkaBacklogTrigger against fake consumers (no broker); backlog_offsets is tested with its hook."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from airflow.triggers.base import TriggerEvent
from confluent_kafka import KafkaError, KafkaException

from banking_cdc.hooks.kafka_group import KafkaGroupConsumerHook
from banking_cdc.triggers import kafka as trigger_module
from banking_cdc.triggers.kafka import KafkaBacklogTrigger
from tests.unit.hooks.test_kafka_group import FakeConsumer

CLASSPATH = "banking_cdc.triggers.kafka.KafkaBacklogTrigger"
TOPIC = "bank.public.transactions"


class FakeHook(KafkaGroupConsumerHook):
    """The real group hook over a fake connection and client: records the config the consumer is built from."""

    instances: list[FakeHook] = []
    consumer_factory: Callable[[], FakeConsumer] = staticmethod(lambda: FakeConsumer({TOPIC: {0: (0, 0)}}))
    build_error: Exception | None = None

    def __init__(self, topics: list[str], group_id: str, kafka_config_id: str = "kafka_default") -> None:
        super().__init__(topics=topics, group_id=group_id, kafka_config_id=kafka_config_id)
        self.config: dict[str, Any] | None = None
        self.consumer: FakeConsumer | None = None
        FakeHook.instances.append(self)

    def _build_config(self) -> dict[str, Any]:
        if FakeHook.build_error is not None:
            raise FakeHook.build_error
        return {"bootstrap.servers": "broker-1:9092", "group.id": "from-connection", "enable.auto.commit": True}

    def _get_client(self, config: dict[str, Any]) -> FakeConsumer:  # type: ignore[override]
        self.config = config
        self.consumer = FakeHook.consumer_factory()
        return self.consumer

    def get_consumer(self) -> FakeConsumer:  # type: ignore[override]
        raise AssertionError("get_consumer() subscribes; the trigger must build an unsubscribed consumer")


@pytest.fixture
def fake_hook(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[FakeHook]]:
    FakeHook.instances = []
    FakeHook.build_error = None
    FakeHook.consumer_factory = staticmethod(lambda: FakeConsumer({TOPIC: {0: (0, 0)}}))
    monkeypatch.setattr(trigger_module, "KafkaGroupConsumerHook", FakeHook)
    yield FakeHook


def scripted_offsets(
    monkeypatch: pytest.MonkeyPatch, snapshots: list[dict[str, dict[int, tuple[int, int]]] | Exception]
) -> list[int]:
    """Patch backlog_offsets to answer the given snapshots in turn (the last one repeats); return the thread ids."""
    threads: list[int] = []
    answers = list(snapshots)

    def fake(consumer: Any, topics: Any, timeout: float) -> dict[str, dict[int, tuple[int, int]]]:
        threads.append(threading.get_ident())
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(trigger_module, "backlog_offsets", fake)
    return threads


def first_event(trigger: KafkaBacklogTrigger, timeout: float = 5.0) -> TriggerEvent:
    async def main() -> TriggerEvent:
        events = trigger.run()
        try:
            return await asyncio.wait_for(anext(events), timeout)
        finally:
            await events.aclose()

    return asyncio.run(main())


def make_trigger(**overrides: Any) -> KafkaBacklogTrigger:
    kwargs: dict[str, Any] = {"topics": [TOPIC], "group_id": "stage-transactions", "poll_interval": 0.01}
    kwargs.update(overrides)
    return KafkaBacklogTrigger(**kwargs)


# --- serialization -------------------------------------------------------------------------------------------


def test_classpath_is_the_module_path_of_the_class() -> None:
    classpath, _ = make_trigger().serialize()
    assert classpath == f"{KafkaBacklogTrigger.__module__}.{KafkaBacklogTrigger.__qualname__}"
    assert classpath == CLASSPATH


def test_serialized_kwargs_mirror_init_and_are_json_safe() -> None:
    trigger = KafkaBacklogTrigger(
        topics=("a.public.customers", "a.public.accounts"),
        group_id="g",
        kafka_config_id="kafka_prod",
        min_messages=500,
        max_age_seconds=12,
        poll_interval=0.5,
        pending_since=1_700_000_000.5,
        max_idle_seconds=240,
    )
    _, kwargs = trigger.serialize()
    assert kwargs == {
        "topics": ["a.public.customers", "a.public.accounts"],
        "group_id": "g",
        "kafka_config_id": "kafka_prod",
        "min_messages": 500,
        "max_age_seconds": 12.0,
        "poll_interval": 0.5,
        "pending_since": 1_700_000_000.5,
        "max_idle_seconds": 240.0,
    }
    assert json.loads(json.dumps(kwargs, allow_nan=False)) == kwargs


@pytest.mark.parametrize("pending_since", [None, 1_700_000_000.0])
def test_serialize_round_trip_rebuilds_an_equal_trigger(pending_since: float | None) -> None:
    original = make_trigger(pending_since=pending_since, min_messages=7)
    _, kwargs = original.serialize()
    rebuilt = KafkaBacklogTrigger(**json.loads(json.dumps(kwargs)))
    assert rebuilt.serialize() == original.serialize()
    assert type(rebuilt) is KafkaBacklogTrigger


def test_defaults() -> None:
    _, kwargs = KafkaBacklogTrigger(topics=[TOPIC], group_id="g").serialize()
    assert kwargs == {
        "topics": [TOPIC],
        "group_id": "g",
        "kafka_config_id": "kafka_default",
        "min_messages": 10_000,
        "max_age_seconds": 30.0,
        "poll_interval": 2.0,
        "pending_since": None,
        "max_idle_seconds": None,
    }


def test_the_constructor_opens_no_client(fake_hook: type[FakeHook]) -> None:
    make_trigger()
    assert fake_hook.instances == []


# --- argument validation -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "argument"),
    [
        ({"topics": []}, "topics"),
        ({"topics": TOPIC}, "topics"),
        ({"topics": [TOPIC, TOPIC]}, "topics"),
        ({"topics": ["bad topic"]}, "topics"),
        ({"topics": ["^bank\\..*"]}, "topics"),
        ({"topics": [""]}, "topics"),
        ({"topics": [3]}, "topics"),
        ({"group_id": ""}, "group_id"),
        ({"group_id": None}, "group_id"),
        ({"kafka_config_id": " "}, "kafka_config_id"),
        ({"min_messages": 0}, "min_messages"),
        ({"min_messages": 1.5}, "min_messages"),
        ({"min_messages": True}, "min_messages"),
        ({"max_age_seconds": 0}, "max_age_seconds"),
        ({"max_age_seconds": -1.0}, "max_age_seconds"),
        ({"max_age_seconds": float("inf")}, "max_age_seconds"),
        ({"max_age_seconds": "30"}, "max_age_seconds"),
        ({"poll_interval": 0}, "poll_interval"),
        ({"poll_interval": float("nan")}, "poll_interval"),
        ({"pending_since": -5.0}, "pending_since"),
        ({"max_idle_seconds": 0}, "max_idle_seconds"),
        ({"max_idle_seconds": "soon"}, "max_idle_seconds"),
        ({"pending_since": "yesterday"}, "pending_since"),
    ],
)
def test_invalid_arguments_raise_value_error_naming_the_argument(overrides: dict[str, Any], argument: str) -> None:
    with pytest.raises(ValueError, match=argument):
        make_trigger(**overrides)


# --- run -----------------------------------------------------------------------------------------------------


def test_run_fires_on_min_messages_with_the_offset_snapshot(
    fake_hook: type[FakeHook], monkeypatch: pytest.MonkeyPatch
) -> None:
    threads = scripted_offsets(
        monkeypatch,
        [
            {TOPIC: {0: (0, 2), 1: (0, 3)}},
            {TOPIC: {0: (0, 6), 1: (1, 7), 2: (0, 0)}},
        ],
    )
    event = first_event(make_trigger(min_messages=10, max_age_seconds=60))
    assert event.payload == {
        "status": "ready",
        "offsets": {TOPIC: {"0": [0, 6], "1": [1, 7], "2": [0, 0]}},
        "pending": 12,
        "reason": "min_messages",
    }
    json.dumps(event.payload)
    assert len(threads) == 2
    assert threading.get_ident() not in threads  # broker calls never run on the event loop's thread

    [hook] = fake_hook.instances
    assert hook.topics == [TOPIC]
    assert hook.kafka_config_id == "kafka_default"
    assert hook.config is not None
    assert hook.config["group.id"] == "stage-transactions"
    assert hook.config["enable.auto.commit"] is False
    assert hook.config["bootstrap.servers"] == "broker-1:9092"
    assert hook.consumer is not None
    assert hook.consumer.closed == 1


def test_run_fires_on_max_age_of_a_continuously_seen_backlog(
    fake_hook: type[FakeHook], monkeypatch: pytest.MonkeyPatch
) -> None:
    scripted_offsets(monkeypatch, [{TOPIC: {0: (3, 4)}}])
    trigger = make_trigger(min_messages=1_000, max_age_seconds=0.3, poll_interval=0.05)
    started = time.monotonic()
    event = first_event(trigger)
    elapsed = time.monotonic() - started
    assert event.payload == {"status": "ready", "offsets": {TOPIC: {"0": [3, 4]}}, "pending": 1, "reason": "max_age"}
    assert 0.3 <= elapsed < 2.0
    assert trigger.pending_since is not None


def test_run_fires_at_once_when_the_serialized_backlog_is_already_old(
    fake_hook: type[FakeHook], monkeypatch: pytest.MonkeyPatch
) -> None:
    threads = scripted_offsets(monkeypatch, [{TOPIC: {0: (0, 1)}}])
    trigger = make_trigger(min_messages=1_000, max_age_seconds=30, pending_since=time.time() - 60)
    event = first_event(trigger)
    assert event.payload["reason"] == "max_age"
    assert len(threads) == 1


def test_an_emptied_backlog_restarts_the_age_clock(fake_hook: type[FakeHook], monkeypatch: pytest.MonkeyPatch) -> None:
    scripted_offsets(monkeypatch, [{TOPIC: {0: (1, 1)}}, {TOPIC: {0: (1, 2)}}])
    old = time.time() - 3_600
    trigger = make_trigger(min_messages=1_000, max_age_seconds=0.2, poll_interval=0.05, pending_since=old)
    before = time.time()
    event = first_event(trigger)
    assert event.payload["reason"] == "max_age"
    assert trigger.pending_since is not None
    assert trigger.pending_since >= before  # the hour-old start was dropped when the backlog was seen empty
    assert time.time() - trigger.pending_since >= 0.2


def test_run_yields_an_idle_event_after_max_idle_seconds_with_nothing_pending(
    fake_hook: type[FakeHook], monkeypatch: pytest.MonkeyPatch
) -> None:
    threads = scripted_offsets(monkeypatch, [{TOPIC: {0: (5, 5)}}])
    trigger = make_trigger(min_messages=1, max_idle_seconds=0.3, poll_interval=0.05)
    started = time.monotonic()
    event = first_event(trigger)
    elapsed = time.monotonic() - started
    assert event.payload["status"] == "idle"
    assert 0.3 <= event.payload["idle_seconds"] + 0.05 and 0.3 <= elapsed < 2.0
    assert len(threads) >= 2  # it kept checking until the idle limit


def test_a_pending_backlog_is_never_idle(fake_hook: type[FakeHook], monkeypatch: pytest.MonkeyPatch) -> None:
    scripted_offsets(monkeypatch, [{TOPIC: {0: (5, 6)}}])
    trigger = make_trigger(min_messages=1_000, max_age_seconds=0.4, max_idle_seconds=0.1, poll_interval=0.05)
    event = first_event(trigger)
    assert event.payload["status"] == "ready"
    assert event.payload["reason"] == "max_age"


def test_without_max_idle_seconds_the_trigger_keeps_waiting(
    fake_hook: type[FakeHook], monkeypatch: pytest.MonkeyPatch
) -> None:
    scripted_offsets(monkeypatch, [{TOPIC: {0: (5, 5)}}])
    with pytest.raises(TimeoutError):
        first_event(make_trigger(min_messages=1, poll_interval=0.05), timeout=0.5)


def test_run_yields_an_error_event_on_a_broker_failure(
    fake_hook: type[FakeHook], monkeypatch: pytest.MonkeyPatch
) -> None:
    scripted_offsets(monkeypatch, [{TOPIC: {0: (0, 0)}}, KafkaException(KafkaError(KafkaError._TRANSPORT))])
    event = first_event(make_trigger())
    assert event.payload["status"] == "error"
    assert set(event.payload) == {"status", "message"}
    message = event.payload["message"]
    assert "KafkaException" in message
    assert TOPIC in message
    assert "stage-transactions" in message
    assert "broker-1:9092" in message
    [hook] = fake_hook.instances
    assert hook.consumer is not None
    assert hook.consumer.closed == 1


def test_run_yields_an_error_event_naming_a_missing_topic(fake_hook: type[FakeHook]) -> None:
    fake_hook.consumer_factory = staticmethod(lambda: FakeConsumer({TOPIC: {0: (0, 5)}}))
    event = first_event(make_trigger(topics=[TOPIC, "bank.public.gone"]))
    assert event.payload["status"] == "error"
    assert "topic 'bank.public.gone' does not exist" in event.payload["message"]
    assert "stage-transactions" in event.payload["message"]
    assert "broker-1:9092" in event.payload["message"]


def test_run_yields_an_error_event_when_the_connection_fails(fake_hook: type[FakeHook]) -> None:
    fake_hook.build_error = ValueError("config['bootstrap.servers'] must be provided.")
    event = first_event(make_trigger(kafka_config_id="kafka_broken"))
    assert event.payload["status"] == "error"
    assert "config['bootstrap.servers'] must be provided" in event.payload["message"]
    assert "kafka_broken" in event.payload["message"]
    assert "bootstrap.servers unknown" in event.payload["message"]


# --- cleanup -------------------------------------------------------------------------------------------------


def test_cleanup_closes_the_consumer_of_a_cancelled_run(
    fake_hook: type[FakeHook], monkeypatch: pytest.MonkeyPatch
) -> None:
    threads = scripted_offsets(monkeypatch, [{TOPIC: {0: (0, 0)}}])
    trigger = make_trigger(poll_interval=10)

    async def main() -> None:
        events = trigger.run()
        task = asyncio.ensure_future(anext(events))
        while not threads:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)  # now sleeping until the next check
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await trigger.cleanup()
        await trigger.cleanup()  # idempotent

    asyncio.run(main())
    [hook] = fake_hook.instances
    assert hook.consumer is not None
    assert hook.consumer.closed == 1


def test_cleanup_without_a_consumer_does_nothing(fake_hook: type[FakeHook]) -> None:
    asyncio.run(make_trigger().cleanup())
    assert fake_hook.instances == []
