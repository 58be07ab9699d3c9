"""The bronze fixture generator: determinism, the bronze contract, source invariants, edge cases, loading in parts.

Fast and service-free (one synthesis of ~3,500 rows shared by the module, a few tiny ones). At scale, measured
on the shared 2-core dev machine under load: ``synthesize(seed=7, customers=2000, events=480_000)`` gives
974,141 bronze rows (2,412 files) in 36.5 s (2.5 GB peak); ``load_bronze`` of the base of ``split_parts``
(99%) takes 7.6 s and of the 1% tail 0.2 s; typing the final source state 3.2 s on first access.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from banking_cdc.capture.config import CaptureConfig
from banking_cdc.capture.source_schema import schema_sql
from banking_cdc.warehouse.bronze import BRONZE_COLUMNS, LOAD_COLUMNS, PAYLOAD_COLUMNS, LandingFile
from tests.dbt.bronze_fixture import (
    BRONZE_ARROW_SCHEMA,
    COLUMNS,
    EDGE_CASES,
    PRIMARY_KEYS,
    TABLES,
    BronzeFixture,
    load_bronze,
    main,
    murmur2_partition,
    split_parts,
    synthesize,
)

MONEY = re.compile(r"^\d+\.\d{2}$")
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
TRACKED = {
    "customers": {"tier", "kyc_status", "email", "phone", "address_line", "city", "postal_code"},
    "accounts": {"status"},
}


@pytest.fixture(scope="module")
def fixture() -> BronzeFixture:
    return synthesize(seed=7, customers=30, events=1_500)


@pytest.fixture(scope="module")
def rows(fixture: BronzeFixture) -> dict[str, list[dict[str, Any]]]:
    return {table: fixture.rows[table].to_pylist() for table in TABLES}


@pytest.fixture(scope="module")
def changes(rows: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Every distinct change (duplicates and tombstones dropped), in LSN order, snapshot first."""
    seen: dict[tuple[str, int, str], dict[str, Any]] = {}
    for table in TABLES:
        for row in rows[table]:
            if not row["is_tombstone"]:
                seen.setdefault((row["kafka_key"], row["source_lsn"], row["op"]), row)
    return sorted(seen.values(), key=lambda row: (row["source_lsn"], row["op"] != "r"))


def _pk(row: dict[str, Any]) -> tuple[str, int]:
    ((name, value),) = json.loads(row["kafka_key"]).items()
    return row["source_table"] or name.removesuffix("_id") + "s", value


def _ddl_columns() -> dict[str, list[str]]:
    columns = {}
    for table, body in re.findall(r"CREATE TABLE IF NOT EXISTS (\w+) \((.*?)\n\);", schema_sql(), re.S):
        names = [line.split()[0] for line in body.strip().splitlines()]
        columns[table] = [name for name in names if name.islower() and name not in ("constraint", "check")]
    return columns


def _debezium_json(value: Any) -> Any:
    """Independent encoding of a typed source value, as Debezium's JsonConverter writes it."""
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, date):
        return (value - date(1970, 1, 1)).days
    return value


# ---------------------------------------------------------------------------------------------- determinism


def test_same_seed_same_bytes_other_seed_other_data() -> None:
    first, again, other = (synthesize(seed=s, customers=12, events=300) for s in (3, 3, 4))
    for table in TABLES:
        assert first.rows[table].equals(again.rows[table])
        assert not first.rows[table].equals(other.rows[table])
    assert first.files == again.files
    assert first.edge_cases == again.edge_cases
    assert first.source_state == again.source_state


def test_too_small_a_run_is_refused() -> None:
    with pytest.raises(ValueError, match="events >= 100"):
        synthesize(events=10)


def test_murmur2_is_kafkas_default_partitioner() -> None:
    # reference values of Kafka's Utils.murmur2 (as published with kafka-python's partitioner tests)
    for key, java_int in (
        (b"21", -973932308),
        (b"foobar", -790332482),
        (b"a-little-bit-long-string", -985981536),
        (b"a-little-bit-longer-string", -1486304829),
        (b"abc", 479470107),
    ):
        assert murmur2_partition(key, 2**31) == java_int & 0x7FFFFFFF


