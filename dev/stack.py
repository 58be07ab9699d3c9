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
group). Third-party Python modules are imported lazily so that ``down`` and ``status`` work with
the standard library alone.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
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


# --------------------------------------------------------------------------- secrets


def secrets_file() -> Path:
    return STATE / "secrets.json"


def local_secrets() -> dict[str, str]:
    """Credentials generated once per state folder (never committed, never printed by ``up``)."""
    path = secrets_file()
    if path.exists():
        return json.loads(path.read_text())
    STATE.mkdir(parents=True, exist_ok=True)
    values = {
        "pg_superuser_password": secrets.token_urlsafe(18),
        "pg_password": secrets.token_urlsafe(18),
        "s3_access_key": "bcdc" + secrets.token_hex(8),
        "s3_secret_key": secrets.token_urlsafe(24),
    }
    path.write_text(json.dumps(values, indent=2))
    path.chmod(0o600)
    return values


# --------------------------------------------------------------------------- java libs


def maven_digest() -> str:
    digest = hashlib.sha256()
    for pom in sorted(MAVEN_DIR.rglob("pom.xml")):
        digest.update(pom.relative_to(MAVEN_DIR).as_posix().encode())
        digest.update(pom.read_bytes())
    return digest.hexdigest()[:16]


def libs_dir() -> Path:
    return CACHE / "java" / maven_digest()


def ensure_java_libs(module: str, service: str) -> Path:
    """Resolve one Maven module's runtime jars into the download cache, once."""
    target = libs_dir()
    marker = target / f".{module}.complete"
    if marker.exists():
        return target
    if shutil.which("mvn") is None:
        raise StackError(service, "Maven (mvn) is not installed; run dev/bootstrap.sh first")
    log(f"{service}: resolving jars for module {module!r} from Maven (first run only)")
    cmd = [
        "mvn",
        "-B",
        "-q",
        "-f",
        str(MAVEN_DIR / "pom.xml"),
        "-pl",
        module,
        f"-Dmaven.repo.local={CACHE / 'm2'}",
        f"-Dlibs.dir={target}",
        "dependency:copy-dependencies",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise StackError(service, f"download of its jars failed (mvn exit {result.returncode}):\n{tail}")
    marker.touch()
    return target


# --------------------------------------------------------------------------- processes


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


# --------------------------------------------------------------------------- PostgreSQL


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


# --------------------------------------------------------------------------- Kafka


def java_bin() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").exists():
        return str(Path(java_home) / "bin" / "java")
    found = shutil.which("java")
    if not found:
        raise StackError("kafka", "java not found; install a JDK 17 (dev/bootstrap.sh)")
    return found


def write_log4j(service: str) -> Path:
    path = STATE / service / "log4j2.properties"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "status = warn\n"
        "appender.console.type = Console\n"
        "appender.console.name = STDOUT\n"
        "appender.console.layout.type = PatternLayout\n"
        "appender.console.layout.pattern = [%d] %p %m (%c)%n\n"
        "rootLogger.level = INFO\n"
        "rootLogger.appenderRef.stdout.ref = STDOUT\n"
        "logger.kafka.name = kafka\nlogger.kafka.level = WARN\n"
        "logger.kafkaorg.name = org.apache.kafka\nlogger.kafkaorg.level = WARN\n"
        "logger.connect.name = org.apache.kafka.connect\nlogger.connect.level = INFO\n"
        "logger.reflections.name = org.reflections\nlogger.reflections.level = ERROR\n"
        "logger.jetty.name = org.eclipse.jetty\nlogger.jetty.level = WARN\n"
    )
    return path


def java_argv(service: str, module_dir: str, heap: str, main: str, *args: str) -> list[str]:
    libs = libs_dir() / module_dir
    return [
        java_bin(),
        f"-Xmx{heap}",
        "-Xms128m",
        "-XX:+UseG1GC",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={write_log4j(service)}",
        f"-Dbcdc.state={STATE}",  # marks the process as ours (checked before any signal)
        "-cp",
        f"{libs}/*",
        main,
        *args,
    ]


