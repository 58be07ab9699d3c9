"""DAG integrity, in the spirit of the Astro project template: every DAG imports, is tagged, retries."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag

DAGS_FOLDER = Path(__file__).resolve().parents[2] / "dags"


@pytest.fixture(scope="module")
def dag_bag(airflow_db: Path) -> DagBag:
    # get_dag() reads the metadata database: depend on its migration, never on a test that ran before
    return DagBag(dag_folder=str(DAGS_FOLDER), safe_mode=False)


def test_every_dag_file_imports_without_error(dag_bag: DagBag) -> None:
    assert dag_bag.import_errors == {}, "\n".join(f"{path}: {err}" for path, err in dag_bag.import_errors.items())


def test_every_dag_file_defines_a_dag(dag_bag: DagBag) -> None:
    files = sorted(p.name for p in DAGS_FOLDER.glob("*.py") if not p.name.startswith("_"))
    assert files, "no DAG file found"
    defining = {Path(dag.fileloc).name for dag in dag_bag.dags.values()}
    assert sorted(defining) == files


@pytest.mark.parametrize("dag_id", sorted(DagBag(dag_folder=str(DAGS_FOLDER), safe_mode=False).dag_ids))
def test_dag_has_tags_owner_and_retries(dag_bag: DagBag, dag_id: str) -> None:
    dag = dag_bag.get_dag(dag_id)
    assert dag.tags, f"{dag_id} has no tags"
    assert "banking-cdc" in dag.tags
    assert dag.owner == "banking-cdc"
    for task in dag.tasks:
        assert task.retries >= 2, f"{dag_id}.{task.task_id} retries={task.retries} (< 2)"


@pytest.mark.parametrize("dag_id", sorted(DagBag(dag_folder=str(DAGS_FOLDER), safe_mode=False).dag_ids))
def test_dag_has_a_deadline_alert_mailing_through_smtp(dag_bag: DagBag, dag_id: str) -> None:
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier
    from airflow.sdk.definitions.deadline import DeadlineAlert

    from banking_cdc.operate.alerts import AlertsConfig

    deadlines = dag_bag.get_dag(dag_id).deadline
    assert deadlines, f"{dag_id} has no Deadline Alert"
    [alert] = deadlines
    assert isinstance(alert, DeadlineAlert)
    assert alert.interval == AlertsConfig.load().interval(dag_id)
    assert alert.callback.path == f"{SmtpNotifier.__module__}.{SmtpNotifier.__qualname__}"


def test_no_dag_reads_secrets_from_the_environment() -> None:
    # connections and variables come from Airflow, never os.environ at parse time
    for path in DAGS_FOLDER.glob("*.py"):
        text = path.read_text()
        assert "os.environ" not in text and "getenv" not in text, f"{path.name} reads the environment"


def test_dags_parse_fast_without_services() -> None:
    # parsing must do no I/O: point every connection at a closed port and parse again
    closed = {key: value for key, value in os.environ.items() if key.startswith("AIRFLOW_CONN_")}
    try:
        for key in closed:
            os.environ[key] = "postgres://nobody@127.0.0.1:9/none"
        bag = DagBag(dag_folder=str(DAGS_FOLDER), safe_mode=False)
        assert bag.import_errors == {}
    finally:
        os.environ.update(closed)


def test_bronze_load_is_first_in_line_for_the_duckdb_writer_slot(dag_bag: DagBag) -> None:
    """A queued load must not wait behind a whole dbt run in the one-slot pool (commit -> bronze freshness)."""
    load = dag_bag.get_dag("cdc_load_bronze").get_task("load_bronze")
    assert load.pool == "duckdb_writer"
    assert str(load.weight_rule).lower().endswith("absolute")
    for dag_id in ("banking_dbt_transform", "cdc_resync", "cdc_monitoring", "cdc_reconcile"):
        dag = dag_bag.get_dag(dag_id)
        pooled = [t for t in dag.tasks if t.pool == "duckdb_writer"]
        # a "downstream" weight is at most the sum of the weights of the whole DAG's tasks
        highest = sum(t.priority_weight for t in dag.tasks)
        assert not pooled or load.priority_weight > highest, f"{dag_id} can outrank the bronze load"
