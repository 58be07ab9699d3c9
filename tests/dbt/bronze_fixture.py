"""Deterministic, seedable bronze fixture: the banking source's Debezium change events as they sit in bronze.

A small in-memory bank (customers, accounts, transactions) runs realistic operations, one source database
transaction each, with the invariants of the source schema kept at every commit (no negative balance, every
balance equal to its posted transactions' signed sum, closed accounts empty, transfers in two legs, a
transaction reversed at most once). Every committed change becomes one bronze row, exactly as the landing
stage and the DuckDB loader would write it: Kafka coordinates (partition = Kafka's default partitioner,
murmur2 of the key), the Debezium envelope fields, the row images as Debezium's ``JsonConverter`` writes them
(``decimal.handling.mode=string``), a tombstone after every delete, and the landing file and load time.

History: a warm-up builds the bank that exists before capture starts (no events), the initial snapshot emits
it as ``op='r'`` rows, then ``events`` source operations stream. The stage cuts landing files per partition
at the end of each *cycle* (a slice of the operations, about 1/200 of them) and the loader loads each cycle's
files in one run, so the load order is the commit order at cycle granularity, except for one *late file*
loaded one run after a newer file of its partition.

Edge cases are forced by scripted scenarios spread over the first 80% of the run and listed in
:attr:`BronzeFixture.edge_cases` as ``(source table, primary key)`` pairs (see :data:`EDGE_CASES`).

What models must cope with: a row's events are in one partition in commit order, but a connector restart
re-delivers the last few source transactions at later offsets (same ``source_lsn``, ``source_tx_id``,
``source_ts_ms`` and images; new ``event_ts_ms`` and ``kafka_timestamp``, the connector's processing time),
so the newest version of a row is the one with the highest ``source_lsn``, not the highest offset. LSNs are
strictly increasing per change in commit order, and the changes of one source transaction have adjacent LSNs;
the initial snapshot's ``r`` events share one LSN below every streamed change. A delete is followed by a
tombstone (``is_tombstone``, envelope columns NULL) at the next offset.

    python tests/dbt/bronze_fixture.py --db /tmp/warehouse.duckdb --seed 7 --customers 50 --events 2000 --parts 0:1

Nothing here talks to a service; loading uses a plain ``duckdb.connect``.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import time
from bisect import bisect
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import accumulate
from pathlib import Path
from typing import Any, Final

import pyarrow as pa

if __package__ in (None, ""):  # run as a script: make the repository root importable for ``tests.*``
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from banking_cdc.capture.catalog import SourceColumn
from banking_cdc.capture.config import CaptureConfig
from banking_cdc.generator.mix import (
    ACCOUNT_TYPES,
    KYC_REJECT_SHARE,
    OPERATION_WEIGHTS,
    PENDING_SHARE,
    PROFILE_CHANGES,
    PROSPECT_SHARE,
)
from banking_cdc.generator.values import (
    AmountSampler,
    Descriptions,
    ProfileFactory,
    cents_to_money,
    iban_for,
    money_to_cents,
    random_uuid,
)
from banking_cdc.generator.world import MAX_OPEN_ACCOUNTS, IdPool, Infeasible
from banking_cdc.stage.landing import LANDING_SCHEMA, object_key
from banking_cdc.warehouse.bronze import BRONZE_SCHEMA, LEDGER_TABLE

TABLES: Final = ("customers", "accounts", "transactions")
PRIMARY_KEYS: Final = {"customers": "customer_id", "accounts": "account_id", "transactions": "transaction_id"}
#: source columns in DDL order with their JSON encoding: int, str, money (NUMERIC(18,2)), ts (timestamptz), date
COLUMNS: Final[dict[str, tuple[tuple[str, str], ...]]] = {
    "customers": (
        ("customer_id", "int"),
        ("customer_ref", "str"),
        ("first_name", "str"),
        ("last_name", "str"),
        ("email", "str"),
        ("phone", "str"),
        ("date_of_birth", "date"),
        ("address_line", "str"),
        ("city", "str"),
        ("postal_code", "str"),
        ("country_code", "str"),
        ("tier", "str"),
        ("kyc_status", "str"),
        ("created_at", "ts"),
        ("updated_at", "ts"),
    ),
    "accounts": (
        ("account_id", "int"),
        ("customer_id", "int"),
        ("iban", "str"),
        ("account_type", "str"),
        ("currency", "str"),
        ("status", "str"),
        ("balance", "money"),
        ("opened_at", "ts"),
        ("closed_at", "ts"),
        ("created_at", "ts"),
        ("updated_at", "ts"),
    ),
    "transactions": (
        ("transaction_id", "int"),
        ("account_id", "int"),
        ("txn_type", "str"),
        ("direction", "str"),
        ("amount", "money"),
        ("status", "str"),
        ("transfer_id", "str"),
        ("reverses_transaction_id", "int"),
        ("description", "str"),
        ("booked_at", "ts"),
        ("posted_at", "ts"),
        ("created_at", "ts"),
        ("updated_at", "ts"),
    ),
}
_IDX: Final = {table: {name: i for i, (name, _) in enumerate(cols)} for table, cols in COLUMNS.items()}

#: edge case name -> what its ``(table, primary key)`` entries are
EDGE_CASES: Final[dict[str, str]] = {
    "snapshot": "rows of the initial snapshot (op 'r', one shared LSN)",
    "duplicate_delivery": "rows whose events were re-emitted after a connector restart (same LSN, later offset)",
    "delete_reinsert": "rows deleted, then inserted again later with the same primary key (explicit id)",
    "erasure": "customers erased (GDPR): op 'd' then a tombstone, absent from the final state",
    "cancelled_deleted": "transactions created pending, cancelled, then deleted",
    "reversal": "reversal transactions and the transactions they reverse",
    "transfer_pair": "both legs (debit, credit) of a posted transfer",
    "frozen_reactivated": "accounts frozen, then active again",
    "account_closed": "accounts drained to zero and closed",
    "tracked_update": "updates of tracked columns (tier, kyc_status, e-mail, phone, address, account status)",
    "untracked_update": "updates of untracked columns only (updated_at only, description only, balance only)",
    "posting_same_tx": "pending transactions posted with their balance update in the same source transaction",
    "late_file": "rows of the landing file loaded one run after a newer file of its partition",
}

SOURCE_DB: Final = "banking"
SOURCE_SCHEMA: Final = "public"
LANDING_PREFIX: Final = "raw"
#: loader runs (cycles) the streamed operations are spread over
CYCLES: Final = 200
#: most messages in one landing file
FILE_MAX_ROWS: Final = 5_000
#: the bank's history (warm-up, not captured) starts here; the snapshot follows it
HISTORY_START: Final = datetime(2026, 1, 5, 7, 0, tzinfo=UTC)
#: mean simulated microseconds between two operations (45 s, as the real generator)
_MEAN_STEP_US: Final = 45_000_000
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL: Final = date(1970, 1, 1).toordinal()

#: bronze rows of one table: the landing columns plus what the loader adds
BRONZE_ARROW_SCHEMA: Final = LANDING_SCHEMA.append(pa.field("source_file", pa.string())).append(
    pa.field("loaded_at", pa.timestamp("us", tz="UTC"))
)


def murmur2_partition(key: bytes, partitions: int) -> int:
    """
    Return Kafka's default partition of a keyed message: ``toPositive(murmur2(key)) % partitions``.

    :param key: The serialized message key.
    :param partitions: Partition count of the topic.
    """
    m, length = 0x5BD1E995, len(key)
    h = (0x9747B28C ^ length) & 0xFFFFFFFF
    end = length & ~3
    for i in range(0, end, 4):
        k = (key[i] | key[i + 1] << 8 | key[i + 2] << 16 | key[i + 3] << 24) * m & 0xFFFFFFFF
        k ^= k >> 24
        h = (h * m & 0xFFFFFFFF) ^ (k * m & 0xFFFFFFFF)
    extra = length & 3
    if extra == 3:
        h ^= key[end + 2] << 16
    if extra >= 2:
        h ^= key[end + 1] << 8
    if extra >= 1:
        h ^= key[end]
        h = h * m & 0xFFFFFFFF
    h ^= h >> 13
    h = h * m & 0xFFFFFFFF
    h ^= h >> 15
    return (h & 0x7FFFFFFF) % partitions


_json_strings: dict[str, str] = {}
_minute_prefixes: dict[int, str] = {}


def _json_str(text: str) -> str:
    encoded = _json_strings.get(text)
    if encoded is None:
        encoded = json.dumps(text, ensure_ascii=False)
        if len(_json_strings) < 200_000:
            _json_strings[text] = encoded
    return encoded


def _json_ts(micros: int) -> str:
    minute, rest = divmod(micros, 60_000_000)
    prefix = _minute_prefixes.get(minute)
    if prefix is None:
        prefix = (_EPOCH + timedelta(minutes=minute)).strftime("%Y-%m-%dT%H:%M:")
        _minute_prefixes[minute] = prefix
    seconds, fraction = divmod(rest, 1_000_000)
    return f'"{prefix}{seconds:02d}.{fraction:06d}Z"'


def _null_str(text: str | None) -> str:
    return "null" if text is None else _json_str(text)


def _null_ts(micros: int | None) -> str:
    return "null" if micros is None else _json_ts(micros)


# One f-string per table (the hot path): DDL column order, compact, as Debezium's JsonConverter writes the row.
# Values written without escaping are ids, UUIDs, IBANs and constrained codes (never quotes or backslashes).
def _encode_customers(v: Sequence[Any]) -> str:
    return (
        f'{{"customer_id":{v[0]},"customer_ref":"{v[1]}","first_name":{_json_str(v[2])},'
        f'"last_name":{_json_str(v[3])},"email":{_json_str(v[4])},"phone":{_null_str(v[5])},'
        f'"date_of_birth":{"null" if v[6] is None else v[6]},"address_line":{_null_str(v[7])},'
        f'"city":{_null_str(v[8])},"postal_code":{_null_str(v[9])},"country_code":"{v[10]}","tier":"{v[11]}",'
        f'"kyc_status":"{v[12]}","created_at":{_json_ts(v[13])},"updated_at":{_json_ts(v[14])}}}'
    )


def _encode_accounts(v: Sequence[Any]) -> str:
    return (
        f'{{"account_id":{v[0]},"customer_id":{v[1]},"iban":"{v[2]}","account_type":"{v[3]}",'
        f'"currency":"{v[4]}","status":"{v[5]}","balance":"{v[6] // 100}.{v[6] % 100:02d}",'
        f'"opened_at":{_json_ts(v[7])},"closed_at":{_null_ts(v[8])},"created_at":{_json_ts(v[9])},'
        f'"updated_at":{_json_ts(v[10])}}}'
    )


def _encode_transactions(v: Sequence[Any]) -> str:
    return (
        f'{{"transaction_id":{v[0]},"account_id":{v[1]},"txn_type":"{v[2]}","direction":"{v[3]}",'
        f'"amount":"{v[4] // 100}.{v[4] % 100:02d}","status":"{v[5]}",'
        f'"transfer_id":{"null" if v[6] is None else f"{chr(34)}{v[6]}{chr(34)}"},'
        f'"reverses_transaction_id":{"null" if v[7] is None else v[7]},"description":{_null_str(v[8])},'
        f'"booked_at":{_json_ts(v[9])},"posted_at":{_null_ts(v[10])},"created_at":{_json_ts(v[11])},'
        f'"updated_at":{_json_ts(v[12])}}}'
    )


_ENCODE: Final[dict[str, Callable[[Sequence[Any]], str]]] = {
    "customers": _encode_customers,
    "accounts": _encode_accounts,
    "transactions": _encode_transactions,
}


def encode_row(table: str, values: Sequence[Any]) -> str:
    """
    Return a source row image as Debezium's JsonConverter writes it (schemas off, decimals as strings).

    :param table: Source table.
    :param values: The row in DDL column order (:data:`COLUMNS`), internal units: money in cents, timestamptz
        in microseconds since the epoch, date in days since the epoch.
    """
    return _ENCODE[table](values)


def typed_row(table: str, values: Sequence[Any]) -> dict[str, Any]:
    """Return an internal row as typed Python values: Decimal money, aware UTC datetimes, dates."""
    typed: dict[str, Any] = {}
    for (name, kind), value in zip(COLUMNS[table], values, strict=True):
        if value is None or kind in ("int", "str"):
            typed[name] = value
        elif kind == "money":
            typed[name] = cents_to_money(value)
        elif kind == "ts":
            typed[name] = _EPOCH + timedelta(microseconds=value)
        else:
            typed[name] = date.fromordinal(_EPOCH_ORDINAL + value)
    return typed


@dataclass(frozen=True)
class FixtureFile:
    """
    One landing file of the fixture, in load order.

    :param key: Landing object key (``source_file`` of its rows).
    :param table: Bronze (source) table.
    :param partition: Kafka partition.
    :param first_offset: First offset in the file.
    :param last_offset: Last offset in the file.
    :param rows: Messages in the file.
    :param row_start: Index of the file's first row in ``BronzeFixture.rows[table]``.
    :param loaded_at: When the loader loaded it.
    :param run: Loader run (cycle) that loaded it.
    """

    key: str
    table: str
    partition: int
    first_offset: int
    last_offset: int
    rows: int
    row_start: int
    loaded_at: datetime
    run: int


@dataclass
class BronzeFixture:
    """
    A synthesized bronze: rows per table, the landing files, the final source state and the edge cases.

    :param seed: Seed of the synthesis.
    :param customers: Customers existing at the initial snapshot.
    :param events: Source operations (database transactions) after the snapshot.
    :param rows: Bronze rows per table (``BRONZE_ARROW_SCHEMA``), in load order.
    :param files: Landing files in load order.
    :param edge_cases: Edge case name -> ``(table, primary key)`` pairs (names in :data:`EDGE_CASES`).
    :param late_file: Key of the file loaded after a newer file of its partition.
    :param final_rows: Final source rows per table and primary key, in internal units (see :func:`encode_row`);
        :attr:`source_state` types them.
    """

    seed: int
    customers: int
    events: int
    rows: dict[str, pa.Table]
    files: list[FixtureFile]
    edge_cases: dict[str, list[tuple[str, int]]]
    late_file: str
    final_rows: dict[str, dict[int, list[Any]]] = field(repr=False)
    _typed: dict[str, list[dict[str, Any]]] | None = field(default=None, init=False, repr=False)

    @property
    def source_state(self) -> dict[str, list[dict[str, Any]]]:
        """Final source rows per table, typed (Decimal money, UTC datetimes, dates), sorted by primary key."""
        if self._typed is None:
            self._typed = {
                table: [typed_row(table, rows[pk]) for pk in sorted(rows)] for table, rows in self.final_rows.items()
            }
        return self._typed

    @property
    def total_rows(self) -> int:
        """Bronze rows of all tables."""
        return sum(table.num_rows for table in self.rows.values())

    def run_boundaries(self) -> list[int]:
        """File positions (in load order) where a loader run starts, plus ``len(files)``."""
        bounds = [i for i, file in enumerate(self.files) if i == 0 or file.run != self.files[i - 1].run]
        return [*bounds, len(self.files)]


@dataclass(slots=True)
class _Customer:
    kyc: str
    tier: str
    prospect: bool
    accounts: list[int] = field(default_factory=list)
    open_accounts: int = 0


@dataclass(slots=True)
class _Account:
    customer_id: int
    status: str
    balance: int
    pending: int = 0


#: an item: (txn_type, legs); a leg: (transaction_id, account_id, direction, amount in cents)
_Leg = tuple[int, int, str, int]
_Item = tuple[str, tuple[_Leg, ...]]

#: extra operations of the fixture (untracked-only updates), weights next to the real generator's
_EXTRA_WEIGHTS: Final = {"customer_touch": 1.0, "transaction_description": 1.0, "account_touch": 0.5}
_DESCRIPTION_FIXES: Final = ("{d} (corrected)", "{d} / ref. updated", "{d} - booking text amended")


class _Bank:
    """The simulated source database, its WAL (LSNs, transaction ids) and the Kafka side (partitions, files)."""

    def __init__(self, seed: int, capture: CaptureConfig) -> None:
        self.rng = random.Random(seed)
        self.random = self.rng.random
        self.profiles = ProfileFactory(f"bronze-fixture:{seed}", self.rng, pool_size=64)
        self.texts = Descriptions(self.profiles, self.rng)
        self.amounts = AmountSampler(self.rng)
        self.now = int((HISTORY_START - _EPOCH).total_seconds()) * 1_000_000
        self.rows: dict[str, dict[int, list[Any]]] = {table: {} for table in TABLES}
        self.images: dict[str, dict[int, str]] = {table: {} for table in TABLES}
        self.next_id = dict.fromkeys(TABLES, 1)
        self.lsn = 24_117_288
        self.txid = 741
        self.committed = 0
        # world model
        self.customers: dict[int, _Customer] = {}
        self.accounts: dict[int, _Account] = {}
        self.items: dict[int, _Item] = {}
        self.pools = {
            name: IdPool()
            for name in (
                "customers",
                "kyc_pending",
                "verified",
                "can_open",
                "erasable",
                "active",
                "funded",
                "frozen",
                "pending",
                "cancelled",
                "reversible",
                "posted_txns",
            )
        }
        # the database transaction in progress
        self._db = 0
        self._changes: list[tuple[str, int, str, str | None, str | None]] = []
        # Kafka side
        self.emit = False
        self.topics = {table: capture.topic(table) for table in TABLES}
        self.partitions = {table: capture.topics.partitions[table] for table in TABLES}
        self._partition_of: dict[str, dict[str, int]] = {table: {} for table in TABLES}
        self.offsets = {table: [0] * self.partitions[table] for table in TABLES}
        self.buffers: dict[str, list[list[tuple[Any, ...]]]] = {
            table: [[] for _ in range(self.partitions[table])] for table in TABLES
        }
        self.files: list[tuple[int, str, int, list[tuple[Any, ...]], int]] = []  # (run, table, part, msgs, flush)
        self.recent: deque[list[tuple[Any, ...]]] = deque(maxlen=8)
        self.edge: dict[str, list[tuple[str, int]]] = {name: [] for name in EDGE_CASES}
        self._cumulative: dict[int, tuple[list[str], list[float]]] = {}

    # ------------------------------------------------------------------ database primitives
    def begin(self) -> None:
        """Start a source transaction: the business clock moves on, the DB clock follows it."""
        random = self.random
        self.now += 1 + int(random() * 2 * _MEAN_STEP_US)
        self._db = self.now + 100 + int(random() * 4_900)
        self._changes = []

    def _tick(self) -> int:
        self._db += 60 + int(self.random() * 840)
        return self._db

    def insert(self, table: str, values: list[Any]) -> None:
        """INSERT with created_at/updated_at from the DB clock (the last two columns)."""
        values[-2] = values[-1] = self._tick()
        pk = values[0]
        image = _ENCODE[table](values)
        self.rows[table][pk] = values
        self.images[table][pk] = image
        self._changes.append((table, pk, "c", None, image))

    def update(self, table: str, pk: int, **changes: Any) -> None:
        """UPDATE one row (REPLICA IDENTITY FULL); the trigger sets updated_at."""
        values, index = self.rows[table][pk], _IDX[table]
        for name, value in changes.items():
            values[index[name]] = value
        values[-1] = self._tick()
        before = self.images[table][pk]
        image = self.images[table][pk] = _ENCODE[table](values)
        self._changes.append((table, pk, "u", before, image))

    def delete(self, table: str, pk: int) -> None:
        """DELETE one row."""
        self._tick()
        del self.rows[table][pk]
        before = self.images[table].pop(pk)
        self._changes.append((table, pk, "d", before, None))

    def commit(self) -> None:
        """Commit: LSNs in change order, one transaction id, commit time as ``source.ts_ms``; emit if capturing."""
        random = self.random
        commit_us = self._db + 150 + int(random() * 2_850)
        self.now = commit_us
        self.committed += 1
        if not self._changes:
            return
        self.txid += 1 + int(random() * 3)
        source_ms = commit_us // 1000
        event_ms = source_ms + 2 + int(random() * 38)
        records = []
        for table, pk, op, before, after in self._changes:
            self.lsn += 24 + len(after or before or "")
            records.append((table, pk, op, source_ms, self.lsn, self.txid, before, after))
        self._changes = []
        if self.emit:
            for table, pk, op, source, lsn, txid, before, after in records:
                event_ms += int(random() * 3)
                self.send(table, pk, op, event_ms, source, lsn, txid, "false", before, after, event_ms + 1)
            self.recent.append(records)

    def send(
        self,
        table: str,
        pk: int,
        op: str,
        event_ms: int,
        source_ms: int,
        lsn: int,
        txid: int,
        snapshot: str,
        before: str | None,
        after: str | None,
        kafka_ms: int,
    ) -> None:
        """Produce the change (and a tombstone after a delete) to the key's partition."""
        key = f'{{"{PRIMARY_KEYS[table]}":{pk}}}'
        partition = self._partition_of[table].get(key)
        if partition is None:
            partition = murmur2_partition(key.encode(), self.partitions[table])
            self._partition_of[table][key] = partition
        offsets = self.offsets[table]
        offset = offsets[partition]
        buffer = self.buffers[table][partition]
        buffer.append(
            (partition, offset, kafka_ms, key, False, op, event_ms, source_ms, lsn, txid, snapshot, before, after)
        )
        if op == "d":
            buffer.append((partition, offset + 1, kafka_ms, key, True, *(None,) * 8))
            offset += 1
        offsets[partition] = offset + 1

    def snapshot(self) -> None:
        """The initial snapshot: every existing row as ``op='r'``, one LSN and one transaction id."""
        rng = self.rng
        self.now += rng.randint(60_000_000, 600_000_000)
        self.txid += 1
        self.lsn += 1_000
        source_ms = self.now // 1000
        event_ms = source_ms + 1  # processed after the snapshot's start
        keys = [(table, pk) for table in TABLES for pk in sorted(self.rows[table])]
        for i, (table, pk) in enumerate(keys):
            flag = "first" if i == 0 else "last" if i == len(keys) - 1 else "true"
            event_ms += rng.randint(0, 1)
            self.send(
                table,
                pk,
                "r",
                event_ms,
                source_ms,
                self.lsn,
                self.txid,
                flag,
                None,
                self.images[table][pk],
                event_ms + 1,
            )
        self.edge["snapshot"].extend(keys)
        self.now = event_ms * 1000 + 1_000_000

    def restart(self, transactions: int) -> None:
        """A connector restart: the changes of the last ``transactions`` source transactions are sent again."""
        rng = self.rng
        restart_ms = self.now // 1000 + rng.randint(5_000, 30_000)
        for records in list(self.recent)[-transactions:]:
            for table, pk, op, source, lsn, txid, before, after in records:
                restart_ms += rng.randint(0, 2)
                self.send(table, pk, op, restart_ms, source, lsn, txid, "false", before, after, restart_ms + 1)
                self.edge["duplicate_delivery"].append((table, pk))
        self.now = restart_ms * 1000

    def flush(self, run: int) -> None:
        """The stage writes every partition's pending messages as landing files (at most FILE_MAX_ROWS each)."""
        for table in TABLES:
            for partition, buffer in enumerate(self.buffers[table]):
                for start in range(0, len(buffer), FILE_MAX_ROWS):
                    self.files.append((run, table, partition, buffer[start : start + FILE_MAX_ROWS], self.now))
                self.buffers[table][partition] = []

    # ------------------------------------------------------------------ world bookkeeping
    def _account_changed(self, account_id: int) -> None:
        account, pools = self.accounts[account_id], self.pools
        for name in ("active", "funded", "frozen"):
            pools[name].discard(account_id)
        if account.status == "active":
            pools["active"].add(account_id)
            if account.balance > 0:
                pools["funded"].add(account_id)
        elif account.status == "frozen":
            pools["frozen"].add(account_id)

    def _customer_changed(self, customer_id: int) -> None:
        customer, pools = self.customers[customer_id], self.pools
        for name in ("kyc_pending", "verified", "can_open", "erasable"):
            pools[name].discard(customer_id)
        if customer.kyc == "pending" and not customer.prospect:
            pools["kyc_pending"].add(customer_id)
        if customer.kyc == "verified":
            pools["verified"].add(customer_id)
            if customer.open_accounts < MAX_OPEN_ACCOUNTS:
                pools["can_open"].add(customer_id)
        if not customer.accounts and (customer.prospect or customer.kyc == "rejected"):
            pools["erasable"].add(customer_id)

    def _set_balance(self, account_id: int, cents: int) -> None:
        if cents < 0:
            raise AssertionError(f"account {account_id} would go negative")  # the model guards every debit
        self.accounts[account_id].balance = cents
        self.update("accounts", account_id, balance=cents)
        self._account_changed(account_id)

    def _new_id(self, table: str) -> int:
        pk = self.next_id[table]
        self.next_id[table] = pk + 1
        return pk

    def _insert_txn(
        self,
        account_id: int,
        txn_type: str,
        direction: str,
        amount: int,
        *,
        posted: bool,
        description: str,
        transfer_id: str | None = None,
        reverses: int | None = None,
        transaction_id: int | None = None,
    ) -> int:
        tid = self._new_id("transactions") if transaction_id is None else transaction_id
        booked = self.now
        if txn_type == "withdrawal" and self.rng.random() < 0.4:
            booked -= self.rng.randint(60_000_000, 3 * 86_400_000_000)  # card payment booked at authorisation
        values = [
            tid,
            account_id,
            txn_type,
            direction,
            amount,
            "posted" if posted else "pending",
            transfer_id,
            reverses,
            description,
            booked,
            self.now if posted else None,
            0,
            0,
        ]
        self.insert("transactions", values)
        if posted:
            self.pools["posted_txns"].add(tid)
        return tid

    def _add_item(self, item: _Item, posted: bool) -> None:
        key = item[1][0][0]
        self.items[key] = item
        if posted:
            self.pools["reversible"].add(key)
        else:
            self.pools["pending"].add(key)
            for _, account_id, _, _ in item[1]:
                self.accounts[account_id].pending += 1

    # ------------------------------------------------------------------ money movements
    def cash(self, kind: str, *, posted: bool | None = None, account_id: int | None = None) -> int:
        """A deposit (credit, any active account) or withdrawal (debit, a funded one); returns the id."""
        rng = self.rng
        debit = kind == "withdrawal"
        if account_id is None:
            account_id = self.pools["funded" if debit else "active"].choose(rng)
        account = self.accounts[account_id]
        cap = cents_to_money(account.balance) if debit else None
        amount = money_to_cents(self.amounts.draw(kind, cap=cap))
        if posted is None:
            posted = rng.random() >= PENDING_SHARE[kind]
        text = self.texts.withdrawal() if debit else self.texts.deposit()
        direction = "debit" if debit else "credit"
        self.begin()
        tid = self._insert_txn(account_id, kind, direction, amount, posted=posted, description=text)
        if posted:
            self._set_balance(account_id, account.balance + (-amount if debit else amount))
        self.commit()
        self._add_item((kind, ((tid, account_id, direction, amount),)), posted)
        return tid

    def transfer(self, *, posted: bool | None = None) -> tuple[int, int]:
        """A transfer between two active accounts (a quarter between one customer's own accounts)."""
        rng, pools = self.rng, self.pools
        source = pools["funded"].choose(rng)
        if len(pools["active"]) < 2:
            raise Infeasible
        siblings = [
            a
            for a in self.customers[self.accounts[source].customer_id].accounts
            if a != source and self.accounts[a].status == "active"
        ]
        target = source
        if siblings and rng.random() < 0.25:
            target = siblings[rng.randrange(len(siblings))]
        while target == source:
            target = pools["active"].choose(rng)
        amount = money_to_cents(self.amounts.draw("transfer", cap=cents_to_money(self.accounts[source].balance)))
        if posted is None:
            posted = rng.random() >= PENDING_SHARE["transfer"]
        transfer_id = str(random_uuid(rng))
        text = self.texts.transfer()
        self.begin()
        debit = self._insert_txn(
            source, "transfer", "debit", amount, posted=posted, description=text, transfer_id=transfer_id
        )
        credit = self._insert_txn(
            target, "transfer", "credit", amount, posted=posted, description=text, transfer_id=transfer_id
        )
        if posted:
            self._set_balance(source, self.accounts[source].balance - amount)
            self._set_balance(target, self.accounts[target].balance + amount)
        self.commit()
        self._add_item(("transfer", ((debit, source, "debit", amount), (credit, target, "credit", amount))), posted)
        return debit, credit

    def _settle(self, key: int) -> _Item:
        item = self.items[key]
        self.pools["pending"].discard(key)
        for _, account_id, _, _ in item[1]:
            self.accounts[account_id].pending -= 1
        return item

    def pending_post(self, key: int | None = None) -> tuple[int, bool]:
        """Post a pending item with its balance updates in one transaction, or decline it if a debit no longer fits."""
        key = self.pools["pending"].choose(self.rng) if key is None else key
        item = self.items[key]
        balances: dict[int, int] = {}
        for _, account_id, direction, amount in item[1]:
            if self.accounts[account_id].status == "closed":
                raise Infeasible
            balances.setdefault(account_id, self.accounts[account_id].balance)
            balances[account_id] += amount if direction == "credit" else -amount
        posted = all(balance >= 0 for balance in balances.values())
        self._settle(key)
        self.begin()
        for tid, _, _, _ in item[1]:
            if posted:
                self.update("transactions", tid, status="posted", posted_at=self.now)
                self.pools["posted_txns"].add(tid)
            else:
                self.update("transactions", tid, status="cancelled")
        if posted:
            for account_id, balance in balances.items():
                self._set_balance(account_id, balance)
        self.commit()
        self.pools["reversible" if posted else "cancelled"].add(key)
        return key, posted

    def pending_cancel(self, key: int | None = None) -> int:
        """Cancel a pending item (it never touched a balance)."""
        key = self.pools["pending"].choose(self.rng) if key is None else key
        item = self._settle(key)
        self.begin()
        for tid, _, _, _ in item[1]:
            self.update("transactions", tid, status="cancelled")
        self.commit()
        self.pools["cancelled"].add(key)
        return key

    def cancelled_delete(self, key: int | None = None) -> list[int]:
        """Delete a cancelled item's rows."""
        key = self.pools["cancelled"].choose(self.rng) if key is None else key
        item = self.items.pop(key)
        self.pools["cancelled"].discard(key)
        self.begin()
        for tid, _, _, _ in item[1]:
            self.delete("transactions", tid)
        self.commit()
        return [leg[0] for leg in item[1]]

    def reversal(self) -> list[int]:
        """Reverse a posted deposit, withdrawal or transfer with opposite posted rows; return new and reversed ids."""
        rng, pools = self.rng, self.pools
        for _ in range(4):
            key = pools["reversible"].choose(rng)
            txn_type, legs = self.items[key]
            if any(self.accounts[leg[1]].status == "closed" for leg in legs):
                pools["reversible"].discard(key)
                continue
            balances: dict[int, int] = {}
            for _, account_id, direction, amount in legs:
                balances.setdefault(account_id, self.accounts[account_id].balance)
                balances[account_id] += amount if direction == "debit" else -amount
            if all(balance >= 0 for balance in balances.values()):
                break
        else:
            raise Infeasible
        self.begin()
        ids = [
            self._insert_txn(
                account_id,
                "reversal",
                "credit" if direction == "debit" else "debit",
                amount,
                posted=True,
                description=f"Reversal of {txn_type}",
                reverses=tid,
            )
            for tid, account_id, direction, amount in legs
        ]
        for account_id, balance in balances.items():
            self._set_balance(account_id, balance)
        self.commit()
        pools["reversible"].discard(key)
        return [*ids, *(leg[0] for leg in legs)]

    def transaction_description(self) -> int:
        """Correct a posted transaction's booking text: description (and updated_at) only."""
        tid = self.pools["posted_txns"].choose(self.rng)
        if tid not in self.rows["transactions"]:
            self.pools["posted_txns"].discard(tid)
            raise Infeasible
        old = self.rows["transactions"][tid][_IDX["transactions"]["description"]] or "Booking"
        fix = _DESCRIPTION_FIXES[self.rng.randrange(len(_DESCRIPTION_FIXES))]
        self.begin()
        self.update("transactions", tid, description=fix.format(d=old))
        self.commit()
        self.pools["posted_txns"].discard(tid)  # corrected once
        return tid

    # ------------------------------------------------------------------ customers
    def customer_signup(self, *, prospect: bool | None = None, customer_id: int | None = None) -> int:
        """A new customer (KYC pending); a prospect never completes KYC."""
        profile = self.profiles.new_profile((_EPOCH + timedelta(microseconds=self.now)).date())
        if prospect is None:
            prospect = self.rng.random() < PROSPECT_SHARE
        cid = self._new_id("customers") if customer_id is None else customer_id
        dob = profile.date_of_birth.toordinal() - _EPOCH_ORDINAL
        address = profile.address
        self.begin()
        self.insert(
            "customers",
            [
                cid,
                str(profile.customer_ref),
                profile.first_name,
                profile.last_name,
                profile.email,
                profile.phone,
                dob,
                address.address_line,
                address.city,
                address.postal_code,
                profile.country_code,
                profile.tier,
                "pending",
                0,
                0,
            ],
        )
        self.commit()
        self.customers[cid] = _Customer(kyc="pending", tier=profile.tier, prospect=prospect)
        self.pools["customers"].add(cid)
        self._customer_changed(cid)
        return cid

    def customer_profile_update(self, kind: str | None = None, customer_id: int | None = None) -> int:
        """A move, a postal-code correction, a new e-mail or a new phone number (tracked columns)."""
        rng = self.rng
        cid = self.pools["customers"].choose(rng) if customer_id is None else customer_id
        if kind is None:
            kind = rng.choices([k for k, _ in PROFILE_CHANGES], [w for _, w in PROFILE_CHANGES])[0]
        row, index = self.rows["customers"][cid], _IDX["customers"]
        market = self.profiles.locale_index(row[index["country_code"]])
        self.begin()
        if kind == "address":
            address = self.profiles.address(market)
            self.update(
                "customers", cid, address_line=address.address_line, city=address.city, postal_code=address.postal_code
            )
        elif kind == "postal_code":
            self.update("customers", cid, postal_code=self.profiles.address(market).postal_code)
        elif kind == "email":
            email = self.profiles.email(market, row[index["first_name"]], row[index["last_name"]])
            self.update("customers", cid, email=email)
        else:
            self.update("customers", cid, phone=self.profiles.phone(market))
        self.commit()
        return cid

    def customer_tier_change(self) -> int:
        """A verified customer moves one tier up or down."""
        from banking_cdc.generator.values import TIERS

        cid = self.pools["verified"].choose(self.rng)
        customer = self.customers[cid]
        position = TIERS.index(customer.tier)
        neighbours = [TIERS[i] for i in (position - 1, position + 1) if 0 <= i < len(TIERS)]
        customer.tier = neighbours[self.rng.randrange(len(neighbours))]
        self.begin()
        self.update("customers", cid, tier=customer.tier)
        self.commit()
        return cid

    def customer_kyc_change(self, decision: str | None = None, customer_id: int | None = None) -> int:
        """A KYC decision on a pending applicant: verified, or rejected."""
        cid = self.pools["kyc_pending"].choose(self.rng) if customer_id is None else customer_id
        if decision is None:
            decision = "rejected" if self.rng.random() < KYC_REJECT_SHARE else "verified"
        self.begin()
        self.update("customers", cid, kyc_status=decision)
        self.commit()
        self.customers[cid].kyc = decision
        self._customer_changed(cid)
        return cid

    def customer_erasure(self, customer_id: int | None = None) -> int:
        """GDPR erasure of a customer who never held an account."""
        cid = self.pools["erasable"].choose(self.rng) if customer_id is None else customer_id
        if self.customers[cid].accounts:
            raise AssertionError("customers holding accounts are never erased")
        self.begin()
        self.delete("customers", cid)
        self.commit()
        del self.customers[cid]
        for pool in ("customers", "kyc_pending", "verified", "can_open", "erasable"):
            self.pools[pool].discard(cid)
        return cid

    def customer_touch(self) -> int:
        """A CRM sync rewrites a customer with the same values: only updated_at changes."""
        cid = self.pools["customers"].choose(self.rng)
        self.begin()
        self.update("customers", cid)
        self.commit()
        return cid

    # ------------------------------------------------------------------ accounts
    def account_open(self, customer_id: int | None = None) -> int:
        """A verified customer opens an account (explicit id from the sequence, IBAN from the id)."""
        rng = self.rng
        cid = self.pools["can_open"].choose(rng) if customer_id is None else customer_id
        account_type = rng.choices([k for k, _ in ACCOUNT_TYPES], [w for _, w in ACCOUNT_TYPES])[0]
        aid = self._new_id("accounts")
        self.begin()
        self.insert("accounts", [aid, cid, iban_for(aid), account_type, "EUR", "active", 0, self.now, None, 0, 0])
        self.commit()
        self.accounts[aid] = _Account(customer_id=cid, status="active", balance=0)
        customer = self.customers[cid]
        customer.accounts.append(aid)
        customer.open_accounts += 1
        self._account_changed(aid)
        self._customer_changed(cid)
        return aid

    def account_status(self, old: str, new: str, account_id: int | None = None) -> int:
        """Freeze an active account, or unfreeze a frozen one (tracked column status)."""
        aid = (
            self.pools["active" if old == "active" else "frozen"].choose(self.rng) if account_id is None else account_id
        )
        self.begin()
        self.update("accounts", aid, status=new)
        self.commit()
        self.accounts[aid].status = new
        self._account_changed(aid)
        return aid

    def account_touch(self) -> int:
        """A batch job rewrites an account with the same values: only updated_at changes."""
        aid = self.pools["active"].choose(self.rng)
        self.begin()
        self.update("accounts", aid)
        self.commit()
        return aid

    def account_close(self, account_id: int | None = None) -> int:
        """Drain an active account without pending items to zero (payout or transfer to a sibling), then close it."""
        rng, pools = self.rng, self.pools
        for _ in range(4):
            aid = pools["active"].choose(rng) if account_id is None else account_id
            if self.accounts[aid].pending == 0:
                break
        else:
            raise Infeasible
        account = self.accounts[aid]
        customer = self.customers[account.customer_id]
        siblings = [a for a in customer.accounts if a != aid and self.accounts[a].status == "active"]
        target = siblings[rng.randrange(len(siblings))] if siblings and rng.random() < 0.6 else None
        balance = account.balance
        self.begin()
        if balance > 0:
            if target is None:
                tid = self._insert_txn(
                    aid, "withdrawal", "debit", balance, posted=True, description="Account closure payout"
                )
                self._add_item(("withdrawal", ((tid, aid, "debit", balance),)), True)
            else:
                transfer_id = str(random_uuid(rng))
                legs = tuple(
                    (
                        self._insert_txn(
                            leg,
                            "transfer",
                            direction,
                            balance,
                            posted=True,
                            description="Account closure",
                            transfer_id=transfer_id,
                        ),
                        leg,
                        direction,
                        balance,
                    )
                    for leg, direction in ((aid, "debit"), (target, "credit"))
                )
                self._add_item(("transfer", legs), True)
                self._set_balance(target, self.accounts[target].balance + balance)
            self._set_balance(aid, 0)
        self.update("accounts", aid, status="closed", closed_at=self.now)
        self.commit()
        account.status = "closed"
        customer.open_accounts -= 1
        self._account_changed(aid)
        self._customer_changed(account.customer_id)
        return aid

    # ------------------------------------------------------------------ random operations
    def random_operation(self, weights: dict[str, float]) -> str:
        """Run one operation drawn by weight among those possible now; return its name."""
        cached = self._cumulative.get(id(weights))
        if cached is None:
            cached = self._cumulative[id(weights)] = (list(weights), list(accumulate(weights.values())))
        names, cumulative = cached
        first = names[bisect(cumulative, self.random() * cumulative[-1])]
        try:
            self._dispatch(first)
            return first
        except Infeasible:
            pass
        names, values = list(weights), list(weights.values())
        while names:
            index = self.rng.choices(range(len(names)), values)[0]
            name = names[index]
            try:
                self._dispatch(name)
                return name
            except Infeasible:
                del names[index], values[index]
        raise RuntimeError("no operation is possible (the bank is empty)")

    def _dispatch(self, name: str) -> None:
        if name in ("deposit", "withdrawal"):
            self.cash(name)
        elif name == "account_freeze":
            self.account_status("active", "frozen")
        elif name == "account_unfreeze":
            self.account_status("frozen", "active")
        else:
            getattr(self, name)()


