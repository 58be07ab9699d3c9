"""Native service stack of banking-cdc: no Docker, plain processes on loopback ports.

Starts, checks and stops, with state under a git-ignored folder:

* PostgreSQL 15 (Debian packages), ``wal_level=logical``, the source database ``banking`` and the
  pipeline's operational database ``banking_ops`` (metrics table);
* Apache Kafka, one KRaft node (broker + controller), jars from Maven Central;
* Kafka Connect in distributed mode with the Debezium PostgreSQL connector on its plugin path;
* S3Proxy, an S3-compatible server keeping objects on disk (jclouds ``filesystem`` backend).

Usage::

    dev/stack up | down | status | logs [SERVICE] | env | is-up | clean

``up`` is idempotent, ``down`` stops exactly the processes ``up`` recorded (by PID and process
group). This file is the command line only: the supervisor and the services are in the ``stackkit``
package next to it (``dev/stackkit``). Third-party Python modules are imported lazily so that ``down``
and ``status`` work with the standard library alone.
"""

from __future__ import annotations

import argparse
import sys

from stackkit.commands import (  # dev/ is on sys.path: this file runs as a script (dev/stack, CI)
    cmd_clean,
    cmd_down,
    cmd_env,
    cmd_is_up,
    cmd_logs,
    cmd_start,
    cmd_status,
    cmd_stop,
    cmd_up,
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dev/stack", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="install what is missing, start every service, wait until healthy")
    sub.add_parser("down", help="stop exactly the processes 'up' started")
    sub.add_parser("status", help="state and health of each service (exit 3 if any is down)")
    sub.add_parser("is-up", help="exit 0 if any service of the stack runs")
    logs = sub.add_parser("logs", help="last lines of the service logs")
    logs.add_argument("service", nargs="?")
    logs.add_argument("-n", "--lines", type=int, default=40)
    stop = sub.add_parser("stop", help="stop one service (fault drills)")
    stop.add_argument("service")
    start = sub.add_parser("start", help="start one service and wait until it is healthy")
    start.add_argument("service")
    sub.add_parser("env", help="print the Airflow environment of the native stack")
    sub.add_parser("clean", help="down, then delete the state folder (all local data)")
    args = parser.parse_args(argv)
    handler = {
        "up": cmd_up,
        "down": cmd_down,
        "status": cmd_status,
        "is-up": cmd_is_up,
        "logs": cmd_logs,
        "env": cmd_env,
        "clean": cmd_clean,
        "stop": cmd_stop,
        "start": cmd_start,
    }[args.command]
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
