"""Fresh source databases for generator tests: ``gen_test_<uuid>`` owned by ``banking``, dropped afterwards.

The ``banking`` role cannot create databases, so the databases are created and dropped as the PostgreSQL
superuser, whose password the native stack keeps in its state folder (read here, in tests only). The schema is
applied and all data written as ``banking``, like in production.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from airflow.providers.postgres.hooks.postgres import PostgresHook
from psycopg2.extensions import make_dsn

from banking_cdc.capture.source_schema import apply_source_schema

ROOT = Path(__file__).resolve().parents[3]
STATE = Path(os.environ.get("BCDC_STATE_DIR", ROOT / ".state"))


@pytest.fixture(scope="session")
def source_connection(stack: dict[str, str]) -> Any:
    """The Airflow connection ``postgres_source`` (the ``banking`` role on the native stack)."""
    return PostgresHook.get_connection("postgres_source")


@pytest.fixture(scope="session")
def superuser_dsn(source_connection: Any) -> str:
    secrets = json.loads((STATE / "secrets.json").read_text())
    return make_dsn(
        host="127.0.0.1",
        port=source_connection.port,
        user="postgres",
        password=secrets["pg_superuser_password"],
        dbname="postgres",
    )


FreshDatabase = Callable[[], str]


@pytest.fixture
def fresh_database(superuser_dsn: str, source_connection: Any) -> Iterator[FreshDatabase]:
    """A factory of fresh databases with the source schema; returns the ``banking`` role's DSN of each."""
    created: list[str] = []

    def create() -> str:
        name = f"gen_test_{uuid.uuid4().hex[:12]}"
        admin = psycopg2.connect(superuser_dsn)
        admin.autocommit = True
        try:
            with admin.cursor() as cur:
                cur.execute(f'CREATE DATABASE {name} OWNER "{source_connection.login}"')
        finally:
            admin.close()
        created.append(name)
        dsn = make_dsn(
            host=source_connection.host,
            port=source_connection.port,
            user=source_connection.login,
            password=source_connection.password,
            dbname=name,
        )
        conn = psycopg2.connect(dsn)
        try:
            apply_source_schema(conn)
        finally:
            conn.close()
        return dsn

    yield create

    admin = psycopg2.connect(superuser_dsn)
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            for name in created:
                cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        admin.close()


@pytest.fixture
def db(fresh_database: FreshDatabase) -> str:
    """The DSN of one fresh database."""
    return fresh_database()
