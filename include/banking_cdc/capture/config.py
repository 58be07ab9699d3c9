"""The declarative capture configuration (``config/capture.yaml``): tables, topics, Debezium connector.

Loading validates every key and raises :class:`~banking_cdc.exceptions.CaptureConfigError` naming the
key at fault. Connection details and secrets are never read from the file: they are merged in from
an Airflow connection when the connector configuration is rendered.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from banking_cdc.exceptions import CaptureConfigError
from banking_cdc.settings import CAPTURE_CONFIG_ENV

DEBEZIUM_POSTGRES_CONNECTOR = "io.debezium.connector.postgresql.PostgresConnector"
_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")
_TOPIC_PREFIX = re.compile(r"^[A-Za-z0-9_-]+$")

#: connector keys derived from the connection or from other sections: never written in the file
DERIVED_CONNECTOR_KEYS = frozenset(
    {
        "database.hostname",
        "database.port",
        "database.user",
        "database.password",
        "database.dbname",
        "topic.prefix",
        "schema.include.list",
        "table.include.list",
        "publication.name",
        "signal.data.collection",
        "message.key.columns",
    }
)
#: connector keys whose values the pipeline's guarantees depend on
REQUIRED_CONNECTOR_VALUES = {
    "connector.class": DEBEZIUM_POSTGRES_CONNECTOR,
    "plugin.name": "pgoutput",
    "decimal.handling.mode": "string",
    "tombstones.on.delete": "true",
    "publication.autocreate.mode": "disabled",
}
REQUIRED_CONNECTOR_KEYS = ("slot.name", "heartbeat.interval.ms", "heartbeat.action.query")


def _expect_keys(section: str, data: Any, required: set[str], optional: frozenset[str] = frozenset()) -> None:
    if not isinstance(data, dict):
        raise CaptureConfigError(f"{section} must be a mapping, got {type(data).__name__}")
    unknown = sorted(set(data) - required - optional)
    if unknown:
        raise CaptureConfigError(f"{section}: unknown key(s) {', '.join(unknown)}")
    missing = sorted(required - set(data))
    if missing:
        raise CaptureConfigError(f"{section}: missing key(s) {', '.join(missing)}")


def _identifier(key: str, value: Any) -> str:
    if not isinstance(value, str) or not _IDENTIFIER.match(value):
        raise CaptureConfigError(f"{key} must be a lower-case SQL identifier, got {value!r}")
    return value


@dataclass(frozen=True)
class SourceSpec:
    """
    What is captured in the source database.

    :param schema: The PostgreSQL schema of the captured tables.
    :param tables: The captured business tables, in foreign-key order.
    :param publication: The publication the connector reads, limited to the captured tables.
    :param heartbeat_table: Table written by the connector's heartbeat action query.
    :param signal_table: Debezium signal table (incremental snapshots).
    :param key_columns: Key columns of tables without a primary key (Debezium ``message.key.columns``).
    :param manage_publication: The setup makes the publication publish exactly the captured tables; when
        ``False`` a DBA owns it and the setup only verifies it (a captured table missing from it fails).
    :param create_demo_tables: The setup creates the banking demo tables (``customers``, ``accounts``,
        ``transactions``) when absent; leave it off for a database of your own tables.
    """

    schema: str
    tables: tuple[str, ...]
    publication: str
    heartbeat_table: str
    signal_table: str
    key_columns: dict[str, tuple[str, ...]] = field(default_factory=dict)
    manage_publication: bool = True
    create_demo_tables: bool = False

    def __post_init__(self) -> None:
        _identifier("source.schema", self.schema)
        if not self.tables:
            raise CaptureConfigError("source.tables must name at least one table")
        for table in self.tables:
            _identifier("source.tables[]", table)
        if len(set(self.tables)) != len(self.tables):
            raise CaptureConfigError("source.tables lists a table twice")
        for key in ("publication", "heartbeat_table", "signal_table"):
            _identifier(f"source.{key}", getattr(self, key))
        for table, columns in self.key_columns.items():
            if table not in self.tables:
                raise CaptureConfigError(f"source.key_columns names {table!r}, which is not in source.tables")
            if not columns:
                raise CaptureConfigError(f"source.key_columns.{table} must list at least one column")
            for column in columns:
                _identifier(f"source.key_columns.{table}[]", column)
        for key in ("manage_publication", "create_demo_tables"):
            if not isinstance(getattr(self, key), bool):
                raise CaptureConfigError(f"source.{key} must be true or false, got {getattr(self, key)!r}")

    def qualified(self, table: str) -> str:
        """Return ``<schema>.<table>``."""
        return f"{self.schema}.{table}"


@dataclass(frozen=True)
class TopicSpec:
    """
    The change topics, one per captured table.

    :param prefix: Debezium ``topic.prefix``; topics are ``<prefix>.<schema>.<table>``.
    :param replication_factor: Replication factor of each topic.
    :param partitions: Partition count per table.
    :param config: Topic-level configuration applied at creation.
    """

    prefix: str
    replication_factor: int
    partitions: dict[str, int]
    config: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.prefix, str) or not _TOPIC_PREFIX.match(self.prefix):
            raise CaptureConfigError(f"topics.prefix must be letters, digits, '_' or '-', got {self.prefix!r}")
        if not isinstance(self.replication_factor, int) or self.replication_factor < 1:
            raise CaptureConfigError(
                f"topics.replication_factor must be an integer >= 1, got {self.replication_factor!r}"
            )
        for table, count in self.partitions.items():
            if not isinstance(count, int) or isinstance(count, bool) or count < 1:
                raise CaptureConfigError(f"topics.partitions.{table} must be an integer >= 1, got {count!r}")


@dataclass(frozen=True)
class ConnectorSpec:
    """
    The Debezium connector, minus what is derived (connection, topics, tables).

    :param name: Connector name on the Kafka Connect cluster.
    :param config: Connector configuration from the file (string values).
    """

    name: str
    config: dict[str, str]

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise CaptureConfigError("connector.name must be a non-empty string")
        derived = sorted(DERIVED_CONNECTOR_KEYS & set(self.config))
        if derived:
            raise CaptureConfigError(
                f"connector.config.{derived[0]} must not be set in the file: it comes from the Airflow "
                "connection or from the source/topics sections"
            )
        for key, expected in REQUIRED_CONNECTOR_VALUES.items():
            value = self.config.get(key)
            if value != expected:
                raise CaptureConfigError(f"connector.config.{key} must be {expected!r}, got {value!r}")
        for key in REQUIRED_CONNECTOR_KEYS:
            if not self.config.get(key):
                raise CaptureConfigError(f"connector.config.{key} is required")


@dataclass(frozen=True)
class CaptureConfig:
    """The whole capture configuration; build it with :meth:`load` or :meth:`from_dict`."""

    source: SourceSpec
    topics: TopicSpec
    connector: ConnectorSpec

    def __post_init__(self) -> None:
        missing = [table for table in self.source.tables if table not in self.topics.partitions]
        if missing:
            raise CaptureConfigError(f"topics.partitions has no entry for table(s) {', '.join(missing)}")
        extra = sorted(set(self.topics.partitions) - set(self.source.tables))
        if extra:
            raise CaptureConfigError(f"topics.partitions names table(s) not in source.tables: {', '.join(extra)}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CaptureConfig:
        """Validate and build from parsed YAML."""
        _expect_keys("capture config", data, {"source", "topics", "connector"})
        source, topics, connector = data["source"], data["topics"], data["connector"]
        _expect_keys(
            "source",
            source,
            {"schema", "tables", "publication", "heartbeat_table", "signal_table"},
            frozenset({"key_columns", "manage_publication", "create_demo_tables"}),
        )
        _expect_keys("topics", topics, {"prefix", "replication_factor", "partitions"}, frozenset({"config"}))
        _expect_keys("connector", connector, {"name", "config"})
        if not isinstance(source["tables"], list):
            raise CaptureConfigError("source.tables must be a list")
        key_columns = source.get("key_columns") or {}
        if not isinstance(key_columns, dict) or not all(isinstance(v, list) for v in key_columns.values()):
            raise CaptureConfigError("source.key_columns must be a mapping of table -> list of columns")
        if not isinstance(topics["partitions"], dict):
            raise CaptureConfigError("topics.partitions must be a mapping of table -> partition count")
        if not isinstance(connector["config"], dict):
            raise CaptureConfigError("connector.config must be a mapping")
        return cls(
            source=SourceSpec(
                schema=source["schema"],
                tables=tuple(source["tables"]),
                publication=source["publication"],
                heartbeat_table=source["heartbeat_table"],
                signal_table=source["signal_table"],
                key_columns={str(table): tuple(columns) for table, columns in key_columns.items()},
                manage_publication=source.get("manage_publication", True),
                create_demo_tables=source.get("create_demo_tables", False),
            ),
            topics=TopicSpec(
                prefix=topics["prefix"],
                replication_factor=topics["replication_factor"],
                partitions=dict(topics["partitions"]),
                config={str(k): str(v) for k, v in (topics.get("config") or {}).items()},
            ),
            connector=ConnectorSpec(
                name=connector["name"], config={str(k): str(v) for k, v in connector["config"].items()}
            ),
        )

    @classmethod
    def load(cls, path: str | Path | None = None) -> CaptureConfig:
        """
        Read and validate a capture configuration file.

        :param path: YAML file; ``None`` reads ``$BCDC_CAPTURE_CONFIG`` when set, else the packaged
            ``banking_cdc/config/capture.yaml``.
        """
        path = path or os.environ.get(CAPTURE_CONFIG_ENV) or None
        try:
            if path is None:
                text = files("banking_cdc").joinpath("config/capture.yaml").read_text(encoding="utf-8")
            else:
                text = Path(path).read_text(encoding="utf-8")
            data = yaml.safe_load(text)
        except (OSError, yaml.YAMLError) as exc:
            raise CaptureConfigError(f"cannot read capture config {path or 'capture.yaml'}: {exc}") from exc
        return cls.from_dict(data)

    def topic(self, table: str) -> str:
        """Return the change topic of ``table``: ``<prefix>.<schema>.<table>``."""
        if table not in self.source.tables:
            raise CaptureConfigError(f"table {table!r} is not captured (source.tables)")
        return f"{self.topics.prefix}.{self.source.schema}.{table}"

    def topic_partitions(self) -> dict[str, int]:
        """Return partition count per change topic."""
        return {self.topic(table): self.topics.partitions[table] for table in self.source.tables}

    def connector_config(self, *, host: str, port: int, user: str, password: str, dbname: str) -> dict[str, str]:
        """
        Render the full connector configuration with the connection's details merged in.

        :param host: Database host as the Kafka Connect worker reaches it.
        :param port: Database port.
        :param user: Replication user (needs REPLICATION and SELECT on the captured tables).
        :param password: Its password (from the Airflow connection; never logged).
        :param dbname: Source database name.
        """
        for key, value in (("host", host), ("user", user), ("dbname", dbname)):
            if not value:
                raise CaptureConfigError(f"the source connection has no {key}")
        rendered = dict(self.connector.config)
        rendered.update(
            {
                "database.hostname": host,
                "database.port": str(port or 5432),
                "database.user": user,
                "database.password": password or "",
                "database.dbname": dbname,
                "topic.prefix": self.topics.prefix,
                "schema.include.list": self.source.schema,
                "table.include.list": ",".join(self.qualified_tables()),
                "publication.name": self.source.publication,
                "signal.data.collection": self.source.qualified(self.source.signal_table),
            }
        )
        if self.source.key_columns:
            rendered["message.key.columns"] = ";".join(
                f"{self.source.qualified(table)}:{','.join(columns)}"
                for table, columns in self.source.key_columns.items()
            )
        return rendered

    def qualified_tables(self) -> list[str]:
        """The captured tables, schema-qualified, in configuration order."""
        return [self.source.qualified(table) for table in self.source.tables]


def redacted(config: dict[str, str]) -> dict[str, str]:
    """Return a copy of a connector configuration safe to log (passwords and secrets masked)."""
    return {
        key: ("***" if any(word in key.lower() for word in ("password", "secret", "credential")) else value)
        for key, value in config.items()
    }
