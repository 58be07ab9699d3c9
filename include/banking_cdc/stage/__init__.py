"""Stage: Kafka -> landing zone (Parquet in the object store), exactly once in effect.

- :mod:`banking_cdc.stage.landing` — the landing contract: Parquet schema, deterministic object keys,
  :class:`~banking_cdc.stage.landing.LandingFile`, batches with poison messages quarantined;
- :mod:`banking_cdc.stage.listing` — paginated listing of the landing zone (every reader uses it).

Airflow classes: :mod:`banking_cdc.triggers.kafka` (the backlog trigger),
:mod:`banking_cdc.transfers.kafka_to_s3` (the deferrable operator), over
:mod:`banking_cdc.hooks.kafka_group` (consumer construction, backlog offsets).
"""
