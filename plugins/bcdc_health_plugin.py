"""Airflow plugin of banking-cdc: the pipeline health page and the dbt test-result listener.

- ``fastapi_apps``: the health page, served by the API server under ``/bcdc-health/`` (built on the
  first request, so no component but the API server ever imports FastAPI for it);
- ``external_views``: a top-level "Health" entry in the Airflow UI navigation that shows the
  page inside the UI (``/plugin/bcdc-health``);
- ``listeners``: records each dbt test task of ``banking_dbt_transform`` (pass / fail) in the metrics
  table, which the page charts; records failing stage, load and dbt tasks with their error line (and their
  recovery), which the page lists; and, in the scheduler only, imports dbt before the executor forks its
  workers, so each dbt task process starts with dbt already imported (``BCDC_TASK_PRELOAD``).

Everything it registers lives in the provider package (``banking_cdc.plugins``), typed and tested;
this file only wires it. Airflow imports every ``.py`` file of ``plugins/`` in every component, so keep
it to imports of the provider.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from banking_cdc.plugins.dbt_test_listener import DbtTestResultListener
from banking_cdc.plugins.health import external_view, fastapi_app
from banking_cdc.plugins.task_failure_listener import TaskFailureListener
from banking_cdc.plugins.task_preload import TaskPreloadListener


class BankingCdcHealthPlugin(AirflowPlugin):
    """Pipeline health page (charts of the metrics table), dbt test-result and task-failure listeners, dbt preload."""

    name = "banking_cdc_health"
    fastapi_apps = [fastapi_app()]
    external_views = [external_view()]
    listeners = [DbtTestResultListener(), TaskFailureListener(), TaskPreloadListener()]
