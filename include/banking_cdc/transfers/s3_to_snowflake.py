"""Landing zone (S3) -> Snowflake bronze: the load operator pinned to Snowflake.

The loading itself (ledger skip, batched ``COPY INTO``, the result checked file by file, each statement in
one transaction with its ledger rows) is :class:`~banking_cdc.warehouse.snowflake.SnowflakeWarehouse`; the
setup SQL is :mod:`banking_cdc.warehouse.snowflake_setup`; the flow (named files, sweep, manifest, Asset
event) is :class:`~banking_cdc.transfers.s3_to_warehouse.S3ToWarehouseBronzeOperator`.

What the fakesnow emulator runs (``tests/integration/snowflake``) and what only golden tests check
(``tests/unit/warehouse``): docs/ARCHITECTURE.md, "Bronze". Nothing here has run against a live account.
"""

from __future__ import annotations

from banking_cdc.transfers.s3_to_warehouse import S3ToWarehouseBronzeOperator


class S3ToSnowflakeBronzeOperator(S3ToWarehouseBronzeOperator):
    """
    Load landing files (Parquet change events) into their Snowflake bronze tables, exactly once.

    Takes the arguments of :class:`~banking_cdc.transfers.s3_to_warehouse.S3ToWarehouseBronzeOperator`.
    Files are grouped by bronze table (from their topic, through ``capture.yaml``); files the load ledger
    lists are skipped; the others are loaded with ``COPY INTO ... FILES = (...)`` in batches of at most
    1,000, each batch in one transaction with its ledger rows. A file that fails fails the task, naming the
    file and its first error, and its batch is rolled back; batches committed before stay, consistent with
    the ledger, and the next run continues from there.
    """

    ui_color = "#e1f5fe"
    pinned_backend = "snowflake"
