"""A scratch Airflow with a real scheduler, DAG processor, triggerer and API server, for tests and benchmarks.

``airflow dags test`` runs no scheduler loop: it never evaluates Deadline Alerts, ignores pools and runs
deferrals inline. What needs the real thing (the Deadline Alert e-mail, the event-driven chain) starts a
:class:`ScratchAirflow`: its own ``AIRFLOW_HOME`` and SQLite metadata DB in a scratch folder, LocalExecutor,
an API server on a free loopback port, each component in its own session, stopped by process group (and
any process still carrying the scratch ``AIRFLOW_HOME``, which is unique, is killed at the end).
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

ROOT = Path(__file__).resolve().parents[1]
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


class ScratchAirflow:
    """
    Airflow's four long-running components over a scratch metadata DB.

    :param scratch: Folder holding ``airflow/`` (home, SQLite DB, logs) and ``logs/`` (component output).
    :param dags_folder: The DAGs folder the DAG processor parses.
    :param env: Extra environment (connections, variables, ``BCDC_*``). The parent's ``AIRFLOW*`` settings
        are dropped first, so the stack's test environment does not leak in, except its connections and
        variables (``AIRFLOW_CONN_*``, ``AIRFLOW_VAR_*``) when ``inherit_connections``.
    :param inherit_connections: Keep the parent's ``AIRFLOW_CONN_*`` and ``AIRFLOW_VAR_*`` variables.
    """

    def __init__(
        self,
        scratch: Path,
        dags_folder: Path,
        env: dict[str, str] | None = None,
        inherit_connections: bool = True,
    ) -> None:
        self.scratch = scratch
        self.home = scratch / "airflow"
        self.db = self.home / "airflow.db"
        self.logs = scratch / "logs"
        self.port = free_port()
        kept = ("AIRFLOW_CONN_", "AIRFLOW_VAR_") if inherit_connections else ()
        base = {
            key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW") or key.startswith(kept)
        }
        base.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.db}",
                "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
                "AIRFLOW__CORE__PLUGINS_FOLDER": str(scratch / "plugins"),
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
        (self.scratch / "plugins").mkdir(parents=True, exist_ok=True)
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
            out = (self.logs / f"{name}.log").open("ab")
            self.procs[name] = subprocess.Popen(
                [str(AIRFLOW_BIN / "airflow"), name],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

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
