"""Where the stack lives and how it is reached: folders, loopback ports, names, and how it reports.

Every value comes from the environment once, at import (``BCDC_STATE_DIR``, ``BCDC_CACHE_DIR``,
``BCDC_PG_BIN``, ``BCDC_PG_PORT``, ``BCDC_KAFKA_PORT``, ``BCDC_KAFKA_CONTROLLER_PORT``,
``BCDC_CONNECT_PORT``, ``BCDC_S3_PORT``, ``BCDC_LANDING_BUCKET``, ``BCDC_HEALTH_TIMEOUT``).
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STATE = Path(os.environ.get("BCDC_STATE_DIR", ROOT / ".state")).resolve()
CACHE = Path(os.environ.get("BCDC_CACHE_DIR", Path.home() / ".cache" / "banking-cdc")).resolve()
MAVEN_DIR = ROOT / "dev" / "maven"
PG_BIN = Path(os.environ.get("BCDC_PG_BIN", "/usr/lib/postgresql/15/bin"))
HOST = "127.0.0.1"

PG_PORT = int(os.environ.get("BCDC_PG_PORT", "55432"))
KAFKA_PORT = int(os.environ.get("BCDC_KAFKA_PORT", "19092"))
KAFKA_CONTROLLER_PORT = int(os.environ.get("BCDC_KAFKA_CONTROLLER_PORT", "19093"))
CONNECT_PORT = int(os.environ.get("BCDC_CONNECT_PORT", "18083"))
S3_PORT = int(os.environ.get("BCDC_S3_PORT", "19000"))

SOURCE_DB = "banking"
#: the pipeline's own operational data (metrics table): a separate database, never the source's
OPS_DB = "banking_ops"
SOURCE_USER = "banking"
LANDING_BUCKET = os.environ.get("BCDC_LANDING_BUCKET", "banking-landing")
DEBEZIUM_CLASS = "io.debezium.connector.postgresql.PostgresConnector"
HEALTH_TIMEOUT_S = float(os.environ.get("BCDC_HEALTH_TIMEOUT", "120"))


class StackError(RuntimeError):
    """A problem that names the service it concerns."""

    def __init__(self, service: str, message: str) -> None:
        super().__init__(f"[{service}] {message}")
        self.service = service


def log(message: str) -> None:
    print(f"stack: {message}", flush=True)
