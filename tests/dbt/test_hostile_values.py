"""A hostile corpus in bronze: where every record ends (silver.rejects with its reason, or silver with its exact value).

Valid Debezium envelopes whose values the typed layers cannot hold exactly, for every typed column kind (money
and numeric, integer, timestamptz, date, boolean, uuid, text, json), next to edge values that must reach silver
exactly (RTL text, emoji, a 2 MB text, the largest NUMERIC(18,2), the first and last representable day), and the
change-stream oddities (a duplicate, out-of-order LSNs, a delete loaded before its insert, a null or missing key,
a tombstone, a TRUNCATE). The generic model of a table with one column of each kind (``current_kinds``) and the
banking models (``stg_transactions`` .. gold) are built with dbt on DuckDB; no dbt run fails on a value.
Envelope-level garbage (not JSON, not an envelope, unknown op) never reaches bronze: the stage quarantines it
(tests/integration/transfers/test_stage_faults.py).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import duckdb
import pytest
import yaml

from banking_cdc.capture.catalog import SourceColumn
from banking_cdc.capture.config import CaptureConfig
from banking_cdc.transform import current_models
from banking_cdc.warehouse.duckdb import duckdb_bronze_ddl
from tests.dbt.bronze_fixture import BronzeFixture, load_bronze, synthesize, write_catalog

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
MISSING = object()
TABLE = "kinds"
#: one column of each typed kind: (name, pg_type, kind, precision, scale, nullable)
KIND_COLUMNS = (
    ("id", "bigint", "integer", 64, None, False),
    ("amount", "numeric(18,2)", "decimal", 18, 2, False),
    ("qty", "integer", "integer", 32, None, True),
    ("at", "timestamp with time zone", "timestamptz", None, None, True),
    ("day", "date", "date", None, None, True),
    ("flag", "boolean", "boolean", None, None, True),
    ("ref", "uuid", "uuid", None, None, True),
    ("note", "text", "text", None, None, True),
    ("doc", "jsonb", "json", None, None, True),
)
GOOD: dict[str, Any] = {
    "amount": "12.34", "qty": 7, "at": "2026-01-02T03:04:05.123456Z", "day": 20454, "flag": True,
    "ref": "1b4e28ba-2fa1-11d2-883f-0016d3cca427", "note": "plain", "doc": '{"a": [1, "x"]}',
}  # fmt: skip
BIG_TEXT = "€" * (2 * 1024 * 1024 // 3)


@dataclass(frozen=True)
class Case:
    """One inserted row whose ``column`` holds ``value``: rejected for ``reason``, or in silver as ``exact``."""

    name: str
    column: str
    value: Any
    reason: str | None = None
    exact: Any = None


CASES: tuple[Case, ...] = (
    # money / numeric(18,2)
    Case("money_scale_beyond_column", "amount", "10.005", reason="more decimal places than numeric(18,2) holds"),
    Case("money_out_of_range", "amount", "12345678901234567.00", reason="out of range for numeric(18,2)"),
    Case("money_not_a_number", "amount", "abc", reason="not a decimal number"),
    Case("money_nan", "amount", "NaN", reason="not a decimal number"),
    Case("money_exponent", "amount", "1e3", reason="not a decimal number"),
    Case("money_as_json_number", "amount", 10.5, reason="wrong JSON type: number, expected string"),
    Case("money_missing", "amount", MISSING, reason="required field missing"),
    Case("money_null", "amount", None, reason="null in a required column"),
    Case("money_largest", "amount", "9999999999999999.99", exact=Decimal("9999999999999999.99")),
    Case("money_trailing_zeros", "amount", "-0.500", exact=Decimal("-0.50")),
    # integer
    Case("integer_out_of_range", "qty", 2147483648, reason="out of range for a 32-bit integer"),
    Case("integer_fraction", "qty", 1.5, reason="not an integer"),
    Case("integer_as_string", "qty", "12", reason="wrong JSON type: string, expected number"),
    Case("integer_as_boolean", "qty", True, reason="wrong JSON type: boolean, expected number"),
    Case("integer_null_allowed", "qty", None, exact=None),
    # timestamptz
    Case("timestamptz_impossible", "at", "2024-02-30T00:00:00Z", reason="impossible timestamp"),
    Case("timestamptz_finer_than_micros", "at", "2024-01-01T00:00:00.1234567Z", reason="to the microsecond"),
    Case("timestamptz_not_a_time", "at", "yesterday", reason="not an ISO-8601 timestamp"),
    Case("timestamptz_as_number", "at", 1700000000, reason="wrong JSON type: number, expected string"),
    Case(
        "timestamptz_exact",
        "at",
        "1999-12-31T23:59:59.999999Z",
        exact=datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    ),
    # date (days since 1970)
    Case("date_impossible", "day", 99999999, reason="impossible date"),
    Case("date_as_string", "day", "2024-01-01", reason="wrong JSON type: string, expected number"),
    Case("date_fraction", "day", 1.5, reason="not a day number"),
    Case("date_first_day", "day", -719162, exact=date(1, 1, 1)),
    Case("date_last_day", "day", 2932896, exact=date(9999, 12, 31)),
    # boolean
    Case("boolean_as_string", "flag", "true", reason="wrong JSON type: string, expected boolean"),
    Case("boolean_as_number", "flag", 1, reason="wrong JSON type: number, expected boolean"),
    Case("boolean_false", "flag", False, exact=False),
    # uuid
    Case("uuid_malformed", "ref", "1b4e28ba-2fa1-11d2-883f", reason="not a uuid"),
    Case("uuid_as_number", "ref", 123, reason="wrong JSON type: number, expected string"),
    Case(
        "uuid_upper_case",
        "ref",
        "1B4E28BA-2FA1-11D2-883F-0016D3CCA427",
        exact=UUID("1b4e28ba-2fa1-11d2-883f-0016d3cca427"),
    ),
    # text
    Case("text_nul", "note", "a\u0000b", reason="NUL character in text"),
    Case("text_as_number", "note", 5, reason="wrong JSON type: number, expected string"),
    Case("text_rtl_and_emoji", "note", "שלום مرحبا 👩‍💻 ‮abc", exact="שלום مرحبا 👩‍💻 ‮abc"),
    Case("text_oversized_2_mb", "note", BIG_TEXT, exact=BIG_TEXT),
    # json (Debezium's io.debezium.data.Json: JSON text in a string)
    Case("json_invalid", "doc", "{x", reason="not valid JSON"),
    Case("json_as_object", "doc", {"a": 1}, reason="wrong JSON type: object, expected string"),
    Case("json_unicode", "doc", '{"ü": ["é", 1.50]}', exact={"ü": ["é", 1.50]}),
    # key
    Case("key_null", "id", None, reason="null in a required column"),
    Case("key_missing", "id", MISSING, reason="required field missing"),
    Case("key_not_an_integer", "id", "seven", reason="wrong JSON type: string, expected number"),
)


class Bronze:
    """Appends Debezium change events to a bronze table of a DuckDB file, as the loader writes them."""

    def __init__(self, database: Path) -> None:
        self.database = database
        self.offsets: dict[str, int] = {}
        self.loaded_at = datetime(2026, 6, 1, tzinfo=UTC)

    def next_load(self) -> datetime:
        self.loaded_at += timedelta(minutes=1)
        return self.loaded_at

    def append(self, table: str, events: list[dict[str, Any]]) -> list[int]:
        """Insert ``events`` (op, lsn, after/before image dicts, tombstone) in one load; return their offsets."""
        loaded_at = self.next_load()
        offsets = []
        with duckdb.connect(str(self.database)) as conn:
            start = self.offsets.get(table)
            if start is None:
                start = conn.execute(f"SELECT coalesce(max(kafka_offset), -1) + 1 FROM bronze.{table}").fetchone()[0]
            for number, event in enumerate(events):
                offset = start + number
                tombstone = event.get("tombstone", False)
                image = json.dumps(event["image"], ensure_ascii=False) if "image" in event else None
                op = None if tombstone else event["op"]
                conn.execute(
                    f"""INSERT INTO bronze.{table} (kafka_topic, kafka_partition, kafka_offset, is_tombstone, op,
                        source_ts_ms, source_lsn, before_json, after_json, source_file, loaded_at)
                        VALUES (?, 0, ?, ?, ?, ?, ?, ?, ?, 'hostile-corpus', ?)""",
                    [f"cdc.public.{table}", offset, tombstone, op, event.get("ts_ms", 1767225600000),
                     event.get("lsn"), image if op == "d" else None, None if op == "d" else image, loaded_at],
                )  # fmt: skip
                offsets.append(offset)
            self.offsets[table] = start + len(events)
        return offsets


def image(key: int | None, **values: Any) -> dict[str, Any]:
    row = {"id": key, **GOOD, **values}
    return {name: value for name, value in row.items() if value is not MISSING}


def dbt(project: Path, database: Path, *args: str) -> Any:
    """Run dbt in-process on a copy of the project; return the result (not asserted)."""
    from dbt.cli.main import dbtRunner

    os.environ["BCDC_DUCKDB_PATH"] = str(database)
    return dbtRunner().invoke(
        [*args, "--project-dir", str(project), "--profiles-dir", str(project), "--target", "duckdb",
         "--target-path", str(project / "target"), "--log-path", str(project / "logs")]
    )  # fmt: skip


def failures(result: Any) -> list[str]:
    return [f"{r.node.name}: {r.status}" for r in (result.result or []) if str(r.status) not in ("success", "pass")]


def rows(database: Path, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    with duckdb.connect(str(database)) as conn:
        cursor = conn.execute(sql, params or [])
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


@pytest.fixture(scope="module")
def fixture() -> BronzeFixture:
    return synthesize(seed=5, customers=30, events=600)


@pytest.fixture(scope="module")
def warehouse(fixture: BronzeFixture, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The project with a captured table ``kinds``, bronze with the fixture plus the corpus, built once."""
    work = tmp_path_factory.mktemp("hostile")
    project, database = work / "banking_dbt", work / "warehouse.duckdb"
    shutil.copytree(ROOT / "banking_dbt", project, ignore=shutil.ignore_patterns("target", "logs"))
    settings = yaml.safe_load((ROOT / "include/banking_cdc/config/capture.yaml").read_text())
    settings["source"]["tables"] = [*settings["source"]["tables"], TABLE]
    settings["topics"]["partitions"][TABLE] = 1
    capture_path = work / "capture.yaml"
    capture_path.write_text(yaml.safe_dump(settings))
    capture = CaptureConfig.load(capture_path)
    current_models.write(project, capture)

    load_bronze(database, fixture)
    columns = [
        SourceColumn(TABLE, name, ordinal, pg_type, kind, precision, scale, nullable, 1 if name == "id" else None)
        for ordinal, (name, pg_type, kind, precision, scale, nullable) in enumerate(KIND_COLUMNS, start=1)
    ]
    with duckdb.connect(str(database)) as conn:
        for statement in duckdb_bronze_ddl(capture):
            conn.execute(statement)
        write_catalog(conn.execute, columns=columns)

    bronze = Bronze(database)
    events: list[dict[str, Any]] = []
    for number, case in enumerate(CASES, start=1):
        key = None if case.column == "id" else number
        value = {"id": case.value} if case.column == "id" else {case.column: case.value}
        row = image(key, **value) if case.column != "id" else {**image(None), **value}
        if case.column == "id" and case.value is MISSING:
            row.pop("id")
        events.append({"op": "c", "lsn": 1000 + number, "image": row})
    # a key keeps its last good state when its newest event is rejected (healed below, in the second build)
    events += [
        {"op": "c", "lsn": 2000, "image": image(900, amount="10.00")},
        {"op": "u", "lsn": 2001, "image": image(900, amount="10.005")},
    ]
    # change-stream oddities: a duplicate delivery, out-of-order LSNs, a delete loaded before its insert, a tombstone
    events += [
        {"op": "c", "lsn": 3000, "image": image(910, note="once")},
        {"op": "c", "lsn": 3000, "image": image(910, note="once")},
        {"op": "u", "lsn": 3102, "image": image(911, note="newer")},
        {"op": "u", "lsn": 3101, "image": image(911, note="older")},
        {"op": "d", "lsn": 3202, "image": image(912, note="deleted")},
        {"tombstone": True},
        {"op": "c", "lsn": 3201, "image": image(912, note="inserted")},
    ]
    offsets = bronze.append(TABLE, events)
    case_offsets = dict(zip((case.name for case in CASES), offsets, strict=False))

    # banking: an update of a fixture transaction with one decimal too many, and an insert whose amount is no number
    latest = rows(
        database,
        """SELECT image FROM (
               SELECT op, coalesce(after_json, before_json)::VARCHAR AS image, row_number() OVER (
                   PARTITION BY coalesce(after_json, before_json) ->> 'transaction_id' ORDER BY source_lsn DESC) AS n
               FROM bronze.transactions WHERE op IN ('c', 'u', 'r', 'd'))
           WHERE n = 1 AND op <> 'd' ORDER BY image LIMIT 1""",
    )[0]
    victim = json.loads(latest["image"])
    top = rows(database, "SELECT max(source_lsn) AS lsn FROM bronze.transactions")[0]["lsn"]
    bronze.append(
        "transactions",
        [
            {"op": "u", "lsn": top + 10, "image": {**victim, "amount": victim["amount"] + "1"}},
            {"op": "c", "lsn": top + 11, "image": {**victim, "transaction_id": 10**9, "amount": "abc"}},
        ],
    )
    first = dbt(project, database, "build", "--exclude", "test_type:unit")
    yield {
        "project": project, "database": database, "bronze": bronze, "first": first, "offsets": case_offsets,
        "victim": victim,
    }  # fmt: skip


