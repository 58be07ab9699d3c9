"""One pipeline for the end-to-end test and the fault drills (Airflow started once: ~2 min on 2 cores).

:class:`tests.support.pipeline.Pipeline` under ``.state/e2e``: a local Airflow (scheduler, DAG processor, triggerer, API
server) with its own DuckDB warehouse, landing bucket and stage consumer group, so the tests stage every change
topic from offset 0, as a new deployment would. The setup DAGs run once; ``cdc_stage`` and ``cdc_load_bronze``
are unpaused; ``banking_dbt_transform`` stays paused until a test builds gold (:func:`build_gold`: a dbt run
under the scheduler takes 3-6 min here, one per load would not fit the time budget); ``cdc_monitoring`` stays
paused (it would hold DuckDB and alert while a drill breaks things on purpose).

Module order matters for time only: ``test_drills.py`` (bronze exactness after each fault) runs before
``test_end_to_end.py``, whose gold reconciliation then also covers every change the drills made.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.e2e.pipeline import drain, say
from tests.stack_env import ROOT, STATE
from tests.support.airflow_local import free_port
from tests.support.pipeline import CHAIN, SETUP, Pipeline


@pytest.fixture(scope="package")
def pipeline(stack: dict[str, str]) -> Iterator[Pipeline]:
    """The running pipeline, drained (everything already in the change topics is in bronze and gold)."""
    root = STATE / "e2e"
    shutil.rmtree(root, ignore_errors=True)
    pipe = Pipeline(root, free_port(18400, 18499))
    try:
        pipe.start()
        for dag_id in SETUP:
            pipe.run_dag(dag_id)
        for dag_id in CHAIN[:2]:
            pipe.airflow.airflow("dags", "unpause", dag_id)
        say(f"pipeline ready ({pipe.airflow.home}); draining what the topics already hold")
        drain(pipe, group_of(pipe))
        yield pipe
    finally:
        pipe.airflow.stop()
        # whatever a drill left stopped is started again (idempotent: running services are left alone)
        subprocess.run([sys.executable, str(ROOT / "dev" / "stack.py"), "up"], check=False, capture_output=True)


def group_of(pipe: Pipeline) -> str:
    """The pipeline's stage consumer group (the Variable ``stage_group_id``)."""
    return pipe.airflow.env["AIRFLOW_VAR_STAGE_GROUP_ID"]
