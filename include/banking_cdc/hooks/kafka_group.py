"""Hook for a Kafka consumer group's offsets: unsubscribed consumers and backlog (committed offsets, watermarks).

The only module of the provider that touches the Kafka provider's private client API (``_build_config``,
``_get_client`` of :class:`~airflow.providers.apache.kafka.hooks.consume.KafkaConsumerHook`): the stage
transfer, the backlog trigger, the resync operators and the monitoring collectors build their consumers here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import Any, Protocol

from airflow.providers.apache.kafka.hooks.consume import KafkaConsumerHook
from confluent_kafka import Consumer, KafkaError, TopicPartition

from banking_cdc.exceptions import BankingCdcError
from banking_cdc.settings import KAFKA_CONN_ID

#: Offsets of one topic: partition -> (first pending offset, high watermark).
PartitionOffsets = dict[int, tuple[int, int]]


class KafkaBacklogError(BankingCdcError):
    """The backlog of a consumer group could not be read (metadata, committed offsets or watermarks)."""


class KafkaTopicNotFoundError(KafkaBacklogError):
    """A watched topic does not exist on the cluster."""


class OffsetsConsumer(Protocol):
    """The part of a confluent-kafka ``Consumer`` that :func:`backlog_offsets` uses (no fetch, no subscribe)."""

    def list_topics(self, topic: str | None = ..., timeout: float = ...) -> Any:
        """Return the cluster metadata."""

    def committed(self, partitions: list[TopicPartition], timeout: float = ...) -> list[TopicPartition]:
        """Return the committed offsets of the consumer's group for ``partitions``."""

    def get_watermark_offsets(
        self, partition: TopicPartition, timeout: float = ..., cached: bool = ...
    ) -> tuple[int, int] | None:
        """Return the (low, high) watermarks of ``partition``."""


def backlog_offsets(consumer: OffsetsConsumer, topics: Sequence[str], timeout: float) -> dict[str, PartitionOffsets]:
    """
    Read, for every partition of ``topics``, the first offset still to consume and the high watermark.

    The first pending offset is the group's committed offset; a partition without one (``OFFSET_INVALID``,
    any negative value) starts at its low watermark, and so does a committed offset that retention has already
    deleted (below the low watermark). The backlog of a partition is ``high - start`` offsets: an upper bound of
    the messages, since transaction markers and compacted-away records also take offsets.

    Only metadata requests are made: the topic list, one ``OffsetFetch`` for the group and one ``ListOffsets``
    per partition. The consumer must not be subscribed; nothing is fetched or committed.

    :param consumer: A consumer whose ``group.id`` is the watched group (a confluent-kafka ``Consumer``).
    :param topics: Topics to read; each must exist.
    :param timeout: Seconds to wait for each broker answer.
    :return: ``{topic: {partition: (start, high)}}`` with every partition of every topic.
    :raises KafkaTopicNotFoundError: A topic does not exist.
    :raises KafkaBacklogError: The broker reported an error for a topic or partition, or did not answer.
    """
    wanted = list(dict.fromkeys(topics))
    # The full topic list, not a per-topic request: asking for one unknown topic may auto-create it on brokers
    # with auto.create.topics.enable=true.
    metadata = consumer.list_topics(timeout=timeout)
    partitions: list[TopicPartition] = []
    for topic in wanted:
        topic_metadata = metadata.topics.get(topic)
        if topic_metadata is None or (
            topic_metadata.error is not None and topic_metadata.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART
        ):
            raise KafkaTopicNotFoundError(f"topic {topic!r} does not exist")
        if topic_metadata.error is not None:
            raise KafkaBacklogError(f"metadata of topic {topic!r} has an error: {topic_metadata.error}")
        if not topic_metadata.partitions:
            raise KafkaBacklogError(f"topic {topic!r} has no partitions in the cluster metadata")
        partitions.extend(TopicPartition(topic, partition) for partition in sorted(topic_metadata.partitions))

    result: dict[str, PartitionOffsets] = {topic: {} for topic in wanted}
    for committed in consumer.committed(partitions, timeout=timeout):
        where = f"{committed.topic}[{committed.partition}]"
        if committed.error is not None:
            raise KafkaBacklogError(f"committed offset of {where} has an error: {committed.error}")
        watermarks = consumer.get_watermark_offsets(
            TopicPartition(committed.topic, committed.partition), timeout=timeout, cached=False
        )
        if watermarks is None:
            raise KafkaBacklogError(f"no watermark offsets for {where} within {timeout} s")
        low, high = watermarks
        start = committed.offset if committed.offset >= 0 else low
        result[committed.topic][committed.partition] = (max(start, low), high)
    return result


