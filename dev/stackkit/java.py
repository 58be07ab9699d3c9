"""What the Java services (Kafka, Kafka Connect, S3Proxy) share: their jars and their JVM command line.

``dev/maven/pom.xml`` has one module per service; ``mvn dependency:copy-dependencies`` copies its runtime
jars into ``<cache>/java/<digest of the poms>/<module>/``, once per pom version (a marker file per module).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from .settings import CACHE, MAVEN_DIR, STATE, StackError, log


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