def silver(database: Path) -> dict[int, dict[str, Any]]:
    return {row["id"]: row for row in rows(database, "SELECT * FROM silver.current_kinds")}


def test_no_dbt_node_fails_on_a_value(warehouse: dict[str, Any]) -> None:
    result = warehouse["first"]
    assert result.success, failures(result)
    warned = {r.node.name for r in result.result if str(r.status) == "warn"}
    for model in ("current_kinds", "stg_transactions", "current_transactions"):
        assert any(name.startswith(f"no_rejects_{model}") for name in warned), (model, warned)


@pytest.mark.parametrize("case", [c for c in CASES if c.reason], ids=lambda c: c.name)
def test_a_value_that_does_not_fit_is_rejected_with_its_reason(warehouse: dict[str, Any], case: Case) -> None:
    offset = warehouse["offsets"][case.name]
    found = rows(
        warehouse["database"],
        "SELECT * FROM silver.rejects WHERE model = 'current_kinds' AND kafka_offset = ?",
        [offset],
    )
    assert [r["column_name"] for r in found] == [case.column], found
    assert case.reason in found[0]["reason"]
    assert found[0]["table_name"] == TABLE and found[0]["op"] == "c"
    assert found[0]["source_lsn"] == 1000 + CASES.index(case) + 1
    raw = None if case.value is MISSING or case.value is None else case.value
    if isinstance(raw, str):
        assert found[0]["raw_value"] == raw
    key = CASES.index(case) + 1
    if case.column != "id":
        assert found[0]["key_text"] == str(key)
        assert key not in silver(warehouse["database"]), "a rejected insert must leave no row (no invented state)"


