"""Airflow listener that imports dbt once in the scheduler, so every dbt task process starts warm.

With the ``LocalExecutor`` on Linux, the scheduler forks the executor's worker processes when it starts,
and each worker forks one process per task. A module the scheduler imported *before* the executor started
is therefore already in every task process. A Cosmos task with ``InvocationMode.DBT_RUNNER`` otherwise
spends about 3-5 s importing dbt (``dbt.cli.main``, the DuckDB adapter) for about 1 s of SQL; with 29 dbt
tasks a run, in DuckDB's one-slot writer pool, that import is a large share of a run
(docs/BENCHMARKS.md, "dbt task start-up").

Airflow calls the listener hook ``on_starting(component)`` when a component's ``Job`` is created
(``airflow.jobs.job.Job.__init__``), which for the scheduler is before ``executor.start()``. The job's
type is not set yet at that point, so the scheduler is recognised by its command (``airflow scheduler``).
This listener imports the modules named by ``BCDC_TASK_PRELOAD`` (comma-separated; default
:data:`DEFAULT_MODULES`; empty turns it off) there, only in the scheduler and only when the executor forks
its workers. Other
components (API server, DAG processor, triggerer) and other executors (Celery, Kubernetes: their workers
are separate processes or pods) are left alone. A module that cannot be imported is logged and skipped:
preloading only ever saves time, it never stops the scheduler.
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from airflow.listeners import hookimpl

log = logging.getLogger(__name__)

#: environment variable naming the modules to import in the scheduler (comma-separated; empty: none)
PRELOAD_ENV = "BCDC_TASK_PRELOAD"
#: what a Cosmos ``DBT_RUNNER`` task of banking_dbt imports before its first SQL statement
DEFAULT_MODULES: tuple[str, ...] = ("dbt.cli.main", "dbt.adapters.duckdb", "cosmos.operators.local")
#: executors whose task processes are forked from the scheduler
FORKING_EXECUTORS: frozenset[str] = frozenset({"LocalExecutor"})


def modules_to_preload(environ: dict[str, str] | None = None) -> tuple[str, ...]:
    """
    The modules to import, from ``BCDC_TASK_PRELOAD`` (unset: :data:`DEFAULT_MODULES`; empty: none).

    :param environ: The environment to read (default ``os.environ``).
    """
    value = (os.environ if environ is None else environ).get(PRELOAD_ENV)
    if value is None:
        return DEFAULT_MODULES
    return tuple(name.strip() for name in value.split(",") if name.strip())


def is_scheduler_command(argv: Sequence[str]) -> bool:
    """
    Whether ``argv`` is the command line of an Airflow scheduler (``airflow scheduler [options]``).

    :param argv: The process's arguments (``sys.argv``).
    """
    return len(argv) >= 2 and os.path.basename(argv[0]) == "airflow" and argv[1] == "scheduler"


def executor_forks_tasks(executor: str, start_method: str) -> bool:
    """
    Whether task processes of ``executor`` are forked from the scheduler's process.

    :param executor: The configured ``[core] executor`` (a name or a module path; the first of a list).
    :param start_method: ``multiprocessing.get_start_method()`` in the scheduler.
    """
    first = executor.split(",")[0].strip().rsplit(".", 1)[-1]
    return first in FORKING_EXECUTORS and start_method == "fork"


def preload(modules: Sequence[str]) -> dict[str, float]:
    """
    Import ``modules``; return the seconds each successful import took (failures are logged, skipped).

    :param modules: Dotted module names.
    """
    timings: dict[str, float] = {}
    for name in modules:
        began = time.perf_counter()
        try:
            importlib.import_module(name)
        except Exception as err:  # noqa: BLE001 - preloading is an optimisation, never a failure
            log.warning("task preload: could not import %s (%s); tasks will import it themselves", name, err)
            continue
        timings[name] = time.perf_counter() - began
    return timings


class TaskPreloadListener:
    """Imports the preload modules in the scheduler before its executor forks the task workers."""

    @hookimpl
    def on_starting(self, component: Any) -> None:
        """Called by Airflow in each component as it starts; acts in the scheduler's job only (task
        processes forked from the scheduler inherit its command line, and call this hook too)."""
        if type(component).__name__ != "Job" or not is_scheduler_command(sys.argv):
            return
        from airflow.configuration import conf

        executor = conf.get("core", "executor", fallback="LocalExecutor")
        if not executor_forks_tasks(executor, multiprocessing.get_start_method()):
            log.info("task preload: executor %s does not fork task processes; nothing preloaded", executor)
            return
        modules = modules_to_preload()
        if not modules:
            return
        timings = preload(modules)
        log.info(
            "task preload: imported %s in the scheduler (%.1f s); forked task processes start with them",
            ", ".join(timings) or "nothing",
            sum(timings.values()),
        )
