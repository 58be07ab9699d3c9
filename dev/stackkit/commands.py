"""The stack's commands over its services: ``up``, ``down``, ``status``, ``is-up``, ``logs``, ``env``, ``clean``,
``stop`` and ``start`` (each takes the parsed arguments and returns the exit code)."""

from __future__ import annotations

import argparse
import shutil
import sys
import time

from . import connect, kafka, postgres, s3proxy
from .airflow_env import write_env_file
from .postgres import pg_home
from .settings import STATE, StackError, log
from .supervisor import Service, port_open

#: in start order; ``down`` stops them in reverse
SERVICES: list[Service] = [postgres.SERVICE, kafka.SERVICE, s3proxy.SERVICE, connect.SERVICE]
BY_NAME = {service.name: service for service in SERVICES}
DEPENDS_ON = {"kafka-connect": "kafka"}


def cmd_stop(args: argparse.Namespace) -> int:
    """Stop one service (fault drills, maintenance); `up` or `start` brings it back."""
    service = BY_NAME.get(args.service)
    if service is None:
        print(f"stack: unknown service {args.service!r}; choose from {', '.join(BY_NAME)}", file=sys.stderr)
        return 2
    log(f"{service.name}: {'stopped' if service.stop() else 'was not running'}")
    return 0


def cmd_start(args: argparse.Namespace) -> int:
    """Start one stopped service and wait until it is healthy."""
    service = BY_NAME.get(args.service)
    if service is None:
        print(f"stack: unknown service {args.service!r}; choose from {', '.join(BY_NAME)}", file=sys.stderr)
        return 2
    try:
        pid = service.recorded_pid() or service.start()
        log(f"{service.name}: healthy after {service.wait_healthy(pid):.1f}s (pid {pid})")
    except StackError as exc:
        print(f"stack: ERROR {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


def cmd_up(_: argparse.Namespace) -> int:
    STATE.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    started: dict[str, int] = {}
    already: list[str] = []

    def launch(service: Service) -> None:
        pid = service.recorded_pid()
        if pid is not None:
            already.append(service.name)
            started[service.name] = pid
            return
        log(f"{service.name}: starting")
        started[service.name] = service.start()

    try:
        for service in SERVICES:
            dependency = DEPENDS_ON.get(service.name)
            if dependency:
                BY_NAME[dependency].wait_healthy(started[dependency])
            launch(service)
        for service in SERVICES:
            service.wait_healthy(started[service.name])
    except StackError as exc:
        print(f"stack: ERROR {exc}", file=sys.stderr, flush=True)
        newly = [name for name in started if name not in already]
        if newly:
            log(f"stopping what this run started: {', '.join(newly)}")
            for name in reversed(newly):
                BY_NAME[name].stop()
        return 1
    env_path = write_env_file()
    if len(already) == len(SERVICES):
        log("nothing to do: every service is already running and healthy")
    else:
        log(f"up in {time.monotonic() - began:.1f}s")
    for service in SERVICES:
        print(f"  {service.name:<14} pid {started[service.name]:<8} {service.describe}")
    print(f"  airflow env    source {env_path}")
    return 0


def cmd_down(_: argparse.Namespace) -> int:
    stopped = []
    for service in reversed(SERVICES):
        if service.stop():
            stopped.append(service.name)
            log(f"{service.name}: stopped")
    if not stopped:
        log("nothing to stop: no service of this stack is running")
    busy = [f"{s.name}:{p}" for s in SERVICES for p in s.ports if port_open(p)]
    if busy:
        print(f"stack: WARNING ports still held by other processes: {', '.join(busy)}", file=sys.stderr)
        return 1
    return 0


def cmd_status(_: argparse.Namespace) -> int:
    all_up = True
    for service in SERVICES:
        pid = service.recorded_pid()
        if pid is None:
            state = "stopped"
            all_up = False
        else:
            try:
                service.health()
                state = "healthy"
            except Exception as exc:  # noqa: BLE001
                state = f"running, unhealthy ({type(exc).__name__}: {exc})"
                all_up = False
        print(f"{service.name:<14} {state:<10} pid {pid or '-':<8} {service.describe}")
    return 0 if all_up else 3


def cmd_is_up(_: argparse.Namespace) -> int:
    return 0 if any(service.recorded_pid() is not None for service in SERVICES) else 1


def cmd_logs(args: argparse.Namespace) -> int:
    names = [args.service] if args.service else [s.name for s in SERVICES]
    for name in names:
        if name not in BY_NAME:
            print(f"stack: unknown service {name!r}; choose from {', '.join(BY_NAME)}", file=sys.stderr)
            return 2
        print(f"==> {BY_NAME[name].logfile} <==")
        print(BY_NAME[name].log_tail(args.lines))
    return 0


def cmd_env(_: argparse.Namespace) -> int:
    print(write_env_file().read_text(), end="")
    return 0


def cmd_clean(args: argparse.Namespace) -> int:
    cmd_down(args)
    home = pg_home() if STATE.exists() else None
    if home is not None and STATE not in home.parents and home.exists():
        shutil.rmtree(home.parent)
        log(f"removed {home.parent}")
    if STATE.exists():
        shutil.rmtree(STATE)
        log(f"removed {STATE}")
    return 0
