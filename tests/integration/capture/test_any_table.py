"""Capturing tables the project did not create, by configuration alone, on the real stack.

Each test owns a schema of its own in the source database and a capture configuration naming it, with a
connector, slot, publication, signal table and topic prefix of its own, so the shared banking connector is
never touched. The tables are created and filled with plain SQL, as a bank's own tables would be.
"""

from __future__ import annotations

import pytest

from banking_cdc.capture.source_setup import CaptureSetupError
from banking_cdc.hooks.kafka_connect import KafkaConnectHook
from banking_cdc.operators.capture import ApplySourceSchemaOperator
from tests.support.user_source import LEDGER_DDL, RATES_DDL, UserSource, topic_end, topic_values

pytestmark = pytest.mark.integration


def test_a_table_that_cannot_be_captured_fails_the_setup_naming_it_and_the_fix(user_source: UserSource) -> None:
    user_source.sql(LEDGER_DDL)
    user_source.sql("CREATE TABLE {schema}.no_key (note text); ALTER TABLE {schema}.no_key REPLICA IDENTITY FULL")
    user_source.sql("CREATE TABLE {schema}.default_identity (id int PRIMARY KEY)")
    user_source.configure(["ledger_entries", "no_key", "default_identity", "absent"])
    operator = ApplySourceSchemaOperator(task_id="schema", capture_config_path=str(user_source.path))
    with pytest.raises(CaptureSetupError) as failure:
        operator.execute({})  # type: ignore[arg-type]
    message = str(failure.value)
    schema = user_source.name
    assert "3 problem(s)" in message, message
    assert f"{schema}.no_key: no primary key and no declared key columns" in message
    assert f"ALTER TABLE {schema}.no_key ADD PRIMARY KEY (...), or list its key in source.key_columns.no_key" in message
    assert f"{schema}.default_identity: REPLICA IDENTITY is not FULL" in message
    assert f"ALTER TABLE {schema}.default_identity REPLICA IDENTITY FULL" in message
    assert f"{schema}.absent: table absent" in message
    assert "ledger_entries" not in message
    # nothing was changed: the publication was not created
    assert user_source.hook.get_first("SELECT count(*) FROM pg_publication WHERE pubname = %s", parameters=(
        f"{schema}_pub",))[0] == 0  # fmt: skip

    # declared key columns make a table without a primary key capturable
    user_source.sql("DROP TABLE {schema}.default_identity")
    user_source.configure(["ledger_entries", "no_key"], key_columns={"no_key": ["note"]})
    result = operator.execute({})  # type: ignore[arg-type]
    assert result["keys"] == {f"{schema}.ledger_entries": ["book_id", "entry_no"], f"{schema}.no_key": ["note"]}


def test_a_table_missing_from_a_verified_publication_fails_the_setup(user_source: UserSource) -> None:
    user_source.sql(LEDGER_DDL)
    user_source.sql(RATES_DDL)
    user_source.configure(["ledger_entries", "fx_rates"])
    operator = ApplySourceSchemaOperator(task_id="schema", capture_config_path=str(user_source.path))
    schema = user_source.name
    assert f"{schema}.fx_rates" in operator.execute({})["published"]  # type: ignore[arg-type]

    # someone takes a table out of the publication by hand: the connector would stay RUNNING and see nothing
    user_source.sql(f"ALTER PUBLICATION {schema}_pub DROP TABLE {schema}.fx_rates")
    user_source.configure(["ledger_entries", "fx_rates"], manage_publication=False)
    with pytest.raises(CaptureSetupError, match=rf"publication {schema}_pub does not publish {schema}\.fx_rates"):
        operator.execute({})  # type: ignore[arg-type]

    # a managed publication is repaired, and the repair is reported
    user_source.configure(["ledger_entries", "fx_rates"])
    result = operator.execute({})  # type: ignore[arg-type]
    assert result["added"] == [f"{schema}.fx_rates"]
    assert f"{schema}.fx_rates" in result["published"]


def test_tables_added_and_removed_by_configuration(user_source: UserSource) -> None:
    schema = user_source.name
    user_source.sql(LEDGER_DDL)
    user_source.sql(RATES_DDL)

    # first setup: the connector is created and its own initial snapshot reads the table
    user_source.configure(["ledger_entries"])
    first = user_source.setup()
    assert first["connector"]["outcome"] == "created"
    assert first["initial_load"]["signal_id"] is None
    ledger_topic = f"{schema}.{schema}.ledger_entries"
    snapshot = topic_values(ledger_topic, 40)
    assert sorted((v["after"]["book_id"], v["after"]["entry_no"]) for v in snapshot if v["op"] == "r") == sorted(
        (1 + i % 3, i) for i in range(1, 41)
    )
    row = next(v["after"] for v in snapshot if v["after"]["entry_no"] == 2)
    assert row["amount"] == "2000.246914"  # numeric(20,6) as exact decimal text
    assert row["memo"] == "تحويل 💸 #2" and row["tags"] == [2, 3] and row["reconciled"] is True

    # fx_rates is added by configuration: its existing rows arrive by an incremental snapshot, then its changes
    user_source.configure(["ledger_entries", "fx_rates"])
    second = user_source.setup()
    assert second["connector"]["outcome"] == "updated"
    assert second["initial_load"]["added"] == ["fx_rates"]
    assert second["loaded"]["rows_scanned"] == {f"{schema}.fx_rates": 25}
    rates_topic = f"{schema}.{schema}.fx_rates"
    user_source.sql("UPDATE {schema}.fx_rates SET rate = 2.12345678 WHERE pair = 'EUR7'")
    rates = topic_values(rates_topic, 26)
    assert sorted(v["after"]["pair"] for v in rates if v["op"] == "r") == sorted(f"EUR{i}" for i in range(1, 26))
    assert [v["after"]["rate"] for v in rates if v["op"] == "u"] == ["2.12345678"]

    # a second run with the same configuration loads nothing again
    assert user_source.setup()["initial_load"]["signal_id"] is None

    # ledger_entries is removed: out of the publication and the connector; fx_rates keeps flowing
    user_source.configure(["fx_rates"])
    third = user_source.setup()
    assert third["schema"]["removed"] == [f"{schema}.ledger_entries"]
    config = KafkaConnectHook().get_connector_config(schema.replace("_", "-"))
    assert config is not None and config["table.include.list"] == f"{schema}.fx_rates"
    ledger_end = topic_end(ledger_topic)
    user_source.sql("UPDATE {schema}.ledger_entries SET memo = 'after removal' WHERE entry_no = 1")
    user_source.sql("UPDATE {schema}.fx_rates SET rate = 3 WHERE pair = 'EUR8'")
    rates = topic_values(rates_topic, 27)
    assert [v["after"]["rate"] for v in rates if v["op"] == "u"] == ["2.12345678", "3.00000000"]
    assert topic_end(ledger_topic) == ledger_end