# ---------------------------------------------------------------------------------------------- bronze contract


def test_arrow_schema_is_the_bronze_contract(fixture: BronzeFixture) -> None:
    expected = [name for name, _, _ in (*BRONZE_COLUMNS, *PAYLOAD_COLUMNS, *LOAD_COLUMNS)]
    assert [field.name for field in BRONZE_ARROW_SCHEMA] == expected
    for table in TABLES:
        assert fixture.rows[table].schema == BRONZE_ARROW_SCHEMA


def test_kafka_coordinates(rows: dict[str, list[dict[str, Any]]]) -> None:
    capture = CaptureConfig.load()
    for table in TABLES:
        partitions = capture.topics.partitions[table]
        offsets: dict[int, list[int]] = defaultdict(list)
        for row in rows[table]:
            assert row["kafka_topic"] == capture.topic(table)
            assert re.fullmatch(rf'\{{"{PRIMARY_KEYS[table]}":\d+\}}', row["kafka_key"])
            assert row["kafka_partition"] == murmur2_partition(row["kafka_key"].encode(), partitions)
            offsets[row["kafka_partition"]].append(row["kafka_offset"])
        assert set(offsets) == set(range(partitions)), f"{table}: every partition has events"
        for partition, seen in offsets.items():
            assert sorted(seen) == list(range(len(seen))), f"{table}/{partition}: offsets 0..n-1, each once"


