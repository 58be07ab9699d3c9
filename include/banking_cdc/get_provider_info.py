"""Provider metadata read by Airflow's ProvidersManager (``apache_airflow_provider`` entry point)."""

from __future__ import annotations

from typing import Any

from banking_cdc import __version__


def get_provider_info() -> dict[str, Any]:
    """Return the provider description: package, version, connection types, hooks and operators."""
    return {
        "package-name": "banking-cdc-provider",
        "name": "Banking CDC",
        "description": "Change-data capture of banking data: Debezium, Kafka, object store, warehouse.",
        "versions": [__version__],
        "connection-types": [
            {
                "hook-class-name": "banking_cdc.hooks.kafka_connect.KafkaConnectHook",
                "connection-type": "kafka_connect",
            },
            {
                "hook-class-name": "banking_cdc.hooks.duckdb.DuckDBHook",
                "connection-type": "duckdb",
            },
        ],
        "hooks": [
            {
                "integration-name": "Kafka Connect",
                "python-modules": ["banking_cdc.hooks.kafka_connect"],
            },
            {
                "integration-name": "Banking CDC",
                "python-modules": ["banking_cdc.hooks.duckdb", "banking_cdc.hooks.kafka_group"],
            },
        ],
        "operators": [
            {
                "integration-name": "Banking CDC",
                "python-modules": [
                    "banking_cdc.operators.health",
                    "banking_cdc.operators.capture",
                    "banking_cdc.operators.initial_load",
                    "banking_cdc.operators.generator",
                    "banking_cdc.operators.monitoring",
                    "banking_cdc.operators.reconcile",
                    "banking_cdc.operators.resync",
                    "banking_cdc.operators.warehouse",
                ],
            }
        ],
        "sensors": [
            {
                # DebeziumSnapshotCompleteSensor, BronzeSnapshotLoadedSensor (beside the resync's signal operator)
                "integration-name": "Banking CDC",
                "python-modules": ["banking_cdc.operators.resync"],
            }
        ],
        "triggers": [
            {
                "integration-name": "Banking CDC",
                "python-modules": ["banking_cdc.triggers.kafka"],
            }
        ],
        "transfers": [
            {
                "source-integration-name": "Banking CDC",
                "target-integration-name": "Banking CDC",
                "python-module": f"banking_cdc.transfers.{module}",
            }
            for module in ("kafka_to_s3", "s3_to_warehouse", "s3_to_duckdb", "s3_to_snowflake", "landing_replay")
        ],
    }
