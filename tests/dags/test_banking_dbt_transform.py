"""banking_dbt_transform: rendered by Cosmos from the committed manifest, one task per dbt node."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag

ROOT = Path(__file__).resolve().parents[2]
MANIFEST = json.loads((ROOT / "banking_dbt" / "manifest.json").read_text())
NODES = {uid: node for uid, node in MANIFEST["nodes"].items() if node["package_name"] == "banking_dbt"}


@pytest.fixture(scope="module")
def dag():  # type: ignore[no-untyped-def]
    bag = DagBag(dag_folder=str(ROOT / "dags" / "banking_dbt_transform.py"), safe_mode=False)
    assert bag.import_errors == {}
    return bag.dags["banking_dbt_transform"]


def _of_type(resource_type: str) -> list[dict]:  # type: ignore[type-arg]
    return [node for node in NODES.values() if node["resource_type"] == resource_type]


def test_one_run_task_per_model_and_one_task_per_snapshot(dag) -> None:  # type: ignore[no-untyped-def]
    models, snapshots = _of_type("model"), _of_type("snapshot")
    assert len(models) >= 8 and len(snapshots) == 2
    for model in models:
        assert f"{model['name']}.run" in dag.task_ids, model["name"]
    for snapshot in snapshots:
        assert f"{snapshot['name']}_snapshot" in dag.task_ids, snapshot["name"]


def _parents(test: dict) -> set[str]:  # type: ignore[type-arg]
    return {NODES[uid]["name"] for uid in test["depends_on"]["nodes"] if uid in NODES}


def test_each_model_has_its_own_test_task_and_multi_parent_tests_are_detached(dag) -> None:  # type: ignore[no-untyped-def]
    tests = [t for t in _of_type("test") if _parents(t)]  # (tests of bronze sources are not rendered)
    single = [t for t in tests if len(_parents(t)) == 1]
    multi = [t for t in tests if len(_parents(t)) > 1]
    assert single and multi, "expected per-model tests and tests spanning several models"
    for test in single:
        (name,) = _parents(test)
        assert f"{name}.test" in dag.task_ids, name
        assert f"{name}.run" in dag.get_task(f"{name}.test").upstream_task_ids
    for test in multi:
        task = dag.get_task(f"{test['name']}_test")
        upstream = {t.removesuffix(".run").removesuffix(".test") for t in task.get_flat_relative_ids(upstream=True)}
        assert _parents(test) <= upstream, (test["name"], _parents(test) - upstream)


def test_retries_follow_dbt_project_meta(dag) -> None:  # type: ignore[no-untyped-def]
    for node in _of_type("model") + _of_type("snapshot"):
        expected = node["config"]["meta"]["cosmos"]["operator_kwargs"]["retries"]
        task_id = f"{node['name']}.run" if node["resource_type"] == "model" else f"{node['name']}_snapshot"
        assert dag.get_task(task_id).retries == expected, task_id
    staging = next(n for n in _of_type("model") if n["name"] == "stg_transactions")
    marts = next(n for n in _of_type("model") if n["name"] == "fct_transactions")
    assert staging["config"]["meta"]["cosmos"]["operator_kwargs"]["retries"] == 3
    assert marts["config"]["meta"]["cosmos"]["operator_kwargs"]["retries"] == 2


def test_scheduled_on_bronze_and_duckdb_writes_share_the_one_slot_pool(dag) -> None:  # type: ignore[no-untyped-def]
    from banking_cdc.assets import BRONZE

    assert [asset.name for asset in dag.timetable.asset_condition.objects] == [BRONZE.name]
    assert {task.pool for task in dag.tasks} == {"duckdb_writer"}