def _scenarios(bank: _Bank) -> list[Callable[[], None]]:
    """Scripted edge cases, in run order: each a few operations (one source transaction each) run back to back."""
    edge = bank.edge
    later: dict[str, int] = {}  # ids a later scenario comes back to

    def transfer_pair() -> None:
        edge["transfer_pair"].extend(("transactions", tid) for tid in bank.transfer(posted=True))

    def reversal() -> None:
        edge["reversal"].extend(("transactions", tid) for tid in bank.reversal())

    def cancelled_deleted() -> None:
        tid = bank.cash("withdrawal", posted=False)
        bank.pending_cancel(tid)
        bank.cancelled_delete(tid)
        edge["cancelled_deleted"].append(("transactions", tid))
        later["deleted_transaction"] = tid

    def restore_booking() -> None:
        """The deleted booking is inserted again with its id (explicit id), then posted."""
        tid = later["deleted_transaction"]
        account_id = bank.pools["active"].choose(bank.rng)
        amount = money_to_cents(bank.amounts.draw("deposit"))
        bank.begin()
        bank._insert_txn(
            account_id, "deposit", "credit", amount, posted=False, description="Restored booking", transaction_id=tid
        )
        bank.commit()
        bank._add_item(("deposit", ((tid, account_id, "credit", amount),)), False)
        bank.pending_post(tid)
        edge["delete_reinsert"].append(("transactions", tid))

    def freeze() -> None:
        later["frozen_account"] = bank.account_status("active", "frozen")

    def reactivate() -> None:
        aid = later["frozen_account"]
        if bank.accounts[aid].status == "frozen":  # else a random unfreeze came first
            bank.account_status("frozen", "active", aid)
        edge["frozen_reactivated"].append(("accounts", aid))

    def account_closed() -> None:
        candidates = [a for a in bank.pools["funded"]._items if bank.accounts[a].pending == 0]
        if not candidates:
            raise Infeasible
        aid = bank.account_close(candidates[bank.rng.randrange(len(candidates))])
        edge["account_closed"].append(("accounts", aid))

    def erasure() -> None:
        cid = bank.customer_signup(prospect=True)
        edge["erasure"].append(("customers", bank.customer_erasure(cid)))
        applicant = bank.customer_signup(prospect=False)
        bank.customer_kyc_change("rejected", applicant)
        edge["erasure"].append(("customers", bank.customer_erasure(applicant)))
        later["erased_customer"] = applicant

    def restore_customer() -> None:
        """The erased customer_id is inserted again (explicit id, as by a restore), a new KYC applicant."""
        cid = later["erased_customer"]
        bank.customer_signup(prospect=False, customer_id=cid)
        edge["delete_reinsert"].append(("customers", cid))

    def tracked() -> None:
        edge["tracked_update"].append(("customers", bank.customer_tier_change()))
        edge["tracked_update"].append(("customers", bank.customer_profile_update("email")))
        edge["tracked_update"].append(("customers", bank.customer_profile_update("address")))
        applicant = bank.customer_signup(prospect=False)
        edge["tracked_update"].append(("customers", bank.customer_kyc_change("verified", applicant)))

    def untracked() -> None:
        edge["untracked_update"].append(("customers", bank.customer_touch()))
        edge["untracked_update"].append(("accounts", bank.account_touch()))
        edge["untracked_update"].append(("transactions", bank.transaction_description()))
        tid = bank.cash("deposit", posted=True)  # its account gets a balance-only update
        edge["untracked_update"].append(("accounts", bank.rows["transactions"][tid][1]))

    def posting() -> None:
        tid = bank.cash("deposit", posted=False)
        bank.pending_post(tid)
        edge["posting_same_tx"].append(("transactions", tid))
        debit, _ = bank.transfer(posted=False)
        key, posted = bank.pending_post(debit)
        if posted:
            edge["posting_same_tx"].append(("transactions", key))

    def duplicates() -> None:
        bank.customer_profile_update("phone")
        bank.cash("deposit", posted=True)
        bank.restart(2)

    return [
        transfer_pair,
        cancelled_deleted,
        freeze,
        posting,
        duplicates,
        erasure,
        tracked,
        restore_booking,
        reversal,
        reactivate,
        untracked,
        restore_customer,
        account_closed,
    ]


