"""Deferrable Kafka -> object store staging of Debezium change events, exactly-once in effect.

At-least-once delivery made exactly-once in effect by deterministic output:

* offsets are never auto-committed; a partition's offset is committed synchronously only after the
  batch's objects are durably written;
* a batch's object key is a pure function of (topic, partition, first offset, last offset); a batch
  retried after a crash between upload and commit starts at the same committed offset, finds the
  object written for that offset, reuses its range and rewrites the same bytes;
* memory is bounded by ``max_bytes_per_file``: messages stream from Kafka into one batch at a time.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from airflow.sdk import BaseOperator, Context

from banking_cdc.assets import set_outlet_extra
from banking_cdc.exceptions import BankingCdcError
from banking_cdc.hooks.kafka_group import KafkaGroupConsumerHook, backlog_offsets, pending_messages
from banking_cdc.settings import KAFKA_CONN_ID, LANDING_PREFIX
from banking_cdc.stage.landing import BatchBuilder, last_offset_of_key, object_key, range_prefix
from banking_cdc.triggers.kafka import KafkaBacklogTrigger

T = TypeVar("T")


class KafkaStageError(BankingCdcError):
    """Staging from Kafka to the object store failed; no offset of the failed batch was committed."""


class KafkaToS3Operator(BaseOperator):
    """
    Stage Debezium change events from Kafka topics to Parquet files in an S3-compatible landing zone.

    Deferrable by default: if fewer than ``min_messages`` events wait for ``group_id``, the task defers
    on :class:`~banking_cdc.triggers.kafka.KafkaBacklogTrigger` (no worker slot, no payload in the
    triggerer) until enough wait or the backlog is ``max_age_seconds`` old, then resumes with the
    offset snapshot and consumes up to it. Not deferrable, it stages whatever is pending and returns.

    :param topics: Topics to stage (each partition becomes its own files).
    :param group_id: Kafka consumer group whose committed offsets mark what is staged.
    :param bucket_name: Landing bucket.
    :param kafka_config_id: Airflow connection to Kafka.
    :param aws_conn_id: Airflow connection to the object store (``endpoint_url`` in its extra).
    :param landing_prefix: Key prefix of landing files.
    :param quarantine_prefix: Key prefix of quarantine (dead-letter) files.
    :param max_messages_per_file: Upper bound of messages per file.
    :param max_bytes_per_file: Upper bound of raw message bytes per file (bounds memory).
    :param max_message_bytes: A message value larger than this is quarantined as oversized.
    :param deferrable: Wait for a backlog in the triggerer instead of returning when there is little.
    :param min_messages: Backlog size that starts staging at once.
    :param max_age_seconds: A smaller backlog is staged once it has waited this long.
    :param poll_interval: Seconds between the trigger's backlog checks.
    :param consume_timeout: Seconds without any message before a partition read is declared stuck.
    :param max_idle_seconds: Deferrable only: end the task as skipped (no Asset event) after this many
        seconds with nothing pending; ``None`` waits for a backlog forever.
    """

    template_fields: Sequence[str] = ("topics", "group_id", "bucket_name", "landing_prefix", "quarantine_prefix")
    ui_color = "#e3f2fd"

    def __init__(
        self,
        *,
        topics: Sequence[str],
        group_id: str,
        bucket_name: str,
        kafka_config_id: str = KAFKA_CONN_ID,
        aws_conn_id: str | None = "aws_default",
        landing_prefix: str = LANDING_PREFIX,
        quarantine_prefix: str = "quarantine",
        max_messages_per_file: int = 100_000,
        max_bytes_per_file: int = 64 * 1024 * 1024,
        max_message_bytes: int = 1024 * 1024,
        deferrable: bool = True,
        min_messages: int = 1,
        max_age_seconds: float = 30.0,
        poll_interval: float = 2.0,
        consume_timeout: float = 60.0,
        max_idle_seconds: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if isinstance(topics, str):
            topics = [topics]
        self.topics = list(topics)
        self.group_id = group_id
        self.bucket_name = bucket_name
        self.kafka_config_id = kafka_config_id
        self.aws_conn_id = aws_conn_id
        self.landing_prefix = landing_prefix
        self.quarantine_prefix = quarantine_prefix
        for name, value in (
            ("max_messages_per_file", max_messages_per_file),
            ("max_bytes_per_file", max_bytes_per_file),
            ("max_message_bytes", max_message_bytes),
            ("min_messages", min_messages),
        ):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        self.max_messages_per_file = max_messages_per_file
        self.max_bytes_per_file = max_bytes_per_file
        self.max_message_bytes = max_message_bytes
        self.deferrable = deferrable
        self.min_messages = min_messages
        self.max_age_seconds = max_age_seconds
        self.poll_interval = poll_interval
        self.consume_timeout = consume_timeout
        self.max_idle_seconds = max_idle_seconds

    # ------------------------------------------------------------------ Kafka client

    def _consumer(self) -> Any:
        hook = KafkaGroupConsumerHook(topics=self.topics, group_id=self.group_id, kafka_config_id=self.kafka_config_id)
        # partitions are assigned explicitly and offsets committed by hand, never automatically (the hook
        # enforces enable.auto.commit=false)
        return hook.get_group_consumer(
            **{
                "enable.auto.offset.store": False,
                "enable.partition.eof": True,
                "auto.offset.reset": "earliest",
                # do not let the broker hold a fetch open for long once a partition is caught up
                "fetch.wait.max.ms": 100,
            }
        )

    #: Kafka errors worth retrying in place (a broker restarting, a group coordinator moving or loading)
    retry_window_seconds: float = 60.0

    def _with_kafka_retries(self, call: Callable[[], T], what: str) -> T:
        """Run ``call``, retrying retriable Kafka errors with back-off for up to ``retry_window_seconds``."""
        from confluent_kafka import KafkaError, KafkaException

        transient = {
            KafkaError.NOT_COORDINATOR,
            KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
            KafkaError.COORDINATOR_NOT_AVAILABLE,
            KafkaError._TRANSPORT,
            KafkaError._TIMED_OUT,
            KafkaError._ALL_BROKERS_DOWN,
            KafkaError.REQUEST_TIMED_OUT,
        }
        deadline, delay = time.monotonic() + self.retry_window_seconds, 0.5
        while True:
            try:
                return call()
            except KafkaException as exc:
                error = exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
                retriable = error is not None and (error.retriable() or error.code() in transient)
                if not retriable or time.monotonic() + delay > deadline:
                    raise
                self.log.warning("Kafka %s failed (%s); retrying in %.1fs", what, error, delay)
                time.sleep(delay)
                delay = min(delay * 2, 8.0)

    # ------------------------------------------------------------------ deferral

    def execute(self, context: Context) -> dict[str, Any]:
        consumer = self._consumer()
        try:
            offsets = self._with_kafka_retries(
                lambda: backlog_offsets(consumer, self.topics, timeout=30), "read offsets"
            )
        finally:
            consumer.close()
        pending = pending_messages(offsets)
        if not self.deferrable or pending >= self.min_messages:
            self.log.info("%d events pending for group %s: staging now", pending, self.group_id)
            return self._stage(offsets, context)
        self.log.info("%d events pending for group %s (< %d): deferring", pending, self.group_id, self.min_messages)
        self.defer(
            trigger=KafkaBacklogTrigger(
                topics=self.topics,
                group_id=self.group_id,
                kafka_config_id=self.kafka_config_id,
                min_messages=self.min_messages,
                max_age_seconds=self.max_age_seconds,
                poll_interval=self.poll_interval,
                pending_since=time.time() if pending else None,
                max_idle_seconds=self.max_idle_seconds,
            ),
            method_name="execute_complete",
        )
        raise AssertionError("unreachable: defer() raises")  # pragma: no cover

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        """
        Resume after the trigger fired: stage up to the event's offset snapshot; skip on an idle event (no
        Asset event, so nothing downstream runs); fail on an error event.
        """
        if isinstance(event, dict) and event.get("status") == "idle":
            from airflow.sdk.exceptions import AirflowSkipException

            raise AirflowSkipException(
                f"no change events for group {self.group_id} in {event.get('idle_seconds')} s: nothing to stage"
            )
        if not isinstance(event, dict) or event.get("status") != "ready":
            message = event.get("message") if isinstance(event, dict) else repr(event)
            raise KafkaStageError(f"waiting for a Kafka backlog failed: {message}")
        offsets = {
            topic: {int(partition): (int(bounds[0]), int(bounds[1])) for partition, bounds in parts.items()}
            for topic, parts in event["offsets"].items()
        }
        self.log.info("Backlog of %d events (%s): staging", event.get("pending", 0), event.get("reason"))
        return self._stage(offsets, context)

    # ------------------------------------------------------------------ staging

    def _stage(self, offsets: dict[str, dict[int, tuple[int, int]]], context: Context) -> dict[str, Any]:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        s3 = S3Hook(aws_conn_id=self.aws_conn_id)
        consumer = self._consumer()
        files: list[dict[str, Any]] = []
        began = time.monotonic()
        # Batches create hundreds of thousands of short-lived objects without reference cycles; the cyclic
        # collector would rescan them over and over (a third of the run time). Reference counting frees them.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            # the group's committed offsets now are authoritative (the snapshot may be older)
            current = self._with_kafka_retries(
                lambda: backlog_offsets(consumer, self.topics, timeout=30), "read offsets"
            )
            for topic in sorted(offsets):
                for partition in sorted(offsets[topic]):
                    high = offsets[topic][partition][1]
                    start = current.get(topic, {}).get(partition, offsets[topic][partition])[0]
                    if start < high:
                        files.extend(self._stage_partition(consumer, s3, topic, partition, start, high))
        finally:
            consumer.close()
            if gc_was_enabled:
                gc.enable()
        manifest = self._manifest(files, time.monotonic() - began)
        self._emit_asset_events(context, manifest)
        return manifest

    def _resume_end(self, s3: Any, topic: str, partition: int, start: int) -> int | None:
        """If a batch starting at ``start`` was written but not committed, return its last offset."""
        ends: list[int] = []
        for prefix in (self.landing_prefix, self.quarantine_prefix):
            key_prefix = range_prefix(prefix, topic, partition, start)
            try:
                keys = s3.list_keys(bucket_name=self.bucket_name, prefix=key_prefix)
            except Exception as exc:
                raise KafkaStageError(
                    f"listing s3://{self.bucket_name}/{key_prefix} failed ({type(exc).__name__}: {exc}); offsets "
                    f"of {topic}[{partition}] from {start} stay uncommitted"
                ) from exc
            ends.extend(last_offset_of_key(key) for key in keys)
        return max(ends) if ends else None

    def _stage_partition(
        self, consumer: Any, s3: Any, topic: str, partition: int, start: int, high: int
    ) -> list[dict[str, Any]]:
        from confluent_kafka import KafkaError, TopicPartition

        written: list[dict[str, Any]] = []
        consumer.assign([TopicPartition(topic, partition, start)])
        try:
            next_offset = start
            while next_offset < high:
                resume_end = self._resume_end(s3, topic, partition, next_offset)
                if resume_end is not None:
                    self.log.info(
                        "%s[%d]: batch from offset %d was written before but not committed; rewriting it up to %d",
                        topic, partition, next_offset, resume_end,
                    )  # fmt: skip
                limit = high - 1 if resume_end is None else resume_end
                batch = BatchBuilder(topic=topic, partition=partition, max_message_bytes=self.max_message_bytes)
                last_seen = time.monotonic()
                done = False
                overshoot = False  # a message past the batch was taken from the consumer: seek back
                while not done:
                    # ask for no more than can still belong to this batch: consume() waits for the full count
                    expected_next = next_offset if batch.last_offset is None else batch.last_offset + 1
                    want = min(10_000, self.max_messages_per_file - batch.messages, limit - expected_next + 1)
                    messages = consumer.consume(num_messages=max(want, 1), timeout=0.5)
                    if not messages:
                        if time.monotonic() - last_seen > self.consume_timeout:
                            raise KafkaStageError(
                                f"{topic}[{partition}]: no message for {self.consume_timeout:.0f}s while reading "
                                f"offsets {next_offset}..{limit}; nothing committed past {next_offset}"
                            )
                        continue
                    last_seen = time.monotonic()
                    for index, message in enumerate(messages):
                        error = message.error()
                        if error is not None:
                            if error.code() == KafkaError._PARTITION_EOF:
                                done = batch.messages > 0 or message.offset() >= limit
                                continue
                            raise KafkaStageError(f"{topic}[{partition}]: Kafka error while consuming: {error}")
                        offset = message.offset()
                        if offset > limit:
                            done = overshoot = True
                            break
                        timestamp_type, timestamp = message.timestamp()
                        batch.add(offset, timestamp if timestamp_type else None, message.key(), message.value())
                        if (
                            offset >= limit
                            or (resume_end is None and batch.messages >= self.max_messages_per_file)
                            or (resume_end is None and batch.value_bytes >= self.max_bytes_per_file)
                        ):
                            done = True
                            overshoot = index < len(messages) - 1
                            break
                if batch.messages == 0:
                    break
                written.append(self._flush(s3, consumer, batch))
                assert batch.last_offset is not None
                next_offset = batch.last_offset + 1
                if overshoot:
                    consumer.seek(TopicPartition(topic, partition, next_offset))
        finally:
            consumer.unassign()
        return written

    def _flush(self, s3: Any, consumer: Any, batch: BatchBuilder) -> dict[str, Any]:
        from confluent_kafka import TopicPartition

        assert batch.first_offset is not None and batch.last_offset is not None
        entry: dict[str, Any] = {
            "topic": batch.topic,
            "partition": batch.partition,
            "first_offset": batch.first_offset,
            "last_offset": batch.last_offset,
            "rows": batch.landed,
            "tombstones": batch.tombstones,
            "quarantined": batch.quarantined,
            "ops": dict(sorted(batch.ops.items())),
            "key": None,
            "quarantine_key": None,
        }
        uploads = (
            ("key", self.landing_prefix, batch.landing_parquet()),
            ("quarantine_key", self.quarantine_prefix, batch.quarantine_parquet()),
        )
        for field, prefix, payload in uploads:
            if payload is None:
                continue
            key = object_key(prefix, batch.topic, batch.partition, batch.first_offset, batch.last_offset)
            try:
                s3.load_bytes(payload, key=key, bucket_name=self.bucket_name, replace=True)
            except Exception as exc:
                raise KafkaStageError(
                    f"writing s3://{self.bucket_name}/{key} failed ({type(exc).__name__}: {exc}); offsets of "
                    f"{batch.topic}[{batch.partition}] from {batch.first_offset} stay uncommitted"
                ) from exc
            entry[field] = key
        if batch.quarantined:
            self.log.warning(
                "%s[%d] offsets %d..%d: %d message(s) quarantined to %s (%s)",
                batch.topic, batch.partition, batch.first_offset, batch.last_offset, batch.quarantined,
                entry["quarantine_key"], ", ".join(f"{k}: {v}" for k, v in sorted(batch.reasons.items())),
            )  # fmt: skip
        # only now, with the objects durable, move the group past the batch
        position = [TopicPartition(batch.topic, batch.partition, batch.last_offset + 1)]
        self._with_kafka_retries(lambda: consumer.commit(offsets=position, asynchronous=False), "commit offsets")
        self.log.info(
            "%s[%d] offsets %d..%d: %d rows (%d tombstones) -> s3://%s/%s; committed %d",
            batch.topic, batch.partition, batch.first_offset, batch.last_offset, batch.landed, batch.tombstones,
            self.bucket_name, entry["key"], batch.last_offset + 1,
        )  # fmt: skip
        return entry

    def _manifest(self, files: list[dict[str, Any]], elapsed: float) -> dict[str, Any]:
        rows = sum(f["rows"] for f in files)
        quarantined = sum(f["quarantined"] for f in files)
        messages = sum(f["last_offset"] - f["first_offset"] + 1 for f in files)
        manifest = {
            "bucket": self.bucket_name,
            "group_id": self.group_id,
            "files": files,
            "rows": rows,
            "tombstones": sum(f["tombstones"] for f in files),
            "quarantined": quarantined,
            "offsets_staged": messages,
            "seconds": round(elapsed, 3),
        }
        self.log.info(
            "Staged %d offsets in %d file(s): %d rows, %d quarantined, %.1fs",
            messages, len(files), rows, quarantined, elapsed,
        )  # fmt: skip
        return manifest

    def _emit_asset_events(self, context: Context, manifest: dict[str, Any]) -> None:
        """Attach the list of landed files to this task's Asset events (the load DAG reads it)."""
        extra = {
            "bucket": manifest["bucket"],
            "files": [f["key"] for f in manifest["files"] if f["key"]],
            "quarantine_files": [f["quarantine_key"] for f in manifest["files"] if f["quarantine_key"]],
            "rows": manifest["rows"],
        }
        set_outlet_extra(context, self.outlets, extra)
