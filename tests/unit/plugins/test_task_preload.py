"""Unit tests of banking_cdc.plugins.task_preload (which process preloads what)."""

from __future__ import annotations

import logging
import sys
import types

import pytest

from banking_cdc.plugins import task_preload
from banking_cdc.plugins.task_preload import (
    DEFAULT_MODULES,
    TaskPreloadListener,
    executor_forks_tasks,
    is_scheduler_command,
    modules_to_preload,
    preload,
)


def test_modules_default_when_unset_none_when_empty_and_listed_otherwise():
    assert modules_to_preload({}) == DEFAULT_MODULES
    assert modules_to_preload({"BCDC_TASK_PRELOAD": ""}) == ()
    assert modules_to_preload({"BCDC_TASK_PRELOAD": " json , ,decimal"}) == ("json", "decimal")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["/opt/venv/bin/airflow", "scheduler"], True),
        (["airflow", "scheduler", "--num-runs", "1"], True),
        (["/opt/venv/bin/airflow", "triggerer"], False),
        (["/opt/venv/bin/airflow", "api-server"], False),
        (["/opt/venv/bin/airflow", "dags", "test", "scheduler"], False),
        (["/usr/bin/python", "scheduler"], False),
        (["airflow"], False),
    ],
)
def test_is_scheduler_command(argv, expected):
    assert is_scheduler_command(argv) is expected


@pytest.mark.parametrize(
    ("executor", "start_method", "expected"),
    [
        ("LocalExecutor", "fork", True),
        ("airflow.executors.local_executor.LocalExecutor", "fork", True),
        ("LocalExecutor,CeleryExecutor", "fork", True),
        ("LocalExecutor", "spawn", False),
        ("CeleryExecutor", "fork", False),
        ("KubernetesExecutor", "fork", False),
    ],
)
def test_executor_forks_tasks(executor, start_method, expected):
    assert executor_forks_tasks(executor, start_method) is expected


def test_preload_imports_modules_and_skips_a_missing_one(monkeypatch, caplog):
    name = "bcdc_preload_probe_module"
    monkeypatch.delitem(sys.modules, name, raising=False)
    module = types.ModuleType(name)
    imported = []

    def fake_import(target):
        if target == "no_such_module_bcdc":
            raise ModuleNotFoundError(f"No module named {target!r}")
        imported.append(target)
        sys.modules[target] = module
        return module

    monkeypatch.setattr(task_preload.importlib, "import_module", fake_import)
    with caplog.at_level(logging.WARNING, logger=task_preload.__name__):
        timings = preload(["no_such_module_bcdc", name])
    assert imported == [name]
    assert list(timings) == [name] and timings[name] >= 0
    assert sys.modules[name] is module
    assert "could not import no_such_module_bcdc" in caplog.text


def _run_hook(monkeypatch, argv, executor="LocalExecutor", start_method="fork", env="json", component=None):
    component = Job() if component is None else component
    calls: list[tuple[str, ...]] = []
    monkeypatch.setattr(task_preload.sys, "argv", argv)
    monkeypatch.setattr(task_preload.multiprocessing, "get_start_method", lambda: start_method)
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", executor)
    monkeypatch.setenv("BCDC_TASK_PRELOAD", env)
    monkeypatch.setattr(task_preload, "preload", lambda modules: calls.append(tuple(modules)) or {})
    TaskPreloadListener().on_starting(component=component)
    return calls


class Job:
    """Stands in for airflow.jobs.job.Job (the hook is called with the component's Job)."""


def test_hook_preloads_in_a_forking_scheduler_only(monkeypatch):
    assert _run_hook(monkeypatch, ["/v/bin/airflow", "scheduler"]) == [("json",)]
    assert _run_hook(monkeypatch, ["/v/bin/airflow", "triggerer"]) == []
    assert _run_hook(monkeypatch, ["/v/bin/airflow", "scheduler"], executor="CeleryExecutor") == []
    assert _run_hook(monkeypatch, ["/v/bin/airflow", "scheduler"], start_method="spawn") == []
    assert _run_hook(monkeypatch, ["/v/bin/airflow", "scheduler"], env="") == []
    # a task process forked from the scheduler has its command line, but its component is not a Job
    assert _run_hook(monkeypatch, ["/v/bin/airflow", "scheduler"], component=object()) == []
