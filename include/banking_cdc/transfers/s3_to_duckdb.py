"""Landing zone (S3) -> DuckDB bronze: the load operator pinned to the embedded warehouse.

The loading itself (per-file transactions with the ledger, the coordinates check, the anti-join for replayed
ranges, the prefetch thread) is :class:`~banking_cdc.warehouse.duckdb.DuckDBWarehouse`; the flow (named files,
sweep, manifest, Asset event) is :class:`~banking_cdc.transfers.s3_to_warehouse.S3ToWarehouseBronzeOperator`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from banking_cdc.transfers.s3_to_warehouse import S3ToWarehouseBronzeOperator


class S3ToDuckDBBronzeOperator(S3ToWarehouseBronzeOperator):
    """
    Load landing files into DuckDB bronze: exactly the files given, plus (``sweep``) any not yet loaded.

    Takes the arguments of :class:`~banking_cdc.transfers.s3_to_warehouse.S3ToWarehouseBronzeOperator`
    (the Snowflake ones are ignored), and:

    :param replay: Replay mode (the landing replay): load ``file_keys`` even when the ledger already holds them,
        every file through the anti-join on bronze's Kafka coordinates, so rows bronze lost (a table dropped,
        a restore from an older backup) come back exactly once and rows still present are counted, not added;
        a missing ledger row is written, an existing one is kept. ``sweep`` is ignored.
    """

    template_fields: Sequence[str] = ("file_keys", "bucket_name", "landing_prefix")
    pinned_backend = "duckdb"

    def __init__(self, *, replay: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.replay = replay
        self.replay_mode = replay