def _warm_up(bank: _Bank, customers: int) -> None:
    """The bank before capture: ``customers`` customers, their accounts and some history (no events)."""
    for _ in range(customers):
        bank.customer_signup()
    for cid in list(bank.pools["kyc_pending"]._items):
        bank.customer_kyc_change("verified" if bank.rng.random() < 0.9 else "rejected", cid)
    for cid in list(bank.pools["verified"]._items):
        for _ in range(1 + (bank.rng.random() < 0.4)):
            bank.cash("deposit", posted=True, account_id=bank.account_open(cid))
    weights = {name: w for name, w in OPERATION_WEIGHTS.items() if name not in ("customer_signup", "customer_erasure")}
    for _ in range(customers * 4):
        bank.random_operation(weights)


def synthesize(seed: int = 7, customers: int = 50, events: int = 2_000) -> BronzeFixture:
    """
    Synthesize the bronze rows of a banking history, deterministically from ``seed``.

    :param seed: Seed of every choice (same seed, same rows, byte for byte).
    :param customers: Customers existing at the initial snapshot (at least 10).
    :param events: Source operations (database transactions) after the snapshot (at least 100); about 2.3
        bronze rows each.
    """
    if customers < 10 or events < 100:
        raise ValueError("synthesize needs customers >= 10 and events >= 100 (room for every edge case)")
    collecting = gc.isenabled()
    gc.disable()  # millions of young tuples and strings, no cycles: the cyclic GC would only slow this down
    try:
        return _synthesize(seed, customers, events)
    finally:
        if collecting:
            gc.enable()


