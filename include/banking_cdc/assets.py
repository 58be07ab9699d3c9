"""Airflow Assets that chain the pipeline's DAGs (stage -> load -> transform), and their events' extras."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.sdk import Asset

from banking_cdc.settings import DEFAULT_LANDING_BUCKET, LANDING_PREFIX

#: Parquet change files landed in the object store; each event's extra lists the new files
LANDING = Asset(name="bcdc_landing", uri=f"s3://{DEFAULT_LANDING_BUCKET}/{LANDING_PREFIX}/", group="banking-cdc")

#: bronze tables of the warehouse; each event's extra lists the files loaded and the bronze row counts
BRONZE = Asset(name="bcdc_bronze", uri="warehouse://bronze/", group="banking-cdc")


def landed_files(triggering_asset_events: Any, asset: Any) -> list[str]:
    """
    Return the landing keys listed by the triggering events of ``asset`` (in event order, without repeats).

    :param triggering_asset_events: The ``triggering_asset_events`` of the task's context (may be ``None``
        for a manual run, which then relies on the loader's sweep).
    :param asset: The landing Asset whose events to read.
    """
    if not triggering_asset_events:
        return []
    files: list[str] = []
    for key, events in triggering_asset_events.items():
        if getattr(key, "name", key) != asset.name and key != asset:
            continue
        for event in events:
            files.extend((getattr(event, "extra", None) or {}).get("files", []))
    return list(dict.fromkeys(files))


def set_outlet_extra(context: Any, outlets: Sequence[Any], extra: dict[str, Any]) -> None:
    """
    Attach ``extra`` to the Asset events this task emits for each of its ``outlets``.

    :param context: The task's context (its ``outlet_events`` accessors).
    :param outlets: The operator's outlets.
    :param extra: JSON-safe extra of every event.
    """
    outlet_events = context.get("outlet_events") if hasattr(context, "get") else None
    if outlet_events is None or not outlets:  # an empty accessor mapping is falsy: test for None
        return
    for outlet in outlets:
        outlet_events[outlet].extra = extra
