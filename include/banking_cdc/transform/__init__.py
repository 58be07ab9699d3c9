"""Transform: bronze -> silver -> SCD2 -> gold with the dbt project ``banking_dbt``, rendered by Cosmos.

- :mod:`banking_cdc.transform.dbt_project` — Cosmos configs (one Airflow task per dbt node), the dbt target
  that follows the warehouse switch.
"""
