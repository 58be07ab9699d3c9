"""Bronze contract shared by every warehouse: tables, columns, the load ledger, and file -> table mapping.

Bronze holds one append-only table per captured source table, one row per change event, keyed by the
Kafka coordinates (topic, partition, offset), which are unique. The load ledger records every landing
file loaded, so a file is never loaded twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from banking_cdc.capture.config import CaptureConfig
from banking_cdc.exceptions import BankingCdcError

BRONZE_SCHEMA = "bronze"
LEDGER_TABLE = "load_ledger"

#: landing Parquet columns copied to bronze as they are (name, DuckDB type, Snowflake type)
BRONZE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("kafka_topic", "VARCHAR", "VARCHAR"),
    ("kafka_partition", "INTEGER", "NUMBER(10,0)"),
    ("kafka_offset", "BIGINT", "NUMBER(19,0)"),
    ("kafka_timestamp", "TIMESTAMPTZ", "TIMESTAMP_TZ"),
    ("kafka_key", "VARCHAR", "VARCHAR"),
    ("is_tombstone", "BOOLEAN", "BOOLEAN"),
    ("op", "VARCHAR", "VARCHAR"),
    ("event_ts_ms", "BIGINT", "NUMBER(19,0)"),
    ("source_ts_ms", "BIGINT", "NUMBER(19,0)"),
    ("source_lsn", "BIGINT", "NUMBER(19,0)"),
    ("source_tx_id", "BIGINT", "NUMBER(19,0)"),
    ("source_snapshot", "VARCHAR", "VARCHAR"),
    ("source_db", "VARCHAR", "VARCHAR"),
    ("source_schema", "VARCHAR", "VARCHAR"),
    ("source_table", "VARCHAR", "VARCHAR"),
)
#: the row images: JSON text in landing, JSON (DuckDB) / VARIANT (Snowflake) in bronze
PAYLOAD_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("before_json", "JSON", "VARIANT"),
    ("after_json", "JSON", "VARIANT"),
)
#: added by the loader
LOAD_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("source_file", "VARCHAR", "VARCHAR"),
    ("loaded_at", "TIMESTAMPTZ", "TIMESTAMP_TZ"),
)
#: the columns a landing file must have: copied, or parsed as JSON, into bronze
LANDING_COLUMNS: tuple[tuple[str, str, str], ...] = (*BRONZE_COLUMNS, *PAYLOAD_COLUMNS)
#: every column of a bronze table, in table order
TABLE_COLUMNS: tuple[tuple[str, str, str], ...] = (*LANDING_COLUMNS, *LOAD_COLUMNS)

_LANDING_KEY = re.compile(
    r"^(?P<prefix>.+)/(?P<topic>[^/]+)/partition=(?P<partition>\d+)/(?P<first>\d{20})-(?P<last>\d{20})\.parquet$"
)


class BronzeError(BankingCdcError):
    """Loading landing files into bronze failed; the message names the file(s)."""


@dataclass(frozen=True)
class LandingFile:
    """
    A landing object, parsed from its key.

    :param key: Object key in the landing bucket.
    :param topic: Kafka topic of the batch.
    :param partition: Kafka partition.
    :param first_offset: First offset of the batch.
    :param last_offset: Last offset of the batch.
    """

    key: str
    topic: str
    partition: int
    first_offset: int
    last_offset: int

    @classmethod
    def parse(cls, key: str) -> LandingFile:
        """Parse ``<prefix>/<topic>/partition=<p>/<first>-<last>.parquet``; raise naming the key otherwise."""
        match = _LANDING_KEY.match(key)
        if not match:
            raise BronzeError(
                f"{key!r} is not a landing file key (<prefix>/<topic>/partition=<p>/<first>-<last>.parquet)"
            )
        return cls(
            key=key,
            topic=match["topic"],
            partition=int(match["partition"]),
            first_offset=int(match["first"]),
            last_offset=int(match["last"]),
        )


def bronze_table_for_topic(capture: CaptureConfig, topic: str) -> str:
    """Return the bronze table (unqualified) that receives ``topic``'s events: the source table's name."""
    for table in capture.source.tables:
        if capture.topic(table) == topic:
            return table
    raise BronzeError(f"topic {topic!r} is not a captured table's topic (capture.yaml source.tables)")


def captured_landing_keys(s3_hook: Any, bucket: str, landing_prefix: str, capture: CaptureConfig) -> list[str]:
    """
    Every landing file of the captured topics, by a paginated listing (the loaders' sweep for missed files).

    :param s3_hook: An ``S3Hook`` of the object store.
    :param bucket: Landing bucket.
    :param landing_prefix: Key prefix of landing files.
    :param capture: The capture configuration (which topics are captured).
    """
    from banking_cdc.stage.listing import iter_keys, topic_prefix

    keys: list[str] = []
    for table in capture.source.tables:
        prefix = topic_prefix(capture.topic(table), landing_prefix)
        keys.extend(key for key in iter_keys(s3_hook, bucket, prefix) if key.endswith(".parquet"))
    return keys