def pending_messages(offsets: Mapping[str, Mapping[int, tuple[int, int]]]) -> int:
    """
    Sum the backlog of an offset snapshot from :func:`backlog_offsets`.

    :param offsets: ``{topic: {partition: (start, high)}}``.
    :return: The number of offsets between each start and its high watermark (never negative per partition).
    """
    return sum(max(0, high - start) for partitions in offsets.values() for start, high in partitions.values())


class KafkaGroupConsumerHook(KafkaConsumerHook):
    """
    Build unsubscribed consumers for one consumer group, and read that group's backlog on a set of topics.

    The client config is the Kafka connection's own, as the Kafka provider resolves it (allow-listed callbacks,
    managed OAuth), with ``group.id`` replaced by ``group_id``, offsets never committed automatically
    (``enable.auto.commit=false``, which no override can change) and topics never auto-created. A consumer of
    this hook never subscribes, i.e. never joins the group nor takes partitions from its members: callers
    read metadata, or ``assign`` partitions and commit by hand. Do not use the inherited ``get_consumer()``
    or ``get_conn`` for that: they subscribe, or use the connection's group and auto-commit settings.

    Nothing is read from the connection until a config or a consumer is asked for; the connection's config
    is then read once per hook.

    :param topics: Topics whose offsets are read (exact names).
    :param group_id: Consumer group whose offsets are read or committed.
    :param kafka_config_id: Airflow connection to Kafka (the Kafka provider's ``kafka`` type).
    """

    conn_name_attr = "kafka_config_id"
    default_conn_name = KAFKA_CONN_ID
    conn_type = "kafka"
    hook_name = "Apache Kafka consumer group"

    #: settings every consumer of the hook has, whatever the connection or the overrides say
    enforced_config: Mapping[str, Any] = {"enable.auto.commit": False}

    def __init__(self, topics: Sequence[str], group_id: str, kafka_config_id: str = default_conn_name) -> None:
        super().__init__(topics=list(topics), kafka_config_id=kafka_config_id)
        if not isinstance(group_id, str) or not group_id.strip():
            raise ValueError(f"group_id must be a non-empty string, got {group_id!r}")
        self.group_id = group_id

    @cached_property
    def _connection_config(self) -> dict[str, Any]:
        """The client config of the connection, resolved by the Kafka provider (read once per hook)."""
        return dict(self._build_config())

    @property
    def bootstrap_servers(self) -> str:
        """
        The connection's ``bootstrap.servers`` (reads the connection on first use).

        :raises ValueError: The connection has no ``bootstrap.servers``.
        """
        return str(self._connection_config["bootstrap.servers"])

    def group_config(self, **overrides: Any) -> dict[str, Any]:
        """
        The client config of an unsubscribed consumer of ``group_id``.

        :param overrides: librdkafka settings that add to or replace the connection's (for example
            ``"auto.offset.reset": "earliest"``); pass them as ``**{"dotted.name": value}``.
        :raises ValueError: An override sets ``group.id`` (use another hook) or turns on ``enable.auto.commit``.
        """
        if "group.id" in overrides and overrides["group.id"] != self.group_id:
            raise ValueError(f"group.id is the hook's group_id ({self.group_id!r}); it cannot be overridden")
        for key, value in self.enforced_config.items():
            if key in overrides and overrides[key] != value:
                raise ValueError(f"{key} is always {value!r} for a consumer group hook, got {overrides[key]!r}")
        config = dict(self._connection_config)
        config.update({"group.id": self.group_id, "allow.auto.create.topics": False})
        config.update(overrides)
        config.update(self.enforced_config)
        return config

    def get_group_consumer(self, **overrides: Any) -> Consumer:
        """
        A new unsubscribed consumer of ``group_id`` (its caller closes it).

        :param overrides: Settings as for :meth:`group_config`.
        """
        return self._get_client(self.group_config(**overrides))

    def get_backlog_offsets(self, timeout: float = 10.0) -> dict[str, PartitionOffsets]:
        """
        The group's backlog on ``topics``, through a short-lived consumer (see :func:`backlog_offsets`).

        :param timeout: Seconds to wait for each broker answer.
        :return: ``{topic: {partition: (start, high)}}`` with every partition of every topic.
        :raises KafkaTopicNotFoundError: A topic does not exist.
        :raises KafkaBacklogError: The broker reported an error for a topic or partition, or did not answer.
        """
        consumer = self.get_group_consumer()
        try:
            return backlog_offsets(consumer, self.topics, timeout=timeout)
        finally:
            consumer.close()
