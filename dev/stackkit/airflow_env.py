"""The Airflow side of the stack: its connections (same conn ids as ``airflow_settings.yaml``) and ``airflow.env``."""

from __future__ import annotations

import json
from pathlib import Path

from .credentials import local_secrets
from .settings import (
    CONNECT_PORT,
    HOST,
    KAFKA_PORT,
    LANDING_BUCKET,
    OPS_DB,
    PG_PORT,
    ROOT,
    S3_PORT,
    SOURCE_DB,
    SOURCE_USER,
    STATE,
)


def airflow_connections() -> dict[str, dict[str, object]]:
    """The Airflow connections of the native stack (same conn ids as airflow_settings.yaml)."""
    creds = local_secrets()
    return {
        "postgres_source": {
            "conn_type": "postgres",
            "host": HOST,
            "port": PG_PORT,
            "schema": SOURCE_DB,
            "login": SOURCE_USER,
            "password": creds["pg_password"],
        },
        "bcdc_metrics": {
            "conn_type": "postgres",
            "host": HOST,
            "port": PG_PORT,
            "schema": OPS_DB,
            "login": SOURCE_USER,
            "password": creds["pg_password"],
        },
        "kafka_default": {
            "conn_type": "kafka",
            "extra": {
                "bootstrap.servers": f"{HOST}:{KAFKA_PORT}",
                "group.id": "banking-cdc",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
            },
        },
        "kafka_connect_default": {"conn_type": "kafka_connect", "host": HOST, "port": CONNECT_PORT, "schema": "http"},
        "aws_default": {
            "conn_type": "aws",
            "login": creds["s3_access_key"],
            "password": creds["s3_secret_key"],
            "extra": {
                "endpoint_url": f"http://{HOST}:{S3_PORT}",
                "region_name": "us-east-1",
                "config_kwargs": {"s3": {"addressing_style": "path"}},
            },
        },
        "duckdb_default": {"conn_type": "duckdb", "host": str(STATE / "warehouse" / "banking.duckdb")},
        "smtp_default": {
            "conn_type": "smtp",
            "host": HOST,
            "port": 18025,
            "extra": {"disable_tls": True, "disable_ssl": True},
        },
    }


def write_env_file() -> Path:
    """Shell-sourceable environment for Airflow on the native stack (``.state/airflow.env``)."""
    lines = [
        f"export AIRFLOW_HOME={STATE / 'airflow'}",
        f"export AIRFLOW__CORE__DAGS_FOLDER={ROOT / 'dags'}",
        f"export AIRFLOW__CORE__PLUGINS_FOLDER={ROOT / 'plugins'}",
        "export AIRFLOW__CORE__LOAD_EXAMPLES=False",
        "export AIRFLOW__COSMOS__ENABLE_TELEMETRY=False",
        f"export AIRFLOW__COSMOS__CACHE_DIR={STATE / 'cosmos'}",
        f"export BCDC_LANDING_BUCKET={LANDING_BUCKET}",
    ]
    for conn_id, spec in airflow_connections().items():
        value = json.dumps(spec, separators=(",", ":"))
        lines.append(f"export AIRFLOW_CONN_{conn_id.upper()}='{value}'")
    path = STATE / "airflow.env"
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path