def _synthesize(seed: int, customers: int, events: int) -> BronzeFixture:
    capture = CaptureConfig.load()
    bank = _Bank(seed, capture)
    _warm_up(bank, customers)
    bank.emit = True
    bank.snapshot()
    bank.flush(0)
    first = bank.committed
    cycle_ops = -(-events // CYCLES)
    # scripted scenarios spread over the first 80% of the run; connector restarts now and then
    scenarios = _scenarios(bank)
    due = deque((int(events * 0.8 * i / len(scenarios)), scenario) for i, scenario in enumerate(scenarios, 1))
    restarts = sorted(bank.rng.randrange(events) for _ in range(events // 20_000))
    weights = {**OPERATION_WEIGHTS, **_EXTRA_WEIGHTS}
    run = 1
    while (done := bank.committed - first) < events:
        if restarts and restarts[0] <= done:
            restarts.pop(0)
            bank.restart(bank.rng.randint(1, 4))
        if due and due[0][0] <= done and events - done > 8:
            try:
                due[0][1]()
                due.popleft()
            except Infeasible:
                bank.random_operation(weights)
        else:
            bank.random_operation(weights)
        if bank.committed - first >= run * cycle_ops:
            bank.flush(run)
            run += 1
    if due:
        raise RuntimeError("a scripted edge case could not run; raise events or customers")
    bank.flush(run)
    return _assemble(bank, seed, customers, events)


def _pick_late(entries: list[list[Any]]) -> int:
    """Index of the file delayed by one loader run: a file whose partition has a file in the next run too."""
    by_run: dict[tuple[int, str, int], int] = {(e[0], e[2], e[3]): i for i, e in enumerate(entries)}
    runs = sorted({e[0] for e in entries if e[0] > 0})
    middle = runs[len(runs) // 2]
    for run in sorted(runs, key=lambda r: (abs(r - middle), r)):
        for table in ("transactions", "accounts", "customers"):
            for i, entry in enumerate(entries):
                if entry[0] == run and entry[2] == table and (run + 1, table, entry[3]) in by_run:
                    return i
    raise RuntimeError("no partition has files in two consecutive runs: raise events")


def _assemble(bank: _Bank, seed: int, customers: int, events: int) -> BronzeFixture:
    """Order the landing files as the loader loads them, stamp source_file and loaded_at, build Arrow tables."""
    rng = bank.rng
    # [run, late, table, partition, messages, flushed_us]
    entries: list[list[Any]] = [[run, 0, table, part, msgs, flushed] for run, table, part, msgs, flushed in bank.files]
    late_index = _pick_late(entries)
    entries[late_index][0] += 1
    entries[late_index][1] = 1  # loaded at the end of the next run, after that run's newer file
    last_flush: dict[int, int] = {}
    for entry in entries:
        last_flush[entry[0]] = max(last_flush.get(entry[0], 0), entry[5])
    entries.sort(key=lambda e: (e[0], e[1], bank.topics[e[2]], e[3], e[4][0][1]))
    messages: dict[str, list[tuple[Any, ...]]] = {table: [] for table in TABLES}
    stamps: dict[str, tuple[list[str], list[int]]] = {table: ([], []) for table in TABLES}
    files: list[FixtureFile] = []
    loaded_us, current_run, late_key = 0, -1, ""
    for run, late, table, partition, msgs, _ in entries:
        if run != current_run:
            current_run = run
            loaded_us = max(loaded_us + 1_000, last_flush[run] + rng.randint(20_000_000, 90_000_000))
        loaded_us += rng.randint(2_000, 9_000)
        first, last = msgs[0][1], msgs[-1][1]
        key = object_key(LANDING_PREFIX, bank.topics[table], partition, first, last)
        if late:
            late_key = key
            bank.edge["late_file"].extend((table, int(m[3].rsplit(":", 1)[1][:-1])) for m in msgs)
        files.append(
            FixtureFile(
                key,
                table,
                partition,
                first,
                last,
                len(msgs),
                len(messages[table]),
                _EPOCH + timedelta(microseconds=loaded_us),
                run,
            )
        )
        messages[table].extend(msgs)
        keys, loaded = stamps[table]
        keys.extend([key] * len(msgs))
        loaded.extend([loaded_us] * len(msgs))
    rows = {table: _arrow(bank.topics[table], table, messages[table], *stamps[table]) for table in TABLES}
    missing = [name for name, keys in bank.edge.items() if not keys]
    if missing:
        raise RuntimeError(f"edge case(s) {missing} did not occur: raise events or customers")
    return BronzeFixture(
        seed=seed,
        customers=customers,
        events=events,
        rows=rows,
        files=files,
        edge_cases={name: list(dict.fromkeys(keys)) for name, keys in bank.edge.items()},
        late_file=late_key,
        final_rows=bank.rows,
    )


def _arrow(topic: str, table: str, msgs: list[tuple[Any, ...]], files: list[str], loaded: list[int]) -> pa.Table:
    """Bronze rows of one table as Arrow (:data:`BRONZE_ARROW_SCHEMA`)."""
    import pyarrow.compute as pc

    count = len(msgs)
    columns: list[Any] = list(zip(*msgs, strict=True)) if msgs else [()] * 13
    (partition, offset, kafka_ms, key, tombstone, op, event_ms, source_ms, lsn, txid, snapshot, before, after) = columns
    tomb = pa.array(tombstone, pa.bool_())

    def constant(value: str) -> pa.Array:
        return pc.if_else(tomb, pa.scalar(None, pa.string()), pa.scalar(value, pa.string()))

    arrays = [
        pa.array([topic] * count, pa.string()),
        pa.array(partition, pa.int32()),
        pa.array(offset, pa.int64()),
        pa.array(kafka_ms, pa.timestamp("ms", tz="UTC")),
        pa.array(key, pa.string()),
        tomb,
        pa.array(op, pa.string()),
        pa.array(event_ms, pa.int64()),
        pa.array(source_ms, pa.int64()),
        pa.array(lsn, pa.int64()),
        pa.array(txid, pa.int64()),
        pa.array(snapshot, pa.string()),
        constant(SOURCE_DB),
        constant(SOURCE_SCHEMA),
        constant(table),
        pa.array(before, pa.string()),
        pa.array(after, pa.string()),
        pa.array(files, pa.string()),
        pa.array(loaded, pa.timestamp("us", tz="UTC")),
    ]
    return pa.Table.from_arrays(arrays, schema=BRONZE_ARROW_SCHEMA)


def split_parts(fixture: BronzeFixture, tail_share: float = 0.01) -> list[tuple[float, float]]:
    """
    Split the load into a base and a tail of about ``tail_share`` of the rows, at a loader-run boundary.

    The tail holds the newest events in commit order (whole loader runs of whole files), for a benchmark that
    loads the base, runs dbt, then loads the tail and runs dbt incrementally.

    :param fixture: The synthesized fixture.
    :param tail_share: Wanted share of bronze rows in the tail.
    :return: ``[(0.0, x), (x, 1.0)]``: ``parts`` arguments of :func:`load_bronze`.
    """
    bounds = fixture.run_boundaries()[1:-1]
    if not bounds:
        raise ValueError("the fixture has a single loader run")
    before: list[int] = []
    cumulative, position = 0, 0
    for bound in bounds:
        cumulative += sum(file.rows for file in fixture.files[position:bound])
        before.append(cumulative)
        position = bound
    target = (1.0 - tail_share) * fixture.total_rows
    best = min(range(len(bounds)), key=lambda i: abs(before[i] - target))
    split = bounds[best] / len(fixture.files)
    return [(0.0, split), (split, 1.0)]


_INSERT_COLUMNS: Final = ", ".join(column.name for column in BRONZE_ARROW_SCHEMA)
_SELECT_LIST: Final = ", ".join(
    f"CAST({column.name} AS JSON)" if column.name in ("before_json", "after_json") else column.name
    for column in BRONZE_ARROW_SCHEMA
)


#: the source catalog of the fixture's columns (what the bronze load keeps in bronze.source_columns)
_CATALOG_TYPES: Final = {
    "int": ("bigint", "integer", 64, None),
    "str": ("text", "text", None, None),
    "money": ("numeric(18,2)", "decimal", 18, 2),
    "ts": ("timestamp with time zone", "timestamptz", None, None),
    "date": ("date", "date", None, None),
}


def catalog_columns() -> list[SourceColumn]:
    """The source catalog of the fixture's tables, as the bronze load reads it from the source database."""
    return [
        SourceColumn(
            table,
            name,
            position,
            *_CATALOG_TYPES[kind][:2],
            *_CATALOG_TYPES[kind][2:],
            nullable=name != PRIMARY_KEYS[table],
            key_position=1 if name == PRIMARY_KEYS[table] else None,
        )
        for table in TABLES
        for position, (name, kind) in enumerate(COLUMNS[table], start=1)
    ]


def write_catalog(
    execute: Callable[[str, list[Any]], Any],
    dialect: str = "duckdb",
    relation: str = "",
    columns: Sequence[SourceColumn] = (),
) -> None:
    """
    Write :func:`catalog_columns` (and ``columns``) into the catalog table (created if missing, rows replaced).

    :param execute: Runs one statement with ``?`` (DuckDB) or ``%s`` (Snowflake connector) placeholders.
    :param dialect: ``duckdb`` or ``snowflake``.
    :param relation: The catalog table; default ``bronze.source_columns``.
    :param columns: Columns of further tables to catalogue beside the fixture's.
    """
    from banking_cdc.warehouse.source_columns import COLUMNS as CATALOG_COLUMNS
    from banking_cdc.warehouse.source_columns import TABLE, next_rows, table_ddl

    relation = relation or f"{BRONZE_SCHEMA}.{TABLE}"
    execute(table_ddl(dialect, relation), [])
    execute(f"DELETE FROM {relation}", [])
    tables, _ = next_rows([], [*catalog_columns(), *columns], datetime(2026, 1, 1, tzinfo=UTC))
    names = [name for name, _d, _s in CATALOG_COLUMNS]
    mark = "?" if dialect == "duckdb" else "%s"
    stamp = f"CAST({mark} AS {'TIMESTAMPTZ' if dialect == 'duckdb' else 'TIMESTAMP_TZ'})"
    values = ", ".join(stamp if name in ("dropped_at", "changed_at") else mark for name in names)
    for rows in tables.values():
        for row in rows:
            params = [row[name].isoformat() if isinstance(row[name], datetime) else row[name] for name in names]
            execute(f"INSERT INTO {relation} ({', '.join(names)}) VALUES ({values})", params)


def load_bronze(
    target: str | Path | Any, fixture: BronzeFixture, parts: tuple[float, float] = (0.0, 1.0)
) -> dict[str, int]:
    """
    Load the fixture's landing files whose load-order position falls in ``parts`` into DuckDB bronze.

    Creates the bronze schema, tables and ledger first if missing (``duckdb_bronze_ddl``). Whole files only:
    files ``round(start * n)`` up to ``round(end * n)`` (exclusive) of the ``n`` files, so consecutive ranges
    such as ``(0, 0.9)`` then ``(0.9, 1)`` load every file exactly once. Files already in the ledger are
    skipped, as by the real loader. Rows keep the fixture's ``source_file`` and ``loaded_at``; the ledger
    gets one row per file. One DuckDB transaction for the whole call.

    :param target: DuckDB database path (not named ``bronze``/``silver``/``gold``: DuckDB names the catalog
        after the file), or an open ``duckdb`` connection (left open).
    :param fixture: The synthesized fixture.
    :param parts: ``(start, end)`` fractions of the files in load order.
    :return: ``files_loaded``, ``rows_loaded`` and ``files_skipped`` (already in the ledger).
    """
    import duckdb

    from banking_cdc.warehouse.duckdb import duckdb_bronze_ddl

    start, end = parts
    if not 0.0 <= start <= end <= 1.0:
        raise ValueError(f"parts must be 0 <= start <= end <= 1, got {parts!r}")
    own = isinstance(target, str | Path)
    if own and Path(target).stem in (BRONZE_SCHEMA, "silver", "gold"):
        # DuckDB names the catalog after the file: bronze.<table> would then be ambiguous
        raise ValueError(f"{target}: a DuckDB file named like a schema (bronze, silver, gold) makes names ambiguous")
    conn = duckdb.connect(str(target)) if own else target
    try:
        if own:
            conn.execute("SET enable_progress_bar = false")
        for statement in duckdb_bronze_ddl(CaptureConfig.load()):
            conn.execute(statement)
        write_catalog(conn.execute)
        count = len(fixture.files)
        chosen = fixture.files[round(start * count) : round(end * count)]
        done = {row[0] for row in conn.execute(f"SELECT file_key FROM {BRONZE_SCHEMA}.{LEDGER_TABLE}").fetchall()}
        todo = [file for file in chosen if file.key not in done]
        rows_loaded = 0
        conn.execute("BEGIN TRANSACTION")
        try:
            for table in TABLES:
                ranges: list[list[int]] = []
                for file in todo:
                    if file.table != table:
                        continue
                    if ranges and ranges[-1][1] == file.row_start:
                        ranges[-1][1] += file.rows
                    else:
                        ranges.append([file.row_start, file.row_start + file.rows])
                if not ranges:
                    continue
                arrow = pa.concat_tables([fixture.rows[table].slice(first, stop - first) for first, stop in ranges])
                conn.register("bronze_fixture_rows", arrow)
                conn.execute(
                    f"INSERT INTO {BRONZE_SCHEMA}.{table} ({_INSERT_COLUMNS}) "
                    f"SELECT {_SELECT_LIST} FROM bronze_fixture_rows"
                )
                conn.unregister("bronze_fixture_rows")
                rows_loaded += arrow.num_rows
            if todo:
                ledger = pa.table(
                    {
                        "file_key": [file.key for file in todo],
                        "bronze_table": [file.table for file in todo],
                        "rows_in_file": pa.array([file.rows for file in todo], pa.int64()),
                        "rows_loaded": pa.array([file.rows for file in todo], pa.int64()),
                        "first_offset": pa.array([file.first_offset for file in todo], pa.int64()),
                        "last_offset": pa.array([file.last_offset for file in todo], pa.int64()),
                        "loaded_at": pa.array([file.loaded_at for file in todo], pa.timestamp("us", tz="UTC")),
                    }
                )
                conn.register("bronze_fixture_ledger", ledger)
                conn.execute(f"INSERT INTO {BRONZE_SCHEMA}.{LEDGER_TABLE} BY NAME SELECT * FROM bronze_fixture_ledger")
                conn.unregister("bronze_fixture_ledger")
            conn.execute("COMMIT")
        except Exception:
            conn.execute("ROLLBACK")
            raise
    finally:
        if own:
            conn.close()
    return {"files_loaded": len(todo), "rows_loaded": rows_loaded, "files_skipped": len(chosen) - len(todo)}


def _parse_parts(text: str) -> tuple[float, float]:
    start, _, end = text.partition(":")
    return float(start), float(end)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: synthesize a fixture and load (a part of) it into a DuckDB file."""
    parser = argparse.ArgumentParser(description="Write a synthesized banking bronze fixture into a DuckDB file.")
    parser.add_argument("--db", required=True, type=Path, help="DuckDB file to write (created if missing)")
    parser.add_argument("--seed", type=int, default=7, help="seed of every choice (default 7)")
    parser.add_argument("--customers", type=int, default=50, help="customers at the initial snapshot (default 50)")
    parser.add_argument("--events", type=int, default=2_000, help="source operations after it (default 2000)")
    parser.add_argument(
        "--parts", type=_parse_parts, default=(0.0, 1.0), help="start:end fractions of the files, in load order"
    )
    args = parser.parse_args(argv)
    began = time.perf_counter()
    fixture = synthesize(seed=args.seed, customers=args.customers, events=args.events)
    synthesized = time.perf_counter() - began
    began = time.perf_counter()
    result = load_bronze(args.db, fixture, parts=args.parts)
    print(
        f"synthesized {fixture.total_rows:,} bronze rows in {len(fixture.files):,} files ({synthesized:.1f}s); "
        f"loaded {result['rows_loaded']:,} rows of {result['files_loaded']:,} files into {args.db} "
        f"({time.perf_counter() - began:.1f}s; {result['files_skipped']} file(s) already loaded)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
