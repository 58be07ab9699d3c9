"""Fault drills under a real Airflow: while the generator writes, break one piece, restore it: 0 lost, 0 duplicated.

Structure (the time budget: a dbt run under the scheduler takes 3-6 min here, so a gold build per drill does
not fit): ``banking_dbt_transform`` stays paused (package fixture); each drill runs the generator in the
background (``RATE`` ops/s for ``DURATION`` s), applies its fault ``FAULT_AT`` s after the generator's first
commit (a service or the triggerer down for ``DOWN_FOR`` s then started again; a stage task process SIGKILLed
while it stages a batch), lets the generator end, passes the drain barrier (a marker commit on every table
captured, the stage group committed up to the high watermarks, no load run active for 20 s) and asserts
**bronze exactness** (``tests/e2e/pipeline.py``):

- 0 duplicated: no (topic, partition, offset) twice in bronze;
- 0 lost in Kafka -> bronze: every offset below the stage group's committed offset is in bronze;
- 0 lost source -> bronze: the latest bronze image (by LSN, offset) of every key equals the live source row
  (tier / KYC / e-mail, account status / balance, transaction status / amount), no live source key missing,
  no deleted key live;
- recovered: the last ended run of ``cdc_stage`` and of ``cdc_load_bronze`` is ``success`` (runs that failed
  during the fault are allowed: retries and the next run are the recovery being drilled; their count is
  printed).

Gold: ``test_end_to_end.py`` runs next in the same pipeline; its dbt build covers everything the drills
loaded and its strict reconciliation (exit 0, every check ok) compares gold with the whole source, the drills'
changes included. Every service is started again in ``finally`` (and by the package fixture), whatever happens.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import group_of
from tests.e2e.pipeline import (
    TOPICS,
    _consumer,
    assert_bronze_exact,
    drain,
    failed_chain_runs,
    say,
    stage_backlog,
    utc_now_text,
)
from tests.stack_env import ROOT
from tests.support.pipeline import Pipeline, generator_summary, start_generator

pytestmark = pytest.mark.integration

RATE, DURATION, FAULT_AT, DOWN_FOR = 10, 30, 5, 12
TIMINGS: dict[str, float] = {}


def stack(command: str, service: str) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "dev" / "stack.py"), command, service], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"dev/stack.py {command} {service}:\n{result.stdout[-2000:]}{result.stderr[-2000:]}"


@pytest.fixture(scope="module")
def drills(pipeline: Pipeline) -> Pipeline:
    """The package's pipeline (dbt paused: bronze is checked per drill, gold by the end-to-end test)."""
    return pipeline


def last_ended_state(pipeline: Pipeline, dag_id: str) -> str | None:
    rows = pipeline.airflow.query(
        "SELECT state FROM dag_run WHERE dag_id = ? AND state IN ('success', 'failed') ORDER BY end_date DESC LIMIT 1",
        dag_id,
    )
    return str(rows[0][0]) if rows else None


def source_changes() -> int:
    """A number that grows with every generator operation (rows ever inserted plus the last update time)."""
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    row = PostgresHook(postgres_conn_id="postgres_source").get_first(
        "SELECT (SELECT coalesce(max(transaction_id), 0) FROM transactions)"
        " + (SELECT coalesce(max(customer_id), 0) FROM customers)"
    )
    return int(row[0])


def wait_for_writes(generator: subprocess.Popen[str], timeout: float = 120) -> None:
    """Wait until the generator has committed for ``FAULT_AT`` s (it takes a few seconds to start), so the fault
    hits a running load."""
    first = source_changes()
    deadline = time.monotonic() + timeout
    while source_changes() == first:
        assert generator.poll() is None, "the generator exited before writing anything"
        assert time.monotonic() < deadline, f"the generator wrote nothing within {timeout:.0f} s"
        time.sleep(0.5)
    time.sleep(FAULT_AT)


