"""End to end under a real Airflow: a generator workload with every event type -> gold reconciles exactly.

The generator runs in steady mode against the source PostgreSQL while the chain runs (Debezium -> Kafka ->
``cdc_stage`` -> landing -> ``cdc_load_bronze``, linked by the ``bcdc_landing`` Asset, no clock). After the drain
barrier (``tests/e2e/pipeline.py``: marker captured, stage caught up, no load run active) bronze is checked; then
``banking_dbt_transform`` is unpaused and a second drain's load starts it through the ``bcdc_bronze`` Asset (one
dbt run for the whole workload: 3-6 min each under the scheduler here). The test asserts:

- the workload did every operation of the generator (``OPERATION_WEIGHTS``: sign-ups, profile / tier / KYC
  changes, erasure, account open / freeze / unfreeze / close, deposits, withdrawals, transfers, pending ->
  posted / cancelled, deletion of cancelled ones, reversals) and kept the source invariants;
- bronze is exact: no Kafka coordinate twice, no offset missing below the stage group's committed offsets,
  the latest bronze image of every key equals the live source row (and no deleted key is live);
- the dbt run(s) started by the Asset ended ``success``;
- ``python -m banking_cdc.reconcile --json`` (strict) exits 0 with every check ok: gold equals the whole source,
  so when the drills ran first in the same pipeline (``make test`` order), this is also the gold proof that
  their faults lost and duplicated nothing;
- no run of the chain that started during the test ended ``failed``.
"""

from __future__ import annotations

import time

import pytest

from tests.e2e.conftest import group_of
from tests.e2e.pipeline import (
    assert_bronze_exact,
    assert_reconciled,
    build_gold,
    drain,
    failed_chain_runs,
    say,
    utc_now_text,
)
from tests.support.pipeline import Pipeline, run_generator

pytestmark = pytest.mark.integration

#: 20 operations/s for 30 s with seed 8: every operation of the generator occurs (asserted)
RATE, DURATION, SEED = 20, 30, 8


def missing_operations(operations: dict[str, int]) -> list[str]:
    """Generator operations that did not occur (the summary names KYC decisions and profile changes by kind)."""
    from banking_cdc.generator.mix import OPERATION_WEIGHTS

    done = {name for name, count in operations.items() if count}
    refined = {
        "customer_kyc_change": ("customer_kyc_",),
        "customer_profile_update": ("customer_address_", "customer_email_", "customer_phone_", "customer_postal"),
    }
    return [
        op for op in OPERATION_WEIGHTS if op not in done and not any(n.startswith(refined.get(op, (op,))) for n in done)
    ]


@pytest.mark.timeout(1200)
def test_generator_workload_with_every_event_type_reconciles_exactly(pipeline: Pipeline) -> None:
    began, since = time.monotonic(), utc_now_text()
    summary = run_generator(RATE, DURATION, SEED)
    assert missing_operations(summary["operations"]) == [], summary["operations"]
    rows = summary["rows"]
    assert all(rows[t].get(k, 0) > 0 for t in rows for k in ("insert", "update")), rows
    assert rows["transactions"].get("delete", 0) > 0, rows
    say(f"generator: {summary['operations_total']} operations; draining")
    drained = drain(pipeline, group_of(pipeline))
    bronze = assert_bronze_exact(pipeline, group_of(pipeline))
    gold = build_gold(pipeline, group_of(pipeline))
    report = assert_reconciled(pipeline.warehouse)
    assert failed_chain_runs(pipeline, since) == []
    say(
        f"e2e: {summary['operations_total']} operations, bronze {bronze['bronze_rows']}, {report['checks']} checks ok; "
        f"drain {drained:.0f} s, gold {gold:.0f} s, total {time.monotonic() - began:.0f} s"
    )