def prepare_kafka() -> list[str]:
    ensure_java_libs("kafka", "kafka")
    home = STATE / "kafka"
    data = home / "data"
    props = home / "server.properties"
    home.mkdir(parents=True, exist_ok=True)
    props.write_text(
        "process.roles=broker,controller\n"
        "node.id=1\n"
        f"controller.quorum.bootstrap.servers={HOST}:{KAFKA_CONTROLLER_PORT}\n"
        f"listeners=PLAINTEXT://{HOST}:{KAFKA_PORT},CONTROLLER://{HOST}:{KAFKA_CONTROLLER_PORT}\n"
        f"advertised.listeners=PLAINTEXT://{HOST}:{KAFKA_PORT}\n"
        "controller.listener.names=CONTROLLER\n"
        "inter.broker.listener.name=PLAINTEXT\n"
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT\n"
        f"log.dirs={data}\n"
        "num.partitions=3\n"
        "default.replication.factor=1\n"
        "min.insync.replicas=1\n"
        "offsets.topic.replication.factor=1\n"
        "offsets.topic.num.partitions=10\n"
        "transaction.state.log.replication.factor=1\n"
        "transaction.state.log.min.isr=1\n"
        "share.coordinator.state.topic.replication.factor=1\n"
        "share.coordinator.state.topic.min.isr=1\n"
        "group.initial.rebalance.delay.ms=0\n"
        "auto.create.topics.enable=false\n"
        "log.retention.hours=168\n"
    )
    if not (data / "meta.properties").exists():
        cluster_file = home / "cluster.id"
        if not cluster_file.exists():
            result = subprocess.run(
                java_argv("kafka", "kafka", "256m", "kafka.tools.StorageTool", "random-uuid"),
                capture_output=True,
                text=True,
            )
            if result.returncode != 0:
                raise StackError("kafka", f"StorageTool random-uuid failed: {result.stderr.strip()[-800:]}")
            cluster_file.write_text(result.stdout.strip().splitlines()[-1])
        log("kafka: formatting KRaft storage (first run)")
        result = subprocess.run(
            java_argv(
                "kafka",
                "kafka",
                "256m",
                "kafka.tools.StorageTool",
                "format",
                "--standalone",
                "-t",
                cluster_file.read_text().strip(),
                "-c",
                str(props),
            ),
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise StackError("kafka", f"StorageTool format failed: {(result.stdout + result.stderr).strip()[-800:]}")
    return java_argv("kafka", "kafka", "1g", "kafka.Kafka", str(props))


def kafka_health() -> None:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": f"{HOST}:{KAFKA_PORT}", "socket.timeout.ms": 3000})
    metadata = admin.list_topics(timeout=3)
    if not metadata.brokers:
        raise StackError("kafka", "broker metadata lists no broker")


# --------------------------------------------------------------------------- Kafka Connect


def prepare_connect() -> list[str]:
    ensure_java_libs("kafka", "kafka-connect")
    plugins = ensure_java_libs("debezium", "kafka-connect") / "connect-plugins"
    home = STATE / "connect"
    home.mkdir(parents=True, exist_ok=True)
    props = home / "connect-distributed.properties"
    props.write_text(
        f"bootstrap.servers={HOST}:{KAFKA_PORT}\n"
        "group.id=banking-cdc-connect\n"
        "key.converter=org.apache.kafka.connect.json.JsonConverter\n"
        "value.converter=org.apache.kafka.connect.json.JsonConverter\n"
        "key.converter.schemas.enable=false\n"
        "value.converter.schemas.enable=false\n"
        "offset.storage.topic=_connect-offsets\n"
        "offset.storage.replication.factor=1\n"
        "offset.storage.partitions=5\n"
        "config.storage.topic=_connect-configs\n"
        "config.storage.replication.factor=1\n"
        "status.storage.topic=_connect-status\n"
        "status.storage.replication.factor=1\n"
        "status.storage.partitions=5\n"
        "offset.flush.interval.ms=5000\n"
        f"listeners=http://{HOST}:{CONNECT_PORT}\n"
        f"rest.advertised.host.name={HOST}\n"
        f"rest.advertised.port={CONNECT_PORT}\n"
        f"plugin.path={plugins}\n"
        "plugin.discovery=hybrid_warn\n"
        # topics the worker needs are created by the worker itself; the broker does not auto-create
        "topic.creation.enable=true\n"
    )
    return java_argv("kafka-connect", "kafka", "1g", "org.apache.kafka.connect.cli.ConnectDistributed", str(props))


def connect_health() -> None:
    with urllib.request.urlopen(f"http://{HOST}:{CONNECT_PORT}/connector-plugins", timeout=3) as resp:
        plugins = json.load(resp)
    classes = {plugin.get("class") for plugin in plugins}
    if DEBEZIUM_CLASS not in classes:
        raise StackError("kafka-connect", f"REST API is up but does not list {DEBEZIUM_CLASS}")


# --------------------------------------------------------------------------- S3Proxy


def prepare_s3() -> list[str]:
    ensure_java_libs("s3proxy", "object-store")
    creds = local_secrets()
    home = STATE / "s3proxy"
    data = home / "data"
    data.mkdir(parents=True, exist_ok=True)
    props = home / "s3proxy.conf"
    props.write_text(
        f"s3proxy.endpoint=http://{HOST}:{S3_PORT}\n"
        "s3proxy.authorization=aws-v2-or-v4\n"
        f"s3proxy.identity={creds['s3_access_key']}\n"
        f"s3proxy.credential={creds['s3_secret_key']}\n"
        "jclouds.provider=filesystem\n"
        f"jclouds.filesystem.basedir={data}\n"
        "jclouds.region=us-east-1\n"
    )
    props.chmod(0o600)
    logback = home / "logback.xml"
    logback.write_text(
        "<configuration>\n"
        '  <appender name="STDOUT" class="ch.qos.logback.core.ConsoleAppender">\n'
        "    <encoder><pattern>[%d] %level %msg \\(%logger{36}\\)%n</pattern></encoder>\n"
        "  </appender>\n"
        '  <logger name="org.gaul.s3proxy" level="INFO"/>\n'
        '  <root level="WARN"><appender-ref ref="STDOUT"/></root>\n'
        "</configuration>\n"
    )
    argv = java_argv("object-store", "s3proxy", "384m", "org.gaul.s3proxy.Main", "--properties", str(props))
    argv.insert(1, f"-Dlogback.configurationFile={logback}")
    return argv


def s3_client():  # type: ignore[no-untyped-def]
    import boto3
    from botocore.config import Config

    creds = local_secrets()
    return boto3.client(
        "s3",
        endpoint_url=f"http://{HOST}:{S3_PORT}",
        aws_access_key_id=creds["s3_access_key"],
        aws_secret_access_key=creds["s3_secret_key"],
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, connect_timeout=2, read_timeout=5),
    )


