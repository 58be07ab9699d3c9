"""Listing the landing zone: one paginated loop that only assumes the S3 API (any S3-compatible server).

Every reader of the landing zone lists through :func:`iter_listing`: the loaders' sweep for missed files,
the landing replay, monitoring's unloaded files and the demo. It follows continuation tokens page by page
(no 1,000-object cap) with the client's ``list_objects_v2`` paginator and never sends ``StartAfter``:
S3Proxy rejects a request carrying both ``StartAfter`` and a continuation token, which ``S3Hook.list_keys``
sends.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from banking_cdc.settings import LANDING_PREFIX


@dataclass(frozen=True)
class ListedObject:
    """
    One listed object.

    :param key: Object key.
    :param size: Size in bytes.
    :param last_modified: When it was written.
    """

    key: str
    size: int
    last_modified: datetime | None


def iter_listing(s3_client: Any, bucket: str, prefix: str, page_size: int = 1000) -> Iterator[ListedObject]:
    """
    Yield every object under ``prefix``, page by page.

    :param s3_client: A boto3 S3 client (``S3Hook.get_conn()``).
    :param bucket: Bucket name.
    :param prefix: Key prefix.
    :param page_size: Keys per page.
    """
    paginator = s3_client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix, PaginationConfig={"PageSize": page_size}):
        for obj in page.get("Contents", []):
            yield ListedObject(obj["Key"], int(obj.get("Size", 0)), obj.get("LastModified"))


def iter_keys(s3_hook: Any, bucket: str, prefix: str, page_size: int = 1000) -> Iterator[str]:
    """Yield every key under ``prefix`` (:func:`iter_listing` through an ``S3Hook``)."""
    for obj in iter_listing(s3_hook.get_conn(), bucket, prefix, page_size):
        yield obj.key


def iter_objects(s3_hook: Any, bucket: str, prefix: str, page_size: int = 1000) -> Iterator[tuple[str, datetime]]:
    """Yield ``(key, last_modified)`` of every object under ``prefix`` (:func:`iter_listing` through an ``S3Hook``)."""
    for obj in iter_listing(s3_hook.get_conn(), bucket, prefix, page_size):
        yield obj.key, obj.last_modified  # type: ignore[misc]


def topic_prefix(topic: str, landing_prefix: str = LANDING_PREFIX) -> str:
    """The folder of a topic's landing files: ``<landing_prefix>/<topic>/``."""
    return f"{landing_prefix.strip('/')}/{topic}/"


def landing_files(
    s3_client: Any, bucket: str, topics: Sequence[str], landing_prefix: str = LANDING_PREFIX
) -> dict[str, list[ListedObject]]:
    """Every landing (``.parquet``) object of each topic, by topic."""
    return {
        topic: [
            o
            for o in iter_listing(s3_client, bucket, topic_prefix(topic, landing_prefix))
            if o.key.endswith(".parquet")
        ]
        for topic in topics
    }


@dataclass(frozen=True)
class LandingBucket:
    """
    The landing bucket through an S3 client: what a loader reading files itself (DuckDB) needs.

    :param client: A boto3 S3 client (thread-safe; ``S3Hook.get_conn()``).
    :param bucket: Bucket name.
    """

    client: Any
    bucket: str

    def url(self, key: str) -> str:
        """``s3://<bucket>/<key>``, for messages."""
        return f"s3://{self.bucket}/{key}"

    def read(self, key: str) -> bytes:
        """The object's bytes."""
        return bytes(self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read())