@pytest.mark.parametrize("case", [c for c in CASES if not c.reason], ids=lambda c: c.name)
def test_a_value_that_fits_reaches_silver_exactly(warehouse: dict[str, Any], case: Case) -> None:
    key = CASES.index(case) + 1
    row = silver(warehouse["database"])[key]
    value = row[case.column]
    if case.column == "doc":
        value = json.loads(value)
    assert value == case.exact and type(value) is type(case.exact)
    assert row["_rejected_lsn"] is None


def test_null_and_missing_keys_leave_no_row(warehouse: dict[str, Any]) -> None:
    assert None not in silver(warehouse["database"])


def test_rejected_update_keeps_the_last_good_state_marked(warehouse: dict[str, Any]) -> None:
    row = silver(warehouse["database"])[900]
    assert row["amount"] == Decimal("10.00") and row["_source_lsn"] == 2000
    assert row["_rejected_lsn"] == 2001 and row["_rejected_since"] is not None


def test_change_stream_oddities_end_where_they_should(warehouse: dict[str, Any]) -> None:
    state = silver(warehouse["database"])
    assert state[910]["note"] == "once"  # duplicate: one row
    assert state[911]["note"] == "newer" and state[911]["_source_lsn"] == 3102  # highest LSN wins
    assert state[912]["is_deleted"] and state[912]["_source_lsn"] == 3202  # the delete, though loaded first
    rejected_offsets = {r["kafka_offset"] for r in rows(warehouse["database"], "SELECT * FROM silver.rejects")}
    assert len(rejected_offsets) == sum(1 for c in CASES if c.reason) + 1 + 2  # corpus, key 900, two banking


