"""Test support: what the tests, the benchmarks and the demo CLI (``dev/demo.py``) share.

* :mod:`tests.support.airflow_local`: a scratch local Airflow (scheduler, DAG processor, triggerer, API server);
* :mod:`tests.support.pipeline`: the whole pipeline under that Airflow over the native stack (:class:`Pipeline`),
  the workload generator, freshness measurement and the reconciliation run.

``dev/`` may import this package; nothing under ``tests/`` imports ``dev``.
"""
