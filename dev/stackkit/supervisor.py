"""The process supervisor: one managed service as a plain process in its own session / process group.

Owns the PID file (``<state>/run/<service>.pid``), the log file (``<state>/logs/<service>.log``), the port
check before a start, the wait on the service's health check, and the stop: only a recorded PID whose
command line still carries this stack's marker is signalled, then its whole group, SIGKILL after a timeout.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from .settings import HEALTH_TIMEOUT_S, HOST, STATE, StackError, log


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def pid_cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def port_open(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


@dataclasses.dataclass
class Service:
    """One managed process: how to prepare, start, check and stop it."""

    name: str
    ports: list[int]
    describe: str
    prepare: Callable[[], list[str]]
    health: Callable[[], None]
    marker: Callable[[], str] = lambda: str(STATE)
    stop_signal: int = signal.SIGTERM
    user: str | None = None
    stop_timeout_s: float = 45.0

    @property
    def pidfile(self) -> Path:
        return STATE / "run" / f"{self.name}.pid"

    @property
    def logfile(self) -> Path:
        return STATE / "logs" / f"{self.name}.log"

    def recorded_pid(self) -> int | None:
        """The PID ``up`` recorded, if that process still runs and is still ours."""
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        if not pid_alive(pid):
            return None
        if self.marker() not in pid_cmdline(pid):
            # the PID was reused by a process that is not ours: never touch it
            return None
        return pid

    def start(self) -> int:
        for port in self.ports:
            if port_open(port):
                raise StackError(
                    self.name,
                    f"port {HOST}:{port} is already taken by another process; stop it or set the "
                    f"port's BCDC_*_PORT variable",
                )
        argv = self.prepare()
        self.logfile.parent.mkdir(parents=True, exist_ok=True)
        self.pidfile.parent.mkdir(parents=True, exist_ok=True)
        with open(self.logfile, "ab") as out:
            out.write(f"\n=== {time.strftime('%Y-%m-%dT%H:%M:%S')} stack up: starting {self.name}\n".encode())
            out.flush()
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # own process group: down signals exactly this tree
                user=self.user,
                group=self.user,
                extra_groups=[] if self.user else None,
                cwd=STATE,
            )
        self.pidfile.write_text(str(proc.pid))
        return proc.pid

    def wait_healthy(self, pid: int, timeout_s: float = HEALTH_TIMEOUT_S) -> float:
        started = time.monotonic()
        last_error = "no check ran"
        while time.monotonic() - started < timeout_s:
            if not pid_alive(pid):
                raise StackError(
                    self.name,
                    f"process {pid} exited during start-up; last lines of {self.logfile}:\n{self.log_tail()}",
                )
            try:
                self.health()
                return time.monotonic() - started
            except Exception as exc:  # noqa: BLE001 - any failure means "not healthy yet"
                last_error = f"{type(exc).__name__}: {exc}"
            time.sleep(0.5)
        raise StackError(
            self.name,
            f"not healthy after {timeout_s:.0f}s ({last_error}); last lines of {self.logfile}:\n{self.log_tail()}",
        )

    def stop(self) -> bool:
        pid = self.recorded_pid()
        if pid is None:
            self.pidfile.unlink(missing_ok=True)
            return False
        try:
            os.killpg(pid, self.stop_signal)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + self.stop_timeout_s
        while time.monotonic() < deadline and self._group_alive(pid):
            time.sleep(0.2)
        if self._group_alive(pid):
            log(f"{self.name}: still running after {self.stop_timeout_s:.0f}s, sending SIGKILL to group {pid}")
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            while self._group_alive(pid):
                time.sleep(0.1)
        self.pidfile.unlink(missing_ok=True)
        return True

    @staticmethod
    def _group_alive(pgid: int) -> bool:
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                return True
        return False

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