def test_banking_models_reject_without_rounding_and_gold_keeps_flowing(warehouse: dict[str, Any]) -> None:
    database, victim = warehouse["database"], warehouse["victim"]
    key = victim["transaction_id"]
    for model in ("stg_transactions", "current_transactions"):
        found = rows(database, f"SELECT amount, _rejected_lsn FROM silver.{model} WHERE transaction_id = ?", [key])
        assert found and str(found[0]["amount"]) == victim["amount"], model  # not rounded: the last good amount
        assert found[0]["_rejected_lsn"] is not None, model
        assert not rows(database, f"SELECT 1 FROM silver.{model} WHERE transaction_id = ?", [10**9]), model
    fact = rows(database, "SELECT amount FROM gold.fct_transactions WHERE transaction_id = ?", [key])
    assert str(fact[0]["amount"]) == victim["amount"]
    reasons = {
        (r["model"], r["column_name"], r["reason"])
        for r in rows(database, "SELECT * FROM silver.rejects WHERE table_name = 'transactions'")
    }
    assert ("stg_transactions", "amount", "more decimal places than numeric(18,2) holds") in reasons
    assert ("stg_transactions", "amount", "not a decimal number") in reasons


def test_silver_money_round_trips_to_the_bronze_text(warehouse: dict[str, Any]) -> None:
    """Every current amount equals, as a number written in full, the decimal text of the event it came from."""
    mismatched = rows(
        warehouse["database"],
        """SELECT s.transaction_id FROM silver.stg_transactions AS s
           JOIN (SELECT *, CASE WHEN op = 'd' THEN before_json ELSE after_json END AS image FROM bronze.transactions)
               AS b ON b.source_lsn = s._source_lsn AND b.kafka_offset = s._kafka_offset
                   AND CAST(b.image ->> 'transaction_id' AS BIGINT) = s.transaction_id
           WHERE b.image ->> 'amount' <> CAST(s.amount AS VARCHAR)""",
    )
    assert mismatched == []