def run_drill(
    name: str, pipeline: Pipeline, fault: Callable[[], None], seed: int, generator_may_fail: bool = False
) -> dict[str, Any]:
    """Generator in the background, ``fault`` at ``FAULT_AT`` s, drain, bronze exactness, chain recovered."""
    began, since = time.monotonic(), utc_now_text()
    generator = start_generator(RATE, DURATION, seed)
    try:
        wait_for_writes(generator)
        fault()
    finally:
        try:
            summary: dict[str, Any] | None = generator_summary(generator, timeout=DURATION + 300)
        except Exception:
            if not generator_may_fail:
                raise
            summary = None
    drained = drain(pipeline, group_of(pipeline))
    bronze = assert_bronze_exact(pipeline, group_of(pipeline))
    for dag_id in ("cdc_stage", "cdc_load_bronze"):
        assert last_ended_state(pipeline, dag_id) == "success", f"{dag_id} did not recover"
    failed = failed_chain_runs(pipeline, since)
    TIMINGS[name] = time.monotonic() - began
    ops = summary["operations_total"] if summary else "generator stopped by the fault"
    say(f"drill {name}: {ops} ops; failed runs meanwhile {failed}; drain {drained:.0f} s; "
        f"bronze {bronze['bronze_rows']}; {TIMINGS[name]:.0f} s")  # fmt: skip
    return bronze


def service_down(service: str) -> Callable[[], None]:
    def fault() -> None:
        stack("stop", service)
        try:
            time.sleep(DOWN_FOR)
        finally:
            stack("start", service)

    return fault


@pytest.mark.timeout(900)
def test_kafka_restart_loses_and_duplicates_nothing(drills: Pipeline) -> None:
    run_drill("kafka", drills, service_down("kafka"), seed=101)


@pytest.mark.timeout(900)
def test_kafka_connect_restart_loses_and_duplicates_nothing(drills: Pipeline) -> None:
    run_drill("kafka-connect", drills, service_down("kafka-connect"), seed=102)


@pytest.mark.timeout(900)
def test_postgres_restart_loses_and_duplicates_nothing(drills: Pipeline) -> None:
    """The generator's connection dies with the database (it does not reconnect): the drill accepts its exit and
    runs a second generator load after the restart, so changes before and after the outage are checked."""
    run_drill("postgres", drills, service_down("postgres"), seed=103, generator_may_fail=True)
    generator_summary(start_generator(RATE, 10, 1103), timeout=300)
    drain(drills, group_of(drills))
    assert_bronze_exact(drills, group_of(drills))


@pytest.mark.timeout(900)
def test_object_store_restart_loses_and_duplicates_nothing(drills: Pipeline) -> None:
    run_drill("object-store", drills, service_down("object-store"), seed=104)


@pytest.mark.timeout(900)
def test_triggerer_restart_loses_and_duplicates_nothing(drills: Pipeline) -> None:
    """The deferred stage tasks' triggers must be picked up by the new triggerer."""
    run_drill("triggerer", drills, lambda: drills.airflow.restart("triggerer", down_for=DOWN_FOR), seed=105)


def staged_files_logged(pipeline: Pipeline, pid: int) -> tuple[Path | None, int]:
    """The log of the stage task whose runner is ``pid`` and how many files it has logged as staged so far
    (one line ``... -> s3://...; committed N`` per file, after its upload and offset commit)."""
    title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    ti_id = title.removeprefix("airflow worker -- ").replace("-", "")
    rows = pipeline.airflow.query("SELECT run_id, map_index, try_number FROM task_instance WHERE id = ?", ti_id)
    if not rows:
        return None, 0
    run_id, map_index, attempt = rows[0]
    log = (pipeline.airflow.home / "logs" / "dag_id=cdc_stage" / f"run_id={run_id}" / "task_id=stage_topic"
           / f"map_index={map_index}" / f"attempt={attempt}.log")  # fmt: skip
    return log, (log.read_text(errors="replace").count(" -> s3://") if log.exists() else 0)


@pytest.mark.timeout(900)
def test_stage_worker_killed_mid_batch_loses_and_duplicates_nothing(drills: Pipeline) -> None:
    """SIGKILL of a ``stage_topic`` task process resumed from its deferral, right after it logged a file of its
    batch as staged (uploaded and committed; the batch's other partitions not yet, one may be mid-upload): the
    task's retry stages from the committed offsets, rewriting an uploaded-but-uncommitted object under the same
    key."""
    killed: list[int] = []

    def fault() -> None:
        deadline = time.monotonic() + 120
        while not killed and time.monotonic() < deadline:
            for pid in drills.airflow.task_pids("cdc_stage", "stage_topic", resumed=True):
                try:
                    log, before = staged_files_logged(drills, pid)
                    while log is not None and time.monotonic() < deadline:
                        if staged_files_logged(drills, pid)[1] > before:
                            os.kill(pid, signal.SIGKILL)
                            killed.append(pid)
                            break
                        time.sleep(0.05)
                except (ProcessLookupError, FileNotFoundError):
                    continue  # the batch ended before a file was logged: wait for the next one
                if killed:
                    break
            time.sleep(0.1)

    run_drill("stage-worker-kill", drills, fault, seed=106)
    assert killed, "no stage_topic task process was caught staging a batch within 120 s"


