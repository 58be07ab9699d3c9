"""S3-compatible object store of the native stack, through Airflow's S3Hook and its endpoint_url."""

from __future__ import annotations

import hashlib
import os
import uuid

import pytest
from airflow.providers.amazon.aws.hooks.s3 import S3Hook

from banking_cdc.settings import DEFAULT_LANDING_BUCKET

pytestmark = pytest.mark.integration

BUCKET = os.environ.get("BCDC_LANDING_BUCKET", DEFAULT_LANDING_BUCKET)


def test_connection_points_at_the_local_endpoint(stack: dict[str, str]) -> None:
    hook = S3Hook(aws_conn_id="aws_default")
    assert hook.conn_config.endpoint_url.startswith("http://127.0.0.1:")
    assert hook.check_for_bucket(BUCKET)


def test_object_written_is_listed_and_read_back_byte_for_byte(stack: dict[str, str]) -> None:
    hook = S3Hook(aws_conn_id="aws_default")
    prefix = f"_smoke/{uuid.uuid4().hex}/"
    payload = os.urandom(3 * 1024 * 1024 + 17)  # odd size, random bytes
    key = f"{prefix}blob.bin"
    hook.load_bytes(payload, key=key, bucket_name=BUCKET, replace=False)
    try:
        assert hook.list_keys(bucket_name=BUCKET, prefix=prefix) == [key]
        body = hook.get_key(key, bucket_name=BUCKET).get()["Body"].read()
        assert len(body) == len(payload)
        assert hashlib.sha256(body).hexdigest() == hashlib.sha256(payload).hexdigest()
    finally:
        hook.delete_objects(bucket=BUCKET, keys=[key])
    assert hook.list_keys(bucket_name=BUCKET, prefix=prefix) == []


def test_listing_paginates_past_one_page(stack: dict[str, str]) -> None:
    hook = S3Hook(aws_conn_id="aws_default")
    prefix = f"_smoke/{uuid.uuid4().hex}/"
    keys = [f"{prefix}{i:05d}.txt" for i in range(25)]
    for key in keys:
        hook.load_string(key, key=key, bucket_name=BUCKET)
    try:
        # page size 10 forces three pages that must be chained by continuation tokens. The client
        # of the S3Hook connection is used without StartAfter: S3Proxy answers InvalidArgument to a
        # request carrying both StartAfter and a continuation token, which S3Hook.list_keys sends
        # (see docs/ARCHITECTURE.md, object store).
        paginator = hook.get_conn().get_paginator("list_objects_v2")
        pages = list(paginator.paginate(Bucket=BUCKET, Prefix=prefix, PaginationConfig={"PageSize": 10}))
        assert [page["KeyCount"] for page in pages] == [10, 10, 5]
        assert [obj["Key"] for page in pages for obj in page["Contents"]] == keys
    finally:
        hook.delete_objects(bucket=BUCKET, keys=keys)