def test_strict_mode_fails_the_rejects_test_and_default_only_warns(warehouse: dict[str, Any]) -> None:
    project, database = warehouse["project"], warehouse["database"]
    default = dbt(project, database, "test", "--select", "test_name:no_rejects")
    warned = {r.node.name for r in default.result if str(r.status) == "warn"}
    assert default.success and warned and {str(r.status) for r in default.result} <= {"warn", "pass"}
    strict = dbt(project, database, "test", "--select", "test_name:no_rejects", "--vars", "{strict_rejects: true}")
    assert not strict.success
    assert {r.node.name for r in strict.result if str(r.status) == "fail"} == warned, failures(strict)


def test_a_correcting_event_heals_the_key_and_a_truncate_deletes_what_came_before(warehouse: dict[str, Any]) -> None:
    project, database, bronze = warehouse["project"], warehouse["database"], warehouse["bronze"]
    bronze.append(TABLE, [{"op": "u", "lsn": 4000, "image": image(900, amount="10.01")}])
    healed = dbt(project, database, "build", "--select", "current_kinds", "--exclude", "test_type:unit")
    assert healed.success, failures(healed)
    row = silver(database)[900]
    assert row["amount"] == Decimal("10.01") and row["_rejected_lsn"] is None
    open_rejects = rows(
        database,
        "SELECT count(*) AS n FROM silver.rejects r WHERE model = 'current_kinds' AND key_text = '900' "
        "AND NOT EXISTS (SELECT 1 FROM silver.current_kinds s WHERE s._key = r.key_hash "
        "AND s._source_lsn > r.source_lsn)",
    )
    assert open_rejects == [{"n": 0}]

    bronze.append(TABLE, [
        {"op": "t", "lsn": 5000, "ts_ms": 1767229200000},
        {"op": "c", "lsn": 5001, "image": image(950, note="after the truncate")},
    ])  # fmt: skip
    truncated = dbt(project, database, "build", "--select", "current_kinds", "--exclude", "test_type:unit")
    assert truncated.success, failures(truncated)
    state = silver(database)
    live = {key for key, row in state.items() if not row["is_deleted"]}
    assert live == {950}
    truncated_rows = [row for key, row in state.items() if key != 950 and row["last_op"] == "t"]
    assert truncated_rows and all(row["_source_lsn"] == 5000 for row in truncated_rows)
    assert all(row["changed_at"] == datetime(2026, 1, 1, 1, 0, tzinfo=UTC) for row in truncated_rows)
    assert state[912]["last_op"] == "d"  # already deleted before the truncate: stays as it was


