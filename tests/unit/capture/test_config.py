"""capture.yaml: validation names the bad key; rendering merges the connection in, never the file's secrets."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from banking_cdc.capture.config import CaptureConfig, redacted
from banking_cdc.exceptions import CaptureConfigError

PACKAGED = Path(__file__).resolve().parents[3] / "include" / "banking_cdc" / "config" / "capture.yaml"


@pytest.fixture
def raw() -> dict[str, Any]:
    return yaml.safe_load(PACKAGED.read_text())


def test_packaged_config_loads() -> None:
    capture = CaptureConfig.load()
    assert capture.source.tables == ("customers", "accounts", "transactions")
    assert capture.topic("transactions") == "bank.public.transactions"
    assert capture.topic_partitions() == {
        "bank.public.customers": 3,
        "bank.public.accounts": 3,
        "bank.public.transactions": 6,
    }


def test_rendered_connector_config_takes_connection_and_derived_keys() -> None:
    config = CaptureConfig.load().connector_config(
        host="db.internal", port=6543, user="cdc", password="from-connection", dbname="banking"
    )
    assert config["database.hostname"] == "db.internal"
    assert config["database.port"] == "6543"
    assert config["database.password"] == "from-connection"
    assert config["topic.prefix"] == "bank"
    assert config["table.include.list"] == "public.customers,public.accounts,public.transactions"
    assert config["publication.name"] == "bcdc_publication"
    assert config["signal.data.collection"] == "public.debezium_signal"
    assert config["decimal.handling.mode"] == "string"
    assert config["plugin.name"] == "pgoutput"
    assert config["tombstones.on.delete"] == "true"
    assert all(isinstance(value, str) for value in config.values())
    assert redacted(config)["database.password"] == "***"
    assert redacted(config)["database.user"] == "cdc"


def _set(data: dict[str, Any], dotted: list[str], value: Any) -> dict[str, Any]:
    data = copy.deepcopy(data)
    node = data
    for key in dotted[:-1]:
        node = node[key]
    node[dotted[-1]] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (
            ["connector", "config", "decimal.handling.mode"],
            "double",
            "connector.config.decimal.handling.mode must be 'string'",
        ),
        (["connector", "config", "plugin.name"], "decoderbufs", "connector.config.plugin.name must be 'pgoutput'"),
        (["connector", "config", "database.password"], "s3cret", "connector.config.database.password must not be set"),
        (["connector", "config", "topic.prefix"], "x", "connector.config.topic.prefix must not be set"),
        (
            ["connector", "config", "tombstones.on.delete"],
            "false",
            "connector.config.tombstones.on.delete must be 'true'",
        ),
        (["topics", "partitions", "transactions"], 0, "topics.partitions.transactions must be an integer >= 1"),
        (["topics", "replication_factor"], "three", "topics.replication_factor must be an integer >= 1"),
        (["topics", "prefix"], "bank prod", "topics.prefix must be letters"),
        (["source", "schema"], "Public;drop", "source.schema must be a lower-case SQL identifier"),
        (["source", "colour"], "blue", "source: unknown key(s) colour"),
    ],
)
def test_bad_values_are_rejected_naming_the_key(raw: dict[str, Any], path: list[str], value: Any, message: str) -> None:
    with pytest.raises(CaptureConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        CaptureConfig.from_dict(_set(raw, path, value))


def test_a_table_without_partitions_is_rejected(raw: dict[str, Any]) -> None:
    del raw["topics"]["partitions"]["accounts"]
    with pytest.raises(CaptureConfigError, match=r"topics\.partitions has no entry for table\(s\) accounts"):
        CaptureConfig.from_dict(raw)


def test_missing_required_connector_key_is_named(raw: dict[str, Any]) -> None:
    del raw["connector"]["config"]["heartbeat.action.query"]
    with pytest.raises(CaptureConfigError, match=r"connector\.config\.heartbeat\.action\.query is required"):
        CaptureConfig.from_dict(raw)


def test_unreadable_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(CaptureConfigError, match=r"cannot read capture config .*nope\.yaml"):
        CaptureConfig.load(tmp_path / "nope.yaml")


def test_connection_without_host_is_named() -> None:
    with pytest.raises(CaptureConfigError, match="the source connection has no host"):
        CaptureConfig.load().connector_config(host="", port=5432, user="u", password="p", dbname="d")


def test_key_columns_are_rendered_as_debezium_message_key_columns(raw: dict[str, Any]) -> None:
    raw["source"]["tables"].append("ledger_lines")
    raw["topics"]["partitions"]["ledger_lines"] = 2
    raw["source"]["key_columns"] = {"ledger_lines": ["book_id", "line_no"]}
    config = CaptureConfig.from_dict(raw).connector_config(host="h", port=5432, user="u", password="p", dbname="d")
    assert config["message.key.columns"] == "public.ledger_lines:book_id,line_no"
    assert config["table.include.list"].endswith(",public.ledger_lines")


@pytest.mark.parametrize(
    ("key_columns", "message"),
    [
        ({"nowhere": ["id"]}, "source.key_columns names 'nowhere', which is not in source.tables"),
        ({"accounts": []}, "source.key_columns.accounts must list at least one column"),
        ({"accounts": ["Bad Name"]}, "source.key_columns.accounts[] must be a lower-case SQL identifier"),
        (["accounts"], "source.key_columns must be a mapping of table -> list of columns"),
    ],
)
def test_bad_key_columns_are_refused_naming_the_key(raw: dict[str, Any], key_columns: Any, message: str) -> None:
    raw["source"]["key_columns"] = key_columns
    with pytest.raises(CaptureConfigError, match=re.escape(message)):
        CaptureConfig.from_dict(raw)


def test_publication_and_demo_table_switches_must_be_booleans(raw: dict[str, Any]) -> None:
    raw["source"]["manage_publication"] = "yes"
    with pytest.raises(CaptureConfigError, match=r"source\.manage_publication must be true or false, got 'yes'"):
        CaptureConfig.from_dict(raw)


def test_without_the_optional_keys_the_publication_is_managed_and_no_demo_table_is_created(
    raw: dict[str, Any],
) -> None:
    for key in ("manage_publication", "create_demo_tables", "key_columns"):
        raw["source"].pop(key, None)
    source = CaptureConfig.from_dict(raw).source
    assert (source.manage_publication, source.create_demo_tables, source.key_columns) == (True, False, {})


def test_the_environment_names_another_capture_file(
    raw: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw["source"]["tables"] = ["ledger_lines"]
    raw["topics"]["partitions"] = {"ledger_lines": 2}
    path = tmp_path / "capture.yaml"
    path.write_text(yaml.safe_dump(raw))
    monkeypatch.setenv("BCDC_CAPTURE_CONFIG", str(path))
    assert CaptureConfig.load().source.tables == ("ledger_lines",)