def landing_objects(pipeline: Pipeline, topic: str) -> dict[str, datetime]:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    client = S3Hook(aws_conn_id="aws_default").get_conn()
    found: dict[str, datetime] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=pipeline.bucket, Prefix=f"raw/{topic}/"):
        for item in page.get("Contents", []):
            found[item["Key"]] = item["LastModified"]
    return found


@pytest.mark.timeout(900)
def test_topic_replayed_from_offset_zero_rewrites_the_same_objects(drills: Pipeline) -> None:
    """
    The stage group's offsets of ``bank.public.transactions`` are reset to 0 (on a drained pipeline, so no stage
    batch races the reset) while a new generator load starts: the stage re-reads the topic from its start. Asserts:
    every object landed before the reset is rewritten (LastModified after the reset), no object with a new key
    covers an offset below the old high watermarks (the same ranges, the same keys), the stage group is committed
    up to the high watermarks again, and bronze is exact (the loader skips the rewritten files: 0 duplicated).
    """
    from confluent_kafka import TopicPartition

    topic, group = TOPICS["transactions"], group_of(drills)
    before = landing_objects(drills, topic)
    highs = {p: high for p, (_start, high) in stage_backlog(group)[topic].items()}
    began, reset_at = time.monotonic(), datetime.now(UTC) - timedelta(seconds=1)
    consumer = _consumer(group)
    try:
        consumer.commit(offsets=[TopicPartition(topic, p, 0) for p in highs], asynchronous=False)
    finally:
        consumer.close()
    generator = start_generator(RATE, 20, 107)
    generator_summary(generator, timeout=300)
    drain(drills, group)
    after = landing_objects(drills, topic)
    stale = [key for key, modified in before.items() if key in after and after[key] < reset_at]
    gone = [key for key in before if key not in after]
    assert gone == [] and stale == [], f"not rewritten: {stale[:5]} missing: {gone[:5]}"
    overlapping = []
    for key in set(after) - set(before):
        partition = int(key.split("partition=")[1].split("/")[0])
        first = int(key.rsplit("/", 1)[1].split("-")[0])
        if first < highs[partition]:
            overlapping.append(key)
    assert overlapping == [], f"re-staged ranges under new keys: {overlapping[:5]}"
    assert_bronze_exact(drills, group)
    TIMINGS["replay-topic-from-0"] = time.monotonic() - began
    say(f"drill replay-topic-from-0: {len(before)} objects rewritten; {TIMINGS['replay-topic-from-0']:.0f} s")


@pytest.mark.timeout(900)
def test_reloading_landed_files_adds_nothing(drills: Pipeline) -> None:
    """``cdc_replay_landing`` over every landed file (the loader in replay mode: anti-join on the Kafka
    coordinates) ends success, bronze row counts are unchanged, and bronze is exact."""
    began = time.monotonic()
    group = group_of(drills)
    before = assert_bronze_exact(drills, group)["bronze_rows"]
    run_id = f"e2e_reload_{int(time.time())}"
    drills.airflow.trigger(
        "cdc_replay_landing", run_id,
        conf={"start": "2000-01-01T00:00:00+00:00", "end": "2100-01-01T00:00:00+00:00", "tables": []},
    )  # fmt: skip
    assert drills.airflow.wait_for_run("cdc_replay_landing", run_id, timeout=600) == "success"
    after = assert_bronze_exact(drills, group)["bronze_rows"]
    assert after == before
    TIMINGS["reload-landed-files"] = time.monotonic() - began
    say(f"drill reload-landed-files: bronze {after} unchanged; {TIMINGS['reload-landed-files']:.0f} s")
