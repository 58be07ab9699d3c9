"""KafkaGroupConsumerHook and backlog_offsets, against fake consumers and an environment connection (no broker)."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.providers.apache.kafka.hooks import consume as provider_consume
from airflow.providers.apache.kafka.hooks.consume import KafkaConsumerHook
from confluent_kafka import OFFSET_INVALID, KafkaError, TopicPartition

import banking_cdc
from banking_cdc import settings
from banking_cdc.hooks import kafka_group
from banking_cdc.hooks.kafka_group import (
    KafkaBacklogError,
    KafkaGroupConsumerHook,
    KafkaTopicNotFoundError,
    backlog_offsets,
    pending_messages,
)

TOPIC = "bank.public.transactions"
CONN_ID = "kafka_unit_group"
CONNECTION_EXTRA = {"bootstrap.servers": "broker-1:9092", "group.id": "from-connection", "enable.auto.commit": True}


class FakeConsumer:
    """Answers metadata, committed-offset and watermark requests; fails the test on any fetch or subscribe."""

    def __init__(
        self,
        watermarks: dict[str, dict[int, tuple[int, int]]],
        committed: dict[tuple[str, int], int] | None = None,
        topic_errors: dict[str, KafkaError] | None = None,
    ) -> None:
        self.watermarks = watermarks
        self.committed_offsets = committed or {}
        self.topic_errors = topic_errors or {}
        self.calls: list[str] = []
        self.closed = 0

    def list_topics(self, topic: str | None = None, timeout: float = -1) -> Any:
        self.calls.append(f"list_topics({topic})")
        topics = {
            name: SimpleNamespace(partitions={p: object() for p in parts}, error=self.topic_errors.get(name))
            for name, parts in self.watermarks.items()
        }
        for name, error in self.topic_errors.items():
            topics.setdefault(name, SimpleNamespace(partitions={}, error=error))
        return SimpleNamespace(topics=topics)

    def committed(self, partitions: list[TopicPartition], timeout: float = -1) -> list[TopicPartition]:
        self.calls.append("committed")
        return [
            TopicPartition(tp.topic, tp.partition, self.committed_offsets.get((tp.topic, tp.partition), OFFSET_INVALID))
            for tp in partitions
        ]

    def get_watermark_offsets(
        self, partition: TopicPartition, timeout: float = -1, cached: bool = False
    ) -> tuple[int, int] | None:
        assert cached is False, "watermarks must come from the broker, not from a fetch cache"
        self.calls.append(f"watermarks({partition.topic},{partition.partition})")
        return self.watermarks[partition.topic].get(partition.partition)

    def close(self) -> None:
        self.closed += 1

    def subscribe(self, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("a backlog consumer must never subscribe")

    def poll(self, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("a backlog consumer must never fetch messages")

    consume = poll
    assign = subscribe
    commit = subscribe


@pytest.fixture
def connection(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """An environment Kafka connection ``kafka_unit_group``; returns the ids of every connection lookup."""
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps({"conn_type": "kafka", "extra": CONNECTION_EXTRA}))
    lookups: list[str] = []
    original = KafkaGroupConsumerHook.get_connection

    def counting(cls: type, conn_id: str) -> Any:
        lookups.append(conn_id)
        return original(conn_id)

    monkeypatch.setattr(KafkaGroupConsumerHook, "get_connection", classmethod(counting))
    return lookups


@pytest.fixture
def clients(monkeypatch: pytest.MonkeyPatch) -> list[tuple[dict[str, Any], FakeConsumer]]:
    """Replace the confluent-kafka ``Consumer`` the Kafka provider builds; returns (config, consumer) per build."""
    built: list[tuple[dict[str, Any], FakeConsumer]] = []

    def factory(config: dict[str, Any]) -> FakeConsumer:
        consumer = FakeConsumer({TOPIC: {0: (2, 9), 1: (0, 4)}}, committed={(TOPIC, 0): 5})
        built.append((config, consumer))
        return consumer

    monkeypatch.setattr(provider_consume, "Consumer", factory)
    return built


def make_hook(group_id: str = "bcdc-stage", topics: list[str] | None = None) -> KafkaGroupConsumerHook:
    return KafkaGroupConsumerHook(topics=topics or [TOPIC], group_id=group_id, kafka_config_id=CONN_ID)


# --- the hook ------------------------------------------------------------------------------------------------


def test_the_hook_is_a_kafka_consumer_hook_of_the_providers_connection() -> None:
    assert issubclass(KafkaGroupConsumerHook, KafkaConsumerHook)
    assert KafkaGroupConsumerHook.conn_name_attr == KafkaConsumerHook.conn_name_attr == "kafka_config_id"
    assert KafkaGroupConsumerHook.default_conn_name == KafkaConsumerHook.default_conn_name == settings.KAFKA_CONN_ID
    assert KafkaGroupConsumerHook.conn_type == KafkaConsumerHook.conn_type == "kafka"
    assert KafkaGroupConsumerHook.hook_name
    hook = KafkaGroupConsumerHook(topics=(TOPIC,), group_id="g")
    assert hook.kafka_config_id == "kafka_default"
    assert hook.topics == [TOPIC]
    assert hook.group_id == "g"


def test_the_constructor_reads_no_connection(connection: list[str]) -> None:
    make_hook()
    assert connection == []


@pytest.mark.parametrize("group_id", ["", "  ", None, 3])
def test_an_invalid_group_id_raises_naming_it(group_id: Any) -> None:
    with pytest.raises(ValueError, match="group_id"):
        KafkaGroupConsumerHook(topics=[TOPIC], group_id=group_id)


def test_group_config_replaces_the_group_and_turns_auto_commit_off(connection: list[str]) -> None:
    config = make_hook().group_config()
    assert config == {
        "bootstrap.servers": "broker-1:9092",
        "group.id": "bcdc-stage",
        "enable.auto.commit": False,
        "allow.auto.create.topics": False,
    }
    assert connection == [CONN_ID]


def test_group_config_overrides_add_or_replace_settings_and_the_connection_is_read_once(
    connection: list[str],
) -> None:
    hook = make_hook()
    config = hook.group_config(**{"auto.offset.reset": "earliest", "bootstrap.servers": "other:9092"})
    assert config["auto.offset.reset"] == "earliest"
    assert config["bootstrap.servers"] == "other:9092"
    assert config["enable.auto.commit"] is False
    config["group.id"] = "changed by the caller"
    again = hook.group_config()
    assert again["group.id"] == "bcdc-stage"  # every call returns a fresh dict
    assert "auto.offset.reset" not in again
    assert hook.bootstrap_servers == "broker-1:9092"
    assert connection == [CONN_ID]


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"enable.auto.commit": True}, "enable.auto.commit"),
        ({"enable.auto.commit": "true"}, "enable.auto.commit"),
        ({"group.id": "another-group"}, "group.id"),
    ],
)
def test_overrides_can_neither_turn_auto_commit_on_nor_change_the_group(
    connection: list[str], overrides: dict[str, Any], key: str
) -> None:
    with pytest.raises(ValueError, match=re.escape(key)):
        make_hook().group_config(**overrides)


def test_overrides_repeating_the_enforced_values_are_accepted(connection: list[str]) -> None:
    config = make_hook().group_config(**{"enable.auto.commit": False, "group.id": "bcdc-stage"})
    assert (config["enable.auto.commit"], config["group.id"]) == (False, "bcdc-stage")


def test_a_connection_without_bootstrap_servers_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_KAFKA_UNIT_EMPTY", json.dumps({"conn_type": "kafka", "extra": {"x": 1}}))
    hook = KafkaGroupConsumerHook(topics=[TOPIC], group_id="g", kafka_config_id="kafka_unit_empty")
    with pytest.raises(ValueError, match=r"bootstrap\.servers"):
        _ = hook.bootstrap_servers


def test_get_group_consumer_builds_an_unsubscribed_consumer_of_the_group(
    connection: list[str], clients: list[tuple[dict[str, Any], FakeConsumer]]
) -> None:
    consumer = make_hook().get_group_consumer(**{"enable.partition.eof": True})
    [(config, built)] = clients
    assert consumer is built
    assert config["group.id"] == "bcdc-stage"
    assert config["enable.auto.commit"] is False
    assert config["enable.partition.eof"] is True
    assert config["bootstrap.servers"] == "broker-1:9092"
    assert callable(config["error_cb"])  # the provider's client factory was used
    assert built.calls == []  # nothing requested, nothing subscribed


def test_get_backlog_offsets_reads_through_a_consumer_it_closes(
    connection: list[str], clients: list[tuple[dict[str, Any], FakeConsumer]]
) -> None:
    assert make_hook().get_backlog_offsets(timeout=1.0) == {TOPIC: {0: (5, 9), 1: (0, 4)}}
    [(config, consumer)] = clients
    assert config["group.id"] == "bcdc-stage" and config["enable.auto.commit"] is False
    assert consumer.closed == 1


def test_get_backlog_offsets_closes_its_consumer_on_a_failure(
    connection: list[str], clients: list[tuple[dict[str, Any], FakeConsumer]]
) -> None:
    with pytest.raises(KafkaTopicNotFoundError, match=r"'bank\.public\.nothing' does not exist"):
        make_hook(topics=[TOPIC, "bank.public.nothing"]).get_backlog_offsets(timeout=1.0)
    [(_, consumer)] = clients
    assert consumer.closed == 1


def test_only_this_hook_touches_the_kafka_providers_private_client_api() -> None:
    package = Path(banking_cdc.__file__).parent
    hook_file = Path(kafka_group.__file__).resolve()
    touching = sorted(
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if path.resolve() != hook_file and re.search(r"\b_get_client\b|\b_build_config\b", path.read_text())
    )
    assert touching == []


def test_the_hook_imports_no_trigger_transfer_or_operator() -> None:
    tree = ast.parse(Path(kafka_group.__file__).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module} | {
        alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    }
    banking = {name for name in imported if name.startswith("banking_cdc")}
    assert banking <= {"banking_cdc.exceptions", "banking_cdc.settings"}


# --- backlog_offsets -----------------------------------------------------------------------------------------


def test_backlog_offsets_start_at_the_committed_offset_or_the_low_watermark() -> None:
    consumer = FakeConsumer(
        {TOPIC: {0: (0, 10), 1: (5, 8), 2: (0, 0), 3: (20, 30)}, "other": {0: (0, 4)}},
        committed={(TOPIC, 0): 4, (TOPIC, 3): 12, ("other", 0): 4},
    )
    offsets = backlog_offsets(consumer, [TOPIC, "other"], timeout=1.0)
    assert offsets == {
        TOPIC: {
            0: (4, 10),  # committed
            1: (5, 8),  # nothing committed: from the low watermark
            2: (0, 0),  # empty partition
            3: (20, 30),  # committed offset deleted by retention: from the low watermark
        },
        "other": {0: (4, 4)},
    }
    assert pending_messages(offsets) == 6 + 3 + 0 + 10 + 0
    assert not any(call.startswith(("poll", "consume", "subscribe")) for call in consumer.calls)
    assert consumer.calls.count("committed") == 1  # one OffsetFetch for all partitions


def test_backlog_offsets_of_a_missing_topic_raises_naming_it() -> None:
    consumer = FakeConsumer({TOPIC: {0: (0, 1)}})
    with pytest.raises(KafkaTopicNotFoundError, match=r"'bank\.public\.nothing' does not exist"):
        backlog_offsets(consumer, [TOPIC, "bank.public.nothing"], timeout=1.0)


def test_backlog_offsets_treats_unknown_topic_error_as_missing_and_other_errors_as_failures() -> None:
    unknown = FakeConsumer({}, topic_errors={TOPIC: KafkaError(KafkaError.UNKNOWN_TOPIC_OR_PART)})
    with pytest.raises(KafkaTopicNotFoundError, match=re.escape(TOPIC)):
        backlog_offsets(unknown, [TOPIC], timeout=1.0)
    leaderless = FakeConsumer({TOPIC: {0: (0, 1)}}, topic_errors={TOPIC: KafkaError(KafkaError.LEADER_NOT_AVAILABLE)})
    with pytest.raises(KafkaBacklogError, match=re.escape(f"metadata of topic '{TOPIC}'")):
        backlog_offsets(leaderless, [TOPIC], timeout=1.0)


def test_backlog_offsets_without_watermarks_raises() -> None:
    consumer = FakeConsumer({TOPIC: {0: (0, 1)}})
    consumer.watermarks = {TOPIC: {}}  # the metadata still lists partition 0
    consumer.list_topics = lambda topic=None, timeout=-1: SimpleNamespace(  # type: ignore[method-assign]
        topics={TOPIC: SimpleNamespace(partitions={0: object()}, error=None)}
    )
    with pytest.raises(KafkaBacklogError, match=re.escape(f"{TOPIC}[0]")):
        backlog_offsets(consumer, [TOPIC], timeout=1.0)


def test_pending_messages_never_counts_a_partition_negative() -> None:
    assert pending_messages({"t": {0: (10, 4), 1: (0, 3)}}) == 3
    assert pending_messages({}) == 0
