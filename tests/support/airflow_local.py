"""A local Airflow with a real scheduler, DAG processor, triggerer and API server: the demo, tests, benchmarks.

``airflow dags test`` runs no scheduler loop: it never evaluates Deadline Alerts, ignores pools and runs
deferrals inline. What needs the real thing (the demo, the Deadline Alert e-mail, the event-driven chain)
starts a :class:`ScratchAirflow`: its own ``AIRFLOW_HOME`` and SQLite metadata DB in a folder of its own,
LocalExecutor, the API server on a loopback port, each component in its own session, stopped by process
group (and any process still carrying that ``AIRFLOW_HOME``, which is unique, is killed at the end).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
AIRFLOW_BIN = Path(sys.executable).parent
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")


class AirflowClusterError(RuntimeError):
    """A component died, a command failed, or something did not happen in time (the message says which)."""


def free_port(first: int = 18080, last: int = 18199) -> int:
    """A loopback TCP port nothing listens on, from ``first`` to ``last``."""
    for port in range(first, last + 1):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AirflowClusterError(f"no free loopback port in {first}-{last}")


def _ancestors(pid: int) -> list[int]:
    """The parent PIDs of ``pid`` up to init (empty when it exited)."""
    chain = []
    while pid > 1:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            break
        pid = int(stat.rsplit(")", 1)[1].split()[1])
        chain.append(pid)
    return chain


class ScratchAirflow:
    """
    Airflow's four long-running components over a scratch metadata DB.

    :param scratch: Folder holding ``airflow/`` (home, SQLite DB, logs) and ``logs/`` (component output).
    :param dags_folder: The DAGs folder the DAG processor parses.
    :param env: Extra environment (connections, variables, ``BCDC_*``). The parent's ``AIRFLOW*`` settings
        are dropped first, so the stack's test environment does not leak in, except its connections and
        variables (``AIRFLOW_CONN_*``, ``AIRFLOW_VAR_*``) when ``inherit_connections``.
    :param inherit_connections: Keep the parent's ``AIRFLOW_CONN_*`` and ``AIRFLOW_VAR_*`` variables.
    :param port: The API server's port (default: a free one from 18080).
    :param plugins_folder: Airflow plugins folder (default: an empty ``plugins/`` in ``scratch``).
    """

    def __init__(
        self,
        scratch: Path,
        dags_folder: Path,
        env: dict[str, str] | None = None,
        inherit_connections: bool = True,
        port: int | None = None,
        plugins_folder: Path | None = None,
    ) -> None:
        self.scratch = scratch
        self.home = scratch / "airflow"
        self.db = self.home / "airflow.db"
        self.logs = scratch / "logs"
        self.port = port or free_port()
        self.plugins_folder = plugins_folder or scratch / "plugins"
        kept = ("AIRFLOW_CONN_", "AIRFLOW_VAR_") if inherit_connections else ()
        base = {
            key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW") or key.startswith(kept)
        }
        base.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.db}",
                "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
                "AIRFLOW__CORE__PLUGINS_FOLDER": str(self.plugins_folder),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{self.port}/execution/",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
                # the log servers bind every interface: move them to free loopback-range ports
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port(18200, 18299)),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port(18300, 18399)),
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
                "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
                "AIRFLOW__COSMOS__CACHE_DIR": str(scratch / "cosmos-cache"),
                "PATH": f"{AIRFLOW_BIN}{os.pathsep}{base.get('PATH', '')}",
                "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), base.get("PYTHONPATH")])),
            }
        )
        base.update(env or {})
        self.env = base
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    # ------------------------------------------------------------------ commands and DB

    def airflow(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """Run an ``airflow`` CLI command in this Airflow's environment; raise with its output on failure."""
        result = subprocess.run(
            [str(AIRFLOW_BIN / "airflow"), *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )
        if result.returncode != 0:
            raise AirflowClusterError(
                f"airflow {' '.join(args)} failed:\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
            )
        return result

    def migrate(self, pools: dict[str, int] | None = None) -> None:
        """Create the metadata DB and the given pools (``airflow_settings.yaml`` has ``duckdb_writer``: 1)."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.plugins_folder.mkdir(parents=True, exist_ok=True)
        self.airflow("db", "migrate")
        for name, slots in (pools or {"duckdb_writer": 1}).items():
            self.airflow("pools", "set", name, str(slots), f"{name} (scratch Airflow)")

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Read the metadata DB (read-only, retrying while a writer holds the lock)."""
        for attempt in range(20):
            try:
                with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=30) as conn:
                    return conn.execute(sql, params).fetchall()
            except sqlite3.OperationalError:
                if attempt == 19:
                    raise
                time.sleep(1)
        return []

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Start the four components, each in its own session, output in ``logs/<component>.log``."""
        self.logs.mkdir(parents=True, exist_ok=True)
        for name in COMPONENTS:
            self._spawn(name)

    def _spawn(self, name: str) -> None:
        with (self.logs / f"{name}.log").open("ab") as out:
            self.procs[name] = subprocess.Popen(
                [str(AIRFLOW_BIN / "airflow"), name],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    def restart(self, component: str, down_for: float = 0.0) -> None:
        """
        Stop one component (SIGTERM to its session, SIGKILL after 30 s), keep it down ``down_for`` s, start it
        again (a fault drill: the triggerer's deferred tasks must be picked up by the new one).
        """
        if component not in COMPONENTS:
            raise AirflowClusterError(f"unknown component {component!r}; one of {COMPONENTS}")
        proc = self.procs[component]
        for sig, wait in ((signal.SIGTERM, 30.0), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        time.sleep(down_for)
        self._spawn(component)

    def task_pids(self, dag_id: str, task_id: str, resumed: bool = False) -> list[int]:
        """
        PIDs of the running task processes of ``dag_id.task_id`` in this Airflow: the task runner's title is
        ``airflow worker -- <task instance id>`` (a UUID of this metadata DB) and the scheduler is its ancestor
        (its environment is not readable: ``setproctitle`` reuses that memory).

        :param resumed: Only task instances resumed after a deferral (``next_method`` set: the trigger fired
            and the worker is doing the work), not those starting up or about to defer.
        """
        sql = "SELECT id FROM task_instance WHERE dag_id = ? AND task_id = ? AND state = 'running'"
        if resumed:
            sql += " AND next_method IS NOT NULL"
        ids = {str(row[0]).replace("-", "") for row in self.query(sql, dag_id, task_id)}
        if not ids:
            return []
        scheduler = self.procs["scheduler"].pid if "scheduler" in self.procs else None
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            except OSError:
                continue
            if (
                title.startswith("airflow worker -- ")
                and title.removeprefix("airflow worker -- ").replace("-", "") in ids
            ):
                if scheduler is None or scheduler in _ancestors(int(entry.name)):
                    pids.append(int(entry.name))
        return pids

    def check_alive(self) -> None:
        """Raise with the log tail of a component that exited."""
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                tail = (self.logs / f"{name}.log").read_text(errors="replace")[-3000:]
                raise AirflowClusterError(f"airflow {name} exited with {proc.returncode}:\n{tail}")

    def wait_until_ready(self, dag_ids: list[str], timeout: float = 300) -> None:
        """
        Wait for the Execution API to answer, the scheduler, triggerer and DAG processor jobs to run, and the
        DAG processor to have parsed ``dag_ids`` since it started (a task queued before the API answers fails).
        """
        started = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
        url = self.env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].rstrip("/") + "/health"
        deadline = time.monotonic() + timeout
        waiting = "the Execution API"
        while time.monotonic() < deadline:
            self.check_alive()
            time.sleep(2)
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    response.read()
            except OSError:
                waiting = f"the Execution API ({url})"
                continue
            try:
                jobs = {row[0] for row in self.query("SELECT job_type FROM job WHERE state = 'running'")}
                parsed = {row[0] for row in self.query("SELECT dag_id FROM dag WHERE last_parsed_time >= ?", started)}
            except sqlite3.OperationalError:
                continue
            missing = {"SchedulerJob", "TriggererJob", "DagProcessorJob"} - jobs
            if missing:
                waiting = f"running jobs {sorted(missing)}"
            elif set(dag_ids) - parsed:
                errors = self.query("SELECT filename, stacktrace FROM import_error")
                waiting = f"the DAG processor to parse {sorted(set(dag_ids) - parsed)} (import errors: {errors})"
            else:
                return
        raise AirflowClusterError(f"Airflow not ready within {timeout:.0f}s: waiting for {waiting} (see {self.logs})")

    def trigger(self, dag_id: str, run_id: str, conf: dict[str, Any] | None = None) -> None:
        """Unpause ``dag_id`` and trigger a run with ``run_id``."""
        self.airflow("dags", "unpause", dag_id)
        args = ["dags", "trigger", dag_id, "--run-id", run_id]
        if conf is not None:
            args += ["--conf", json.dumps(conf)]
        self.airflow(*args)

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 600) -> str:
        """Wait for the run to end; return its state (``success`` or ``failed``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            rows = self.query("SELECT state FROM dag_run WHERE dag_id = ? AND run_id = ?", dag_id, run_id)
            if rows and rows[0][0] in ("success", "failed"):
                return str(rows[0][0])
            time.sleep(1)
        raise AirflowClusterError(f"{dag_id} run {run_id} did not end within {timeout:.0f}s (see {self.logs})")

    def stop(self) -> None:
        """SIGTERM each session, SIGKILL what is left after 30 s, then any process of this scratch home."""
        for proc in self.procs.values():
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 30
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # the group may still hold workers after its leader exited
            except ProcessLookupError:
                pass
            proc.wait()
        self._kill_strays()
        self.procs.clear()

    def _kill_strays(self) -> None:
        """Task processes call setpgid: kill those still carrying this (unique) scratch AIRFLOW_HOME."""
        needle = f"AIRFLOW_HOME={self.home}\0".encode()
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                if needle in (entry / "environ").read_bytes():
                    os.kill(int(entry.name), signal.SIGKILL)
            except OSError:
                continue

    def __enter__(self) -> ScratchAirflow:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
