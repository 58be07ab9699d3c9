"""dev/stack itself: clear errors naming the service, and cleanup of what a failed `up` started.

These runs use their own state folder and ports, so they never touch the stack the other tests use.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STACK = ROOT / "dev" / "stack.py"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def scratch_state() -> Iterator[Path]:
    # under the repository's state folder: PostgreSQL runs as the postgres user and must reach it
    path = ROOT / ".state" / f"test-{uuid.uuid4().hex[:8]}"
    path.mkdir(parents=True)
    try:
        yield path
    finally:
        subprocess.run([sys.executable, str(STACK), "down"], env=_env(path, {}), capture_output=True)
        shutil.rmtree(path, ignore_errors=True)


def _env(state: Path, ports: dict[str, int]) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("BCDC_")}
    env["BCDC_STATE_DIR"] = str(state)
    env["BCDC_HEALTH_TIMEOUT"] = "60"
    for key, value in ports.items():
        env[key] = str(value)
    return env


def _all_ports(**taken: int) -> dict[str, int]:
    names = ("BCDC_PG_PORT", "BCDC_KAFKA_PORT", "BCDC_KAFKA_CONTROLLER_PORT", "BCDC_CONNECT_PORT", "BCDC_S3_PORT")
    ports = {name: free_port() for name in names}
    ports.update(taken)
    return ports


def test_taken_port_fails_up_naming_the_service(scratch_state: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        result = subprocess.run(
            [sys.executable, str(STACK), "up"],
            env=_env(scratch_state, _all_ports(BCDC_PG_PORT=port)),
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 1
    assert f"[postgres] port 127.0.0.1:{port} is already taken" in result.stderr
    assert list(scratch_state.glob("run/*.pid")) == []  # nothing was started


@pytest.mark.integration
def test_failed_up_stops_what_it_started(scratch_state: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        kafka_port = blocker.getsockname()[1]
        ports = _all_ports(BCDC_KAFKA_PORT=kafka_port)
        result = subprocess.run(
            [sys.executable, str(STACK), "up"],
            env=_env(scratch_state, ports),
            capture_output=True,
            text=True,
            timeout=180,
        )
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"[kafka] port 127.0.0.1:{kafka_port} is already taken" in result.stderr
    # PostgreSQL had started before Kafka failed; up stopped it again
    assert "postgres: starting" in result.stdout
    assert "stopping what this run started: postgres" in result.stdout
    assert list(scratch_state.glob("run/*.pid")) == []
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", ports["BCDC_PG_PORT"])) != 0


def test_down_with_nothing_running_says_so(scratch_state: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(STACK), "down"], env=_env(scratch_state, _all_ports()), capture_output=True, text=True
    )
    assert result.returncode == 0
    assert "nothing to stop" in result.stdout


def test_status_exits_non_zero_when_stopped(scratch_state: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(STACK), "status"], env=_env(scratch_state, _all_ports()), capture_output=True, text=True
    )
    assert result.returncode == 3
    assert result.stdout.count("stopped") == 4