@pytest.mark.parametrize("column", [c for c in KIND_COLUMNS], ids=lambda c: c[0])
def test_decoding_never_fails_on_a_value(warehouse: dict[str, Any], column: tuple[Any, ...]) -> None:
    """decode_column is a safe cast: every corpus value of the kind decodes (to NULL when it does not fit), no error.

    The models check values before they decode them, and the warehouse may skip decoding rows the check already
    excluded: this decodes every value of the corpus directly, so a plain CAST in decode_column fails here."""
    name, _pg_type, kind, precision, scale, _nullable = column
    values = [case.value for case in CASES if case.column == name and case.value is not MISSING]
    images = [json.dumps({name: value}, ensure_ascii=False) for value in values] or ["{}"]
    literal = ", ".join("('" + text.replace("'", "''") + "')" for text in images)
    spec = {"name": name, "kind": kind, "precision": precision, "scale": scale}
    sql = (
        f"select {{{{ banking_dbt.decode_column('image', {spec!r}) }}}} as decoded "
        f"from (select cast(raw as json) as image from (values {literal}) as corpus(raw))"
    )
    shown = dbt(warehouse["project"], warehouse["database"], "show", "--inline", sql, "--limit", "-1")
    assert shown.success, f"decoding {name} ({kind}) failed on a value: {shown.exception or failures(shown)}"


def test_monitoring_counts_the_rejects_of_the_built_warehouse(warehouse: dict[str, Any]) -> None:
    """cdc_monitoring's reader on this warehouse: rejected values with reasons, new ones, keys held."""
    from banking_cdc.monitoring.rejects import collect_rejects
    from banking_cdc.settings import NEW_REJECTS, REJECTED_KEYS, REJECTED_VALUES

    with duckdb.connect(str(warehouse["database"])) as conn:  # as dbt-duckdb opened it in this process

        def query(sql: str, params: Any) -> list[tuple[Any, ...]]:
            return conn.execute(sql, list(params)).fetchall()

        samples = {
            (s.metric, s.subject): s
            for s in collect_rejects(
                query,
                backend="duckdb",
                models=["current_kinds", "stg_accounts"],
                since=datetime(2000, 1, 1, tzinfo=UTC),
            )
        }
    recorded = rows(warehouse["database"], "SELECT count(*) AS n FROM silver.rejects WHERE model = 'current_kinds'")
    assert samples[(REJECTED_VALUES, "current_kinds")].value == recorded[0]["n"] > 0
    assert "more decimal places than numeric(18,2) holds" in samples[(REJECTED_VALUES, "current_kinds")].status
    assert samples[(NEW_REJECTS, "current_kinds")].value == recorded[0]["n"]
    held = rows(warehouse["database"], "SELECT count(*) AS n FROM silver.current_kinds WHERE _rejected_lsn IS NOT NULL")
    assert samples[(REJECTED_KEYS, "current_kinds")].value == held[0]["n"]
    assert samples[(REJECTED_VALUES, "stg_accounts")].value == 0


def test_reconciliation_reads_the_held_keys_as_rejects(
    warehouse: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The generic reconciliation's view of silver.rejects on the built warehouse: open rejects of held keys only."""
    from banking_cdc.reconcile.generic import rejected_keys
    from banking_cdc.warehouse.duckdb import DuckDBWarehouse

    monkeypatch.setenv(
        "AIRFLOW_CONN_DUCKDB_HOSTILE", json.dumps({"conn_type": "duckdb", "host": str(warehouse["database"])})
    )
    columns = [
        SourceColumn(TABLE, name, ordinal, pg_type, kind, precision, scale, nullable, 1 if name == "id" else None)
        for ordinal, (name, pg_type, kind, precision, scale, nullable) in enumerate(KIND_COLUMNS, start=1)
    ]
    with DuckDBWarehouse("duckdb_hostile") as duck:
        held = rejected_keys(duck, TABLE, columns)
    corpus_keys = {(CASES.index(c) + 1,) for c in CASES if c.reason and c.column != "id"}
    healed = silver(warehouse["database"]).get(900, {}).get("_rejected_lsn") is None
    assert held == corpus_keys | (set() if healed else {(900,)})
