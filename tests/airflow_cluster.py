"""The local Airflow (scheduler, DAG processor, triggerer, API server) of dev/airflow_local.py, for tests."""

from __future__ import annotations

from dev.airflow_local import AirflowClusterError, ScratchAirflow, free_port

__all__ = ["AirflowClusterError", "ScratchAirflow", "free_port"]
