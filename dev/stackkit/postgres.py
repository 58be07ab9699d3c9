"""PostgreSQL 15 (Debian packages): the source database ``banking`` and the operational ``banking_ops``.

``initdb`` and the server refuse root, so both run as the ``postgres`` user; the health check also creates
the application role and the two databases (``wal_level=logical``, SCRAM over TCP).
"""

from __future__ import annotations

import functools
import hashlib
import shutil
import signal
import subprocess
from pathlib import Path

from .credentials import local_secrets
from .settings import HOST, OPS_DB, PG_BIN, PG_PORT, SOURCE_DB, SOURCE_USER, STATE, StackError, log
from .supervisor import Service


@functools.cache
def pg_home() -> Path:
    """Where PostgreSQL keeps its files: in the state folder when the postgres user can reach it.

    ``initdb`` and the server refuse to run as root, so they run as the ``postgres`` user, who
    cannot enter a clone under a private home folder (``/root`` is 0700). Then the cluster lives
    under ``/var/tmp/banking-cdc/<digest of the state path>`` instead.
    """
    probe = subprocess.run(
        ["test", "-x", str(STATE)], user="postgres", group="postgres", extra_groups=[], capture_output=True
    )
    if probe.returncode == 0:
        return STATE / "postgres"
    outside = Path("/var/tmp/banking-cdc") / hashlib.sha256(str(STATE).encode()).hexdigest()[:12] / "postgres"
    outside.parent.mkdir(parents=True, exist_ok=True)
    for folder in (outside.parent.parent, outside.parent):
        folder.chmod(0o755)
    return outside


def pg_dirs() -> tuple[Path, Path]:
    home = pg_home()
    return home / "data", home / "run"


def prepare_postgres() -> list[str]:
    data, run = pg_dirs()
    if not (PG_BIN / "postgres").exists():
        raise StackError("postgres", f"{PG_BIN}/postgres not found; install Debian's postgresql-15 (dev/bootstrap.sh)")
    creds = local_secrets()
    run.mkdir(parents=True, exist_ok=True)
    shutil.chown(run, "postgres", "postgres")
    if not (data / "PG_VERSION").exists():
        data.mkdir(parents=True, exist_ok=True)
        shutil.chown(data, "postgres", "postgres")
        data.chmod(0o700)
        pwfile = data.parent / ".pwfile"
        pwfile.write_text(creds["pg_superuser_password"] + "\n")
        shutil.chown(pwfile, "postgres", "postgres")
        pwfile.chmod(0o600)
        log("postgres: initdb (first run)")
        result = subprocess.run(
            [
                str(PG_BIN / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--auth-local=peer",
                "--auth-host=scram-sha-256",
                f"--pwfile={pwfile}",
            ],
            capture_output=True,
            text=True,
            user="postgres",
            group="postgres",
            extra_groups=[],
        )
        pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            raise StackError("postgres", f"initdb failed: {result.stderr.strip()}")
    settings = {
        "port": PG_PORT,
        "listen_addresses": HOST,
        "unix_socket_directories": str(run),
        "wal_level": "logical",
        "max_replication_slots": 10,
        "max_wal_senders": 10,
        "wal_keep_size": "256MB",
        "max_slot_wal_keep_size": "4GB",
        "shared_buffers": "128MB",
        "log_min_messages": "warning",
    }
    argv = [str(PG_BIN / "postgres"), "-D", str(data)]
    for key, value in settings.items():
        argv += ["-c", f"{key}={value}"]
    return argv


def pg_connect(dbname: str = "postgres"):  # type: ignore[no-untyped-def]
    import psycopg2

    # the unix socket uses peer authentication (OS user postgres); as root, use the superuser
    # password over TCP instead
    return psycopg2.connect(
        host=HOST,
        port=PG_PORT,
        user="postgres",
        password=local_secrets()["pg_superuser_password"],
        dbname=dbname,
        connect_timeout=3,
    )


def postgres_health() -> None:
    conn = pg_connect()
    try:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SHOW wal_level")
            (wal_level,) = cur.fetchone()
            if wal_level != "logical":
                raise StackError("postgres", f"wal_level is {wal_level!r}, expected 'logical'")
            password = local_secrets()["pg_password"]
            cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (SOURCE_USER,))
            if cur.fetchone() is None:
                cur.execute(f"CREATE ROLE {SOURCE_USER} LOGIN REPLICATION PASSWORD %s", (password,))
            for dbname in (SOURCE_DB, OPS_DB):
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,))
                if cur.fetchone() is None:
                    cur.execute(f"CREATE DATABASE {dbname} OWNER {SOURCE_USER}")
    finally:
        conn.close()
    # the application role can log in over TCP: the connection the pipeline uses
    import psycopg2

    app = psycopg2.connect(
        host=HOST,
        port=PG_PORT,
        user=SOURCE_USER,
        password=local_secrets()["pg_password"],
        dbname=SOURCE_DB,
        connect_timeout=3,
    )
    try:
        with app.cursor() as cur:
            cur.execute("SELECT 1")
            cur.fetchone()
    finally:
        app.close()


SERVICE = Service(
    "postgres",
    [PG_PORT],
    f"postgresql://{HOST}:{PG_PORT}/{SOURCE_DB}",
    prepare_postgres,
    postgres_health,
    marker=lambda: str(pg_dirs()[0]),
    stop_signal=signal.SIGINT,
    user="postgres",
)
