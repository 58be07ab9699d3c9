"""Reconciliation: compare gold with the source database, table by table, to the cent.

``python -m banking_cdc.reconcile`` (exit 0 reconciled, 1 differences, 2 usage or connection error) and
:class:`banking_cdc.operators.reconcile.ReconcileOperator` (the ``cdc_reconcile`` DAG) both run
:func:`run_reconciliation`; :mod:`banking_cdc.reconcile.checks` documents what each check of gold asserts,
:mod:`banking_cdc.reconcile.generic` the checks of every captured table against its generic silver model.
"""

from __future__ import annotations

from banking_cdc.reconcile.checks import ReconcileConfigError, ReconcileOptions, reconcile
from banking_cdc.reconcile.gold import (
    GoldReader,
    ReconcileSourceError,
    ReconcileUnsupportedError,
    WarehouseGoldReader,
    gold_reader,
)
from banking_cdc.reconcile.report import CheckResult, ReconciliationReport
from banking_cdc.reconcile.runner import run_reconciliation

__all__ = [
    "CheckResult",
    "GoldReader",
    "ReconcileConfigError",
    "ReconcileOptions",
    "ReconcileSourceError",
    "ReconcileUnsupportedError",
    "ReconciliationReport",
    "WarehouseGoldReader",
    "gold_reader",
    "reconcile",
    "run_reconciliation",
]
