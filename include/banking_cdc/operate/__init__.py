"""Operate: what an operator runs beside the chain — resync of tables, Deadline Alerts.

- :mod:`banking_cdc.operate.resync` — Debezium incremental snapshots (signal, notifications, ledger coverage);
- :mod:`banking_cdc.operate.alerts` — ``config/alerts.yaml`` and the Deadline Alert of every pipeline DAG.

Airflow classes: :mod:`banking_cdc.operators.resync`. Reconciliation (:mod:`banking_cdc.reconcile`) and
monitoring (:mod:`banking_cdc.monitoring`) have packages of their own.
"""