def s3_health() -> None:
    client = s3_client()
    existing = {bucket["Name"] for bucket in client.list_buckets().get("Buckets", [])}
    if LANDING_BUCKET not in existing:
        client.create_bucket(Bucket=LANDING_BUCKET)
    probe = secrets.token_bytes(64)
    key = "_health/stack-probe.bin"
    client.put_object(Bucket=LANDING_BUCKET, Key=key, Body=probe)
    body = client.get_object(Bucket=LANDING_BUCKET, Key=key)["Body"].read()
    client.delete_object(Bucket=LANDING_BUCKET, Key=key)
    if body != probe:
        raise StackError("object-store", "bucket round trip returned different bytes")


# --------------------------------------------------------------------------- the stack

SERVICES: list[Service] = [
    Service(
        "postgres",
        [PG_PORT],
        f"postgresql://{HOST}:{PG_PORT}/{SOURCE_DB}",
        prepare_postgres,
        postgres_health,
        marker=lambda: str(pg_dirs()[0]),
        stop_signal=signal.SIGINT,
        user="postgres",
    ),
    Service(
        "kafka",
        [KAFKA_PORT, KAFKA_CONTROLLER_PORT],
        f"{HOST}:{KAFKA_PORT} (KRaft controller :{KAFKA_CONTROLLER_PORT})",
        prepare_kafka,
        kafka_health,
    ),
    Service(
        "object-store", [S3_PORT], f"http://{HOST}:{S3_PORT} (S3 API, bucket {LANDING_BUCKET})", prepare_s3, s3_health
    ),
    Service(
        "kafka-connect",
        [CONNECT_PORT],
        f"http://{HOST}:{CONNECT_PORT} (REST, Debezium {DEBEZIUM_CLASS.rsplit('.', 1)[-1]})",
        prepare_connect,
        connect_health,
    ),
]
BY_NAME = {service.name: service for service in SERVICES}
DEPENDS_ON = {"kafka-connect": "kafka"}


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