def test_envelope_per_op(rows: dict[str, list[dict[str, Any]]]) -> None:
    lags: list[int] = []
    for table in TABLES:
        by_coordinate = {(row["kafka_partition"], row["kafka_offset"]): row for row in rows[table]}
        for row in rows[table]:
            if row["is_tombstone"]:
                assert row["op"] is row["event_ts_ms"] is row["source_lsn"] is row["source_tx_id"] is None
                assert row["source_snapshot"] is row["source_db"] is row["source_table"] is None
                assert row["before_json"] is row["after_json"] is None
                previous = by_coordinate[(row["kafka_partition"], row["kafka_offset"] - 1)]
                assert previous["op"] == "d" and previous["kafka_key"] == row["kafka_key"]
                continue
            assert row["op"] in ("c", "u", "d", "r")
            assert (row["source_db"], row["source_schema"], row["source_table"]) == ("banking", "public", table)
            assert row["source_snapshot"] == ("false" if row["op"] != "r" else row["source_snapshot"])
            assert (row["before_json"] is None) == (row["op"] in ("c", "r"))
            assert (row["after_json"] is None) == (row["op"] == "d")
            assert row["event_ts_ms"] > row["source_ts_ms"]  # processed after the commit (replays: much later)
            lags.append(row["event_ts_ms"] - row["source_ts_ms"])
            assert row["kafka_timestamp"] >= datetime.fromtimestamp(row["event_ts_ms"] / 1000, UTC)
            if row["op"] == "d":
                tombstone = by_coordinate[(row["kafka_partition"], row["kafka_offset"] + 1)]
                assert tombstone["is_tombstone"] and tombstone["kafka_key"] == row["kafka_key"]
            for image in (row["before_json"], row["after_json"]):
                if image is not None:
                    assert json.loads(image)[PRIMARY_KEYS[table]] == json.loads(row["kafka_key"])[PRIMARY_KEYS[table]]

    assert sorted(lags)[len(lags) * 95 // 100] < 1_000, "Debezium processes a change within milliseconds"


def test_snapshot_events(fixture: BronzeFixture, changes: list[dict[str, Any]]) -> None:
    snapshot = [row for row in changes if row["op"] == "r"]
    assert len(snapshot) == len(fixture.edge_cases["snapshot"])
    assert {row["source_lsn"] for row in snapshot} == {snapshot[0]["source_lsn"]}
    assert {row["source_tx_id"] for row in snapshot} == {snapshot[0]["source_tx_id"]}
    flags = Counter(row["source_snapshot"] for row in snapshot)
    assert flags == {"first": 1, "true": len(snapshot) - 2, "last": 1}
    by_event_time = sorted(snapshot, key=lambda row: (row["event_ts_ms"], TABLES.index(row["source_table"])))
    assert by_event_time[0]["source_snapshot"] == "first" and by_event_time[0]["source_table"] == "customers"
    assert all(row["source_lsn"] < change["source_lsn"] for row in snapshot[:1] for change in changes[len(snapshot) :])


def test_row_images_are_debezium_json_in_ddl_order(rows: dict[str, list[dict[str, Any]]]) -> None:
    ddl = _ddl_columns()
    for table in TABLES:
        assert [name for name, _ in COLUMNS[table]] == ddl[table]
        kinds = dict(COLUMNS[table])
        for row in rows[table]:
            for image in (row["before_json"], row["after_json"]):
                if image is None:
                    continue
                decoded = json.loads(image)
                assert list(decoded) == ddl[table]
                assert json.dumps(decoded, separators=(",", ":"), ensure_ascii=False) == image, "compact"
                for name, value in decoded.items():
                    kind = kinds[name]
                    if value is None:
                        continue
                    if kind == "money":
                        assert isinstance(value, str) and MONEY.match(value), (name, value)
                    elif kind == "ts":
                        assert isinstance(value, str) and TIMESTAMP.match(value), (name, value)
                    elif kind in ("int", "date"):
                        assert isinstance(value, int), (name, value)
                    else:
                        assert isinstance(value, str), (name, value)


def test_lsns_and_source_transactions(changes: list[dict[str, Any]]) -> None:
    streamed = [row for row in changes if row["op"] != "r"]
    lsns = [row["source_lsn"] for row in streamed]
    assert lsns == sorted(set(lsns)), "every change has its own LSN"
    by_tx: dict[int, list[int]] = defaultdict(list)
    for position, row in enumerate(streamed):
        by_tx[row["source_tx_id"]].append(position)
    for tx_id, positions in by_tx.items():
        assert positions == list(range(positions[0], positions[-1] + 1)), f"tx {tx_id}: consecutive LSNs"
        assert len({streamed[p]["source_ts_ms"] for p in positions}) == 1, "one commit time per transaction"
    assert [row["source_tx_id"] for row in streamed] == sorted(row["source_tx_id"] for row in streamed)
    assert [row["source_ts_ms"] for row in streamed] == sorted(row["source_ts_ms"] for row in streamed)
    assert max(len(p) for p in by_tx.values()) >= 4, "some transactions change several rows"


def test_per_key_order_in_its_partition(rows: dict[str, list[dict[str, Any]]]) -> None:
    for table in TABLES:
        by_key: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in sorted(rows[table], key=lambda r: (r["kafka_partition"], r["kafka_offset"])):
            by_key[row["kafka_key"]].append(row)
        for key, events in by_key.items():
            assert len({row["kafka_partition"] for row in events}) == 1, key
            first_seen: dict[int, int] = {}
            for row in events:
                if not row["is_tombstone"]:
                    first_seen.setdefault(row["source_lsn"], row["kafka_offset"])
            order = sorted(first_seen, key=first_seen.__getitem__)
            assert order == sorted(order), f"{key}: first deliveries in LSN order"


def test_landing_files_and_load_times(fixture: BronzeFixture, rows: dict[str, list[dict[str, Any]]]) -> None:
    loaded_at = [file.loaded_at for file in fixture.files]
    assert loaded_at == sorted(loaded_at) and len(set(loaded_at)) == len(loaded_at)
    assert len({file.key for file in fixture.files}) == len(fixture.files)
    for file in fixture.files:
        landing = LandingFile.parse(file.key)
        assert file.key.startswith(f"raw/{landing.topic}/partition={file.partition}/")
        assert (landing.partition, landing.first_offset, landing.last_offset) == (
            file.partition,
            file.first_offset,
            file.last_offset,
        )
        in_file = rows[file.table][file.row_start : file.row_start + file.rows]
        assert [row["kafka_offset"] for row in in_file] == list(range(file.first_offset, file.last_offset + 1))
        assert {row["source_file"] for row in in_file} == {file.key}
        assert {row["loaded_at"] for row in in_file} == {file.loaded_at}
        assert all(row["kafka_timestamp"] < file.loaded_at for row in in_file)
    assert sum(file.rows for file in fixture.files) == fixture.total_rows


# ---------------------------------------------------------------------------------------------- source truth


def test_replaying_the_events_gives_the_final_state(fixture: BronzeFixture, changes: list[dict[str, Any]]) -> None:
    replayed: dict[str, dict[int, dict[str, Any]]] = {table: {} for table in TABLES}
    for row in changes:
        table, pk = _pk(row)
        if row["op"] == "d":
            del replayed[table][pk]
        else:
            replayed[table][pk] = json.loads(row["after_json"])
    for table in TABLES:
        truth = {
            row[PRIMARY_KEYS[table]]: {name: _debezium_json(value) for name, value in row.items()}
            for row in fixture.source_state[table]
        }
        assert replayed[table] == truth, table


def test_source_state_types(fixture: BronzeFixture) -> None:
    account = fixture.source_state["accounts"][0]
    customer = fixture.source_state["customers"][0]
    assert isinstance(account["balance"], Decimal) and account["balance"].as_tuple().exponent == -2
    assert isinstance(account["opened_at"], datetime) and account["opened_at"].tzinfo is not None
    assert isinstance(customer["date_of_birth"], date) and not isinstance(customer["date_of_birth"], datetime)


def test_invariants_of_the_final_state(fixture: BronzeFixture) -> None:
    state = fixture.source_state
    customers = {row["customer_id"]: row for row in state["customers"]}
    accounts = {row["account_id"]: row for row in state["accounts"]}
    txns = {row["transaction_id"]: row for row in state["transactions"]}
    for row in customers.values():
        assert row["tier"] in ("standard", "silver", "gold", "private")
        assert row["kyc_status"] in ("pending", "verified", "rejected")
        assert row["email"].find("@") > 0 and row["phone"] and row["address_line"] and len(row["country_code"]) == 2
        assert row["updated_at"] >= row["created_at"]
    posted_sum: dict[int, Decimal] = defaultdict(Decimal)
    legs: dict[str, list[dict[str, Any]]] = defaultdict(list)
    reversed_ids: Counter[int] = Counter()
    for row in txns.values():
        assert row["account_id"] in accounts
        assert row["txn_type"] in ("deposit", "withdrawal", "transfer", "reversal")
        assert row["direction"] in ("credit", "debit") and row["status"] in ("pending", "posted", "cancelled")
        assert row["amount"] > 0 and row["amount"] == row["amount"].quantize(Decimal("0.01"))
        assert (row["status"] == "posted") == (row["posted_at"] is not None)
        assert (row["txn_type"] == "transfer") == (row["transfer_id"] is not None)
        assert (row["txn_type"] == "reversal") == (row["reverses_transaction_id"] is not None)
        assert row["txn_type"] != "deposit" or row["direction"] == "credit"
        assert row["txn_type"] != "withdrawal" or row["direction"] == "debit"
        if row["status"] == "posted":
            posted_sum[row["account_id"]] += row["amount"] if row["direction"] == "credit" else -row["amount"]
        if row["transfer_id"] is not None:
            legs[row["transfer_id"]].append(row)
        if row["reverses_transaction_id"] is not None:
            original = txns[row["reverses_transaction_id"]]
            reversed_ids[original["transaction_id"]] += 1
            assert original["status"] == "posted" and original["txn_type"] != "reversal"
            assert (original["account_id"], original["amount"]) == (row["account_id"], row["amount"])
            assert original["direction"] != row["direction"]
    assert all(count == 1 for count in reversed_ids.values()), "a transaction is reversed at most once"
    for transfer_id, pair in legs.items():
        assert sorted(leg["direction"] for leg in pair) == ["credit", "debit"], transfer_id
        assert len({(leg["amount"], leg["status"]) for leg in pair}) == 1, transfer_id
    for account_id, row in accounts.items():
        assert row["customer_id"] in customers
        assert row["account_type"] in ("checking", "savings", "business") and row["currency"] == "EUR"
        assert row["status"] in ("active", "frozen", "closed")
        assert row["balance"] >= 0 and row["balance"] == posted_sum[account_id], account_id
        assert (row["status"] == "closed") == (row["closed_at"] is not None)
        assert row["status"] != "closed" or row["balance"] == 0


def test_balances_match_posted_sums_after_every_commit(changes: list[dict[str, Any]]) -> None:
    balances: dict[int, Decimal] = {}
    posted: dict[int, tuple[int, Decimal]] = {}  # transaction -> (account, signed amount) while posted
    sums: dict[int, Decimal] = defaultdict(Decimal)
    touched: set[int] = set()

    def check() -> None:
        for account_id in touched:
            assert balances[account_id] == sums[account_id] >= 0, account_id
        touched.clear()

    tx_id = None
    for row in changes:
        if row["source_tx_id"] != tx_id:
            check()
            tx_id = row["source_tx_id"]
        table, pk = _pk(row)
        after = json.loads(row["after_json"]) if row["after_json"] else None
        if table == "accounts" and after is not None:
            balances[pk] = Decimal(after["balance"])
            assert after["status"] != "closed" or balances[pk] == 0
            touched.add(pk)
        elif table == "transactions":
            if pk in posted:
                account_id, amount = posted.pop(pk)
                sums[account_id] -= amount
                touched.add(account_id)
            if after is not None and after["status"] == "posted":
                amount = Decimal(after["amount"]) * (1 if after["direction"] == "credit" else -1)
                posted[pk] = (after["account_id"], amount)
                sums[after["account_id"]] += amount
                touched.add(after["account_id"])
    check()


# ---------------------------------------------------------------------------------------------- edge cases


def test_every_edge_case_is_present(fixture: BronzeFixture) -> None:
    assert set(fixture.edge_cases) == set(EDGE_CASES)
    for name, keys in fixture.edge_cases.items():
        assert keys, name
        assert all(table in TABLES and isinstance(pk, int) for table, pk in keys), name


def _history(changes: list[dict[str, Any]], key: tuple[str, int]) -> list[dict[str, Any]]:
    return [row for row in changes if _pk(row) == key]


def _image(row: dict[str, Any], which: str) -> dict[str, Any]:
    return json.loads(row[which])


def test_edge_case_semantics(
    fixture: BronzeFixture, rows: dict[str, list[dict[str, Any]]], changes: list[dict[str, Any]]
) -> None:
    edge, state = fixture.edge_cases, fixture.source_state
    final = {table: {row[PRIMARY_KEYS[table]]: row for row in state[table]} for table in TABLES}

    # duplicates: the same event (LSN, images) delivered twice, the second time at a later offset
    for table, pk in edge["duplicate_delivery"]:
        deliveries = Counter(
            (row["source_lsn"], row["before_json"], row["after_json"])
            for row in rows[table]
            if not row["is_tombstone"] and _pk(row) == (table, pk)
        )
        assert max(deliveries.values()) >= 2, (table, pk)

    for table, pk in edge["delete_reinsert"]:
        ops = [row["op"] for row in _history(changes, (table, pk))]
        assert "d" in ops and "c" in ops[ops.index("d") :], (table, pk, ops)
        assert pk in final[table]
        reinsert = next(row for row in _history(changes, (table, pk))[ops.index("d") :] if row["op"] == "c")
        assert _image(reinsert, "after_json")[PRIMARY_KEYS[table]] == pk

    for table, pk in edge["erasure"]:
        history = _history(changes, (table, pk))
        assert table == "customers" and "d" in [row["op"] for row in history]
        if (table, pk) not in edge["delete_reinsert"]:
            assert history[-1]["op"] == "d" and pk not in final["customers"]
        assert any(row["is_tombstone"] and _pk(row) == (table, pk) for row in rows["customers"])

    for table, pk in edge["cancelled_deleted"]:
        statuses = [
            (row["op"], (row["after_json"] and _image(row, "after_json")["status"]))
            for row in _history(changes, (table, pk))
        ]
        assert statuses[:3] == [("c", "pending"), ("u", "cancelled"), ("d", None)], statuses

    reversals = [final["transactions"][pk] for _, pk in edge["reversal"] if pk in final["transactions"]]
    assert any(row["txn_type"] == "reversal" for row in reversals)

    pair = [final["transactions"][pk] for _, pk in edge["transfer_pair"][:2]]
    assert pair[0]["transfer_id"] == pair[1]["transfer_id"] and pair[0]["status"] == "posted"

    for table, pk in edge["frozen_reactivated"]:
        statuses = [_image(row, "after_json")["status"] for row in _history(changes, (table, pk)) if row["after_json"]]
        assert "frozen" in statuses and "active" in statuses[statuses.index("frozen") :]

    for _, pk in edge["account_closed"]:
        assert final["accounts"][pk]["status"] == "closed" and final["accounts"][pk]["balance"] == 0

    def changed(row: dict[str, Any]) -> set[str]:
        before, after = _image(row, "before_json"), _image(row, "after_json")
        return {name for name in after if before[name] != after[name]}

    for table, pk in edge["tracked_update"]:
        assert any(changed(row) & TRACKED[table] for row in _history(changes, (table, pk)) if row["op"] == "u")
    untracked = set()
    for table, pk in edge["untracked_update"]:
        for row in _history(changes, (table, pk)):
            if row["op"] == "u" and not changed(row) & TRACKED.get(table, set()):
                untracked.add(frozenset(changed(row)))
    assert {frozenset({"updated_at"}), frozenset({"description", "updated_at"})} <= untracked
    assert frozenset({"balance", "updated_at"}) in untracked

    for table, pk in edge["posting_same_tx"]:
        post = next(
            row
            for row in _history(changes, (table, pk))
            if row["op"] == "u" and _image(row, "after_json")["status"] == "posted"
        )
        same_tx = [row for row in changes if row["source_tx_id"] == post["source_tx_id"]]
        account = _image(post, "after_json")["account_id"]
        balance = [row for row in same_tx if _pk(row) == ("accounts", account)]
        assert balance and changed(balance[0]) == {"balance", "updated_at"}

    late = next(file for file in fixture.files if file.key == fixture.late_file)
    newer = [
        file
        for file in fixture.files
        if (file.table, file.partition) == (late.table, late.partition)
        and file.first_offset > late.last_offset
        and file.loaded_at < late.loaded_at
    ]
    assert newer, "a newer file of the partition was loaded before the late one"
    assert {(late.table, pk) for _, pk in edge["late_file"]} == {
        _pk(row) for row in rows[late.table][late.row_start : late.row_start + late.rows]
    }


# ---------------------------------------------------------------------------------------------- loading


def test_load_in_parts_then_again(fixture: BronzeFixture, tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    with pytest.raises(ValueError, match="named like a schema"):
        load_bronze(tmp_path / "bronze.duckdb", fixture)
    first = load_bronze(path, fixture, parts=(0.0, 0.9))
    second = load_bronze(path, fixture, parts=(0.9, 1.0))
    assert first["files_loaded"] + second["files_loaded"] == len(fixture.files)
    assert first["rows_loaded"] + second["rows_loaded"] == fixture.total_rows
    again = load_bronze(path, fixture)
    assert again == {"files_loaded": 0, "rows_loaded": 0, "files_skipped": len(fixture.files)}
    with duckdb.connect(str(path)) as conn:
        for table in TABLES:
            count, tombstones, json_type = conn.execute(
                f"SELECT count(*), count(*) FILTER (WHERE is_tombstone), any_value(typeof(after_json)) "
                f"FROM bronze.{table}"
            ).fetchone()
            assert count == fixture.rows[table].num_rows and json_type == "JSON"
            assert tombstones == sum(fixture.rows[table].column("is_tombstone").to_pylist())
        ledger = conn.execute(
            "SELECT file_key, rows_in_file, rows_loaded, first_offset, last_offset, loaded_at "
            "FROM bronze.load_ledger ORDER BY loaded_at"
        ).fetchall()
        assert ledger == [(f.key, f.rows, f.rows, f.first_offset, f.last_offset, f.loaded_at) for f in fixture.files]
        amount = conn.execute(
            "SELECT after_json->>'amount' FROM bronze.transactions WHERE op = 'c' ORDER BY source_lsn LIMIT 1"
        ).fetchone()[0]
        assert MONEY.match(amount)
        late_loaded = conn.execute(
            "SELECT DISTINCT loaded_at FROM bronze.transactions WHERE source_file = ? "
            "UNION ALL SELECT DISTINCT loaded_at FROM bronze.accounts WHERE source_file = ? "
            "UNION ALL SELECT DISTINCT loaded_at FROM bronze.customers WHERE source_file = ?",
            [fixture.late_file] * 3,
        ).fetchall()
        assert late_loaded == [(next(f.loaded_at for f in fixture.files if f.key == fixture.late_file),)]


def test_parts_are_whole_files(fixture: BronzeFixture, tmp_path: Path) -> None:
    with duckdb.connect(str(tmp_path / "part.duckdb")) as conn:
        result = load_bronze(conn, fixture, parts=(0.25, 0.5))
        keys = [row[0] for row in conn.execute("SELECT file_key FROM bronze.load_ledger ORDER BY loaded_at").fetchall()]
    count = len(fixture.files)
    assert keys == [file.key for file in fixture.files[round(0.25 * count) : round(0.5 * count)]]
    assert result["rows_loaded"] == sum(f.rows for f in fixture.files[round(0.25 * count) : round(0.5 * count)])
    with pytest.raises(ValueError, match="parts"):
        load_bronze(tmp_path / "bad.duckdb", fixture, parts=(0.5, 0.2))


def test_split_into_base_and_a_one_percent_tail(fixture: BronzeFixture) -> None:
    (base_start, cut), (tail_start, tail_end) = split_parts(fixture, tail_share=0.01)
    assert (base_start, tail_start, tail_end) == (0.0, cut, 1.0)
    position = round(cut * len(fixture.files))
    base, tail = fixture.files[:position], fixture.files[position:]
    assert position in fixture.run_boundaries(), "whole loader runs"
    assert max(file.run for file in base) < min(file.run for file in tail)
    share = sum(file.rows for file in tail) / fixture.total_rows
    assert 0.003 < share < 0.03, share
    first_tail_offsets = {(f.table, f.partition): f.first_offset for f in reversed(tail)}
    for file in base:
        if (file.table, file.partition) in first_tail_offsets:
            assert file.last_offset < first_tail_offsets[(file.table, file.partition)], "tail = newest offsets"


def test_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "cli.duckdb"
    assert main(["--db", str(path), "--seed", "5", "--customers", "12", "--events", "200", "--parts", "0:0.5"]) == 0
    assert "bronze rows" in capsys.readouterr().out
    with duckdb.connect(str(path)) as conn:
        (files,) = conn.execute("SELECT count(*) FROM bronze.load_ledger").fetchone()
        (rows,) = conn.execute("SELECT count(*) FROM bronze.transactions").fetchone()
    assert files > 0 and rows > 0
