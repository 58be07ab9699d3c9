"""Monitoring of the pipeline: collectors, thresholds, Airflow metrics (the ``cdc_monitoring`` DAG).

- :mod:`banking_cdc.monitoring.metrics` — the documented metric names, units and breach rules;
- :mod:`banking_cdc.monitoring.config` — ``config/monitoring.yaml`` (thresholds, groups, retention);
- :mod:`banking_cdc.monitoring.collectors` — one collector per service, each robust to its service
  being down (records ``UNREACHABLE`` instead of raising);
- :mod:`banking_cdc.monitoring.airflow_metrics` — every observation as an Airflow gauge.
"""
