"""The warehouse seam: bronze and read access behind one interface, DuckDB and Snowflake behind it.

- :mod:`banking_cdc.warehouse.bronze` — the bronze contract shared by both warehouses (tables, columns);
- :mod:`banking_cdc.warehouse.switch` — which warehouse is used: one switch for loaders, dbt and readers.

Airflow classes: :mod:`banking_cdc.transfers.s3_to_duckdb`, :mod:`banking_cdc.transfers.s3_to_snowflake`.
"""
