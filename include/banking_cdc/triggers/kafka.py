"""Triggers that watch Kafka from the triggerer without reading any message.

The stage operator defers on :class:`KafkaBacklogTrigger` until enough change events wait for its consumer
group, then resumes in a worker with the per-partition offset snapshot of the event. The triggerer only reads
metadata (topic partitions, committed offsets, watermarks): no payload, so no customer data, ever reaches it.
The reads themselves live in :mod:`banking_cdc.hooks.kafka_group`.
"""

from __future__ import annotations

import asyncio
import math
import re
import threading
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent
from confluent_kafka import Consumer

from banking_cdc.exceptions import BankingCdcError
from banking_cdc.hooks.kafka_group import KafkaGroupConsumerHook, PartitionOffsets, backlog_offsets, pending_messages
from banking_cdc.settings import KAFKA_CONN_ID

#: Kafka's own rule for topic names (``org.apache.kafka.common.internals.Topic``).
_TOPIC_NAME = re.compile(r"^[a-zA-Z0-9._-]{1,249}$")


def _require_positive_number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


class KafkaBacklogTrigger(BaseTrigger):
    """
    Wait until a consumer group has enough pending messages on a set of topics, or has had some for long enough.

    Every ``poll_interval`` seconds the trigger compares, for every partition of every topic, the group's
    committed offset (the low watermark when the group has none) with the high watermark, and fires once:

    - ``reason="min_messages"``: at least ``min_messages`` offsets are pending;
    - ``reason="max_age"``: a non-empty backlog has been seen continuously for ``max_age_seconds``.

    The age is measured from when the trigger (or the operator that created it, through ``pending_since``)
    first saw a non-empty backlog, not from the timestamp of the oldest pending message: reading that timestamp
    would mean fetching the message, payload included, into the triggerer. A backlog that drops back to zero
    (another consumer of the group caught up) restarts the clock.

    The event is ``{"status": "ready", "offsets": {topic: {"<partition>": [start, high]}}, "pending": int,
    "reason": "min_messages" | "max_age"}``: the resumed task consumes ``[start, high)`` of each partition.
    Any failure (missing topic, broker down, unknown connection) fires
    ``{"status": "error", "message": "..."}`` naming the topics, the group and the brokers.

    The trigger's consumer is built by :class:`~banking_cdc.hooks.kafka_group.KafkaGroupConsumerHook` from the
    Kafka connection with ``group.id`` replaced by ``group_id`` and auto-commit off. It never subscribes (so it
    never joins the group or causes a rebalance), never fetches and never commits; it only reads metadata.

    :param topics: Topics whose backlog is watched (exact names, no pattern).
    :param group_id: Consumer group whose committed offsets mark what has been processed.
    :param kafka_config_id: Airflow connection to Kafka (the Kafka provider's ``kafka`` type).
    :param min_messages: Fire as soon as at least this many messages are pending.
    :param max_age_seconds: Fire once a non-empty backlog has been seen continuously for this many seconds.
    :param poll_interval: Seconds between two backlog checks.
    :param pending_since: Epoch seconds at which a non-empty backlog was first seen, or ``None``; lets a
        serialized trigger (and the deferring operator's own first check) keep the age of the backlog.
    :param max_idle_seconds: Yield an ``idle`` event after this many seconds without any pending message
        (``None``: wait for a backlog forever). Lets a waiting run end in quiet periods, so that a run
        longer than its deadline means a stuck pipeline, not a quiet source.
    """

    #: Seconds to wait for each broker answer during one check.
    broker_timeout: float = 10.0

    def __init__(
        self,
        *,
        topics: Sequence[str],
        group_id: str,
        kafka_config_id: str = KAFKA_CONN_ID,
        min_messages: int = 10_000,
        max_age_seconds: float = 30.0,
        poll_interval: float = 2.0,
        pending_since: float | None = None,
        max_idle_seconds: float | None = None,
    ) -> None:
        super().__init__()
        if isinstance(topics, str) or not isinstance(topics, Sequence) or not topics:
            raise ValueError(f"topics must be a non-empty list of topic names, got {topics!r}")
        for topic in topics:
            if not isinstance(topic, str) or not _TOPIC_NAME.match(topic) or topic in (".", ".."):
                raise ValueError(f"topics: {topic!r} is not a valid Kafka topic name")
        if len(set(topics)) != len(topics):
            raise ValueError(f"topics must not repeat a topic, got {list(topics)!r}")
        if not isinstance(group_id, str) or not group_id.strip():
            raise ValueError(f"group_id must be a non-empty string, got {group_id!r}")
        if not isinstance(kafka_config_id, str) or not kafka_config_id.strip():
            raise ValueError(f"kafka_config_id must be a non-empty string, got {kafka_config_id!r}")
        if isinstance(min_messages, bool) or not isinstance(min_messages, int) or min_messages < 1:
            raise ValueError(f"min_messages must be an integer >= 1, got {min_messages!r}")
        if pending_since is not None and (
            isinstance(pending_since, bool)
            or not isinstance(pending_since, int | float)
            or not math.isfinite(pending_since)
            or pending_since < 0
        ):
            raise ValueError(f"pending_since must be None or epoch seconds >= 0, got {pending_since!r}")

        self.topics: list[str] = list(topics)
        self.group_id = group_id
        self.kafka_config_id = kafka_config_id
        self.min_messages = min_messages
        self.max_age_seconds = _require_positive_number("max_age_seconds", max_age_seconds)
        self.poll_interval = _require_positive_number("poll_interval", poll_interval)
        self.pending_since: float | None = None if pending_since is None else float(pending_since)
        self.max_idle_seconds: float | None = (
            None if max_idle_seconds is None else _require_positive_number("max_idle_seconds", max_idle_seconds)
        )

        self._consumer: Consumer | None = None
        # One consumer call at a time: a check still running in its worker thread when the trigger is
        # cancelled must finish before cleanup closes the consumer.
        self._consumer_lock = threading.Lock()
        self._bootstrap_servers: str | None = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """Return the classpath and the JSON-safe keyword arguments that rebuild this trigger."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "topics": list(self.topics),
                "group_id": self.group_id,
                "kafka_config_id": self.kafka_config_id,
                "min_messages": self.min_messages,
                "max_age_seconds": self.max_age_seconds,
                "poll_interval": self.poll_interval,
                "pending_since": self.pending_since,
                "max_idle_seconds": self.max_idle_seconds,
            },
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Check the backlog every ``poll_interval`` seconds; yield one ready or error event, then return."""
        try:
            event = await self._wait_for_backlog()
        except Exception as err:  # noqa: BLE001 - every failure must reach the task as an error event
            message = self._failure_message(err)
            self.log.error("%s", message)
            event = TriggerEvent({"status": "error", "message": message})
        finally:
            await self._aclose_consumer()
        yield event

    async def cleanup(self) -> None:
        """Close the consumer, waiting for a check still running in its worker thread."""
        await self._aclose_consumer()

    async def _wait_for_backlog(self) -> TriggerEvent:
        started = time.monotonic()
        while True:
            # Blocking broker calls run in a worker thread of their own (asyncio.to_thread), not on the
            # triggerer's event loop and not on asgiref's single shared thread used by other triggers.
            offsets = await asyncio.to_thread(self._read_offsets)
            pending = pending_messages(offsets)
            now = time.time()
            reason: str | None = None
            if pending <= 0:
                self.pending_since = None
                idle = time.monotonic() - started
                if self.max_idle_seconds is not None and idle >= self.max_idle_seconds:
                    self.log.info(
                        "Consumer group %s has nothing pending on %s after %.0f s: idle",
                        self.group_id,
                        ", ".join(self.topics),
                        idle,
                    )
                    return TriggerEvent({"status": "idle", "idle_seconds": round(idle, 1)})
            else:
                if self.pending_since is None or self.pending_since > now:
                    self.pending_since = now
                if pending >= self.min_messages:
                    reason = "min_messages"
                elif now - self.pending_since >= self.max_age_seconds:
                    reason = "max_age"
            if reason is not None:
                self.log.info(
                    "Consumer group %s has %d pending messages on %s: firing (%s)",
                    self.group_id,
                    pending,
                    ", ".join(self.topics),
                    reason,
                )
                return TriggerEvent(
                    {
                        "status": "ready",
                        "offsets": {
                            topic: {str(partition): [start, high] for partition, (start, high) in partitions.items()}
                            for topic, partitions in offsets.items()
                        },
                        "pending": pending,
                        "reason": reason,
                    }
                )
            delay = self.poll_interval
            if self.pending_since is not None:
                delay = min(delay, self.pending_since + self.max_age_seconds - now)
            elif self.max_idle_seconds is not None:
                delay = min(delay, started + self.max_idle_seconds - time.monotonic())
            self.log.debug(
                "Consumer group %s has %d pending messages (min %d); next check in %.1f s",
                self.group_id,
                pending,
                self.min_messages,
                delay,
            )
            await asyncio.sleep(max(delay, 0.0))

    def _read_offsets(self) -> dict[str, PartitionOffsets]:
        with self._consumer_lock:
            if self._consumer is None:
                self._consumer = self._create_consumer()
            return backlog_offsets(self._consumer, self.topics, self.broker_timeout)

    def _create_consumer(self) -> Consumer:
        hook = KafkaGroupConsumerHook(topics=self.topics, group_id=self.group_id, kafka_config_id=self.kafka_config_id)
        self._bootstrap_servers = hook.bootstrap_servers
        return hook.get_group_consumer()

    def _close_consumer(self) -> None:
        with self._consumer_lock:
            consumer, self._consumer = self._consumer, None
            if consumer is not None:
                consumer.close()

    async def _aclose_consumer(self) -> None:
        try:
            await asyncio.to_thread(self._close_consumer)
        except Exception:  # closing must never hide the event
            self.log.warning("Could not close the Kafka consumer of group %s", self.group_id, exc_info=True)

    def _failure_message(self, err: Exception) -> str:
        what = str(err) if isinstance(err, BankingCdcError) else f"{type(err).__name__}: {err}"
        return (
            f"Kafka backlog check failed: {what} (topics {', '.join(self.topics)}; consumer group {self.group_id}; "
            f"connection {self.kafka_config_id}; bootstrap.servers {self._bootstrap_servers or 'unknown'})"
        )
