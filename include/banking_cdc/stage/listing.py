"""Object-store helpers that only assume the S3 API (any S3-compatible server)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any


def iter_keys(s3_hook: Any, bucket: str, prefix: str, page_size: int = 1000) -> Iterator[str]:
    """
    Yield every key under ``prefix``, following continuation tokens page by page (no 1,000-object cap).

    Uses the ``list_objects_v2`` paginator of the hook's client without ``StartAfter``: S3Proxy rejects a
    request carrying both ``StartAfter`` and a continuation token, which ``S3Hook.list_keys`` sends.

    :param s3_hook: An ``S3Hook`` (its client and endpoint).
    :param bucket: Bucket name.
    :param prefix: Key prefix.
    :param page_size: Keys per page.
    """
    paginator = s3_hook.get_conn().get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix, PaginationConfig={"PageSize": page_size}):
        for obj in page.get("Contents", []):
            yield obj["Key"]


def iter_objects(s3_hook: Any, bucket: str, prefix: str, page_size: int = 1000) -> Iterator[tuple[str, datetime]]:
    """
    Yield ``(key, last_modified)`` of every object under ``prefix``, paginated as :func:`iter_keys`.

    :param s3_hook: An ``S3Hook`` (its client and endpoint).
    :param bucket: Bucket name.
    :param prefix: Key prefix.
    :param page_size: Keys per page.
    """
    paginator = s3_hook.get_conn().get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix, PaginationConfig={"PageSize": page_size}):
        for obj in page.get("Contents", []):
            yield obj["Key"], obj["LastModified"]
