"""Capture: source database -> Debezium -> Kafka.

- :mod:`banking_cdc.capture.config` — ``capture.yaml``, the one source of truth of what is captured
  (tables, topics, the Debezium connector's settings), validated;
- :mod:`banking_cdc.capture.source_schema` — the source schema, publication and replica identity checks.

Airflow classes: :mod:`banking_cdc.operators.capture` (schema, topics, connector create-or-update) over
:mod:`banking_cdc.hooks.kafka_connect`.
"""
