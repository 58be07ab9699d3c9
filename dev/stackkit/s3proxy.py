"""S3Proxy, the S3-compatible object store (jclouds ``filesystem`` backend, data on disk), service ``object-store``.

The health check creates the landing bucket and makes a write / read / delete round trip.
"""

from __future__ import annotations

import secrets

from .credentials import local_secrets
from .java import ensure_java_libs, java_argv
from .settings import HOST, LANDING_BUCKET, S3_PORT, STATE, StackError
from .supervisor import Service


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


SERVICE = Service(
    "object-store", [S3_PORT], f"http://{HOST}:{S3_PORT} (S3 API, bucket {LANDING_BUCKET})", prepare_s3, s3_health
)
