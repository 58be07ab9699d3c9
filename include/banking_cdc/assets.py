"""Airflow Assets that chain the pipeline's DAGs (stage -> load -> transform)."""

from __future__ import annotations

from airflow.sdk import Asset

#: Parquet change files landed in the object store; each event's extra lists the new files
LANDING = Asset(name="bcdc_landing", uri="s3://banking-landing/raw/", group="banking-cdc")

#: bronze tables of the warehouse; each event's extra lists the files loaded and the bronze row counts
BRONZE = Asset(name="bcdc_bronze", uri="warehouse://bronze/", group="banking-cdc")
