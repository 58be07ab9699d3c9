-- =====================================================================================================
-- banking-cdc on Snowflake, part 3: bronze tables and the load ledger.
--
-- Applied by the warehouse_setup DAG as the owner of the database objects (SYSADMIN); the loader
-- role gets SELECT, INSERT through the future grants of 00_admin.sql. Idempotent: IF NOT EXISTS.
-- Runs on the fakesnow emulator (VARIANT, TIMESTAMP_TZ, constraints).
--
-- Snowflake records but does not enforce PRIMARY KEY constraints: uniqueness of
-- (kafka_topic, kafka_partition, kafka_offset) comes from loading each file once (Snowflake load
-- metadata + the ledger below, both committed with the rows) and is tested in dbt.
-- =====================================================================================================

-- One append-only table per captured source table (capture.yaml source.tables), one row per change
-- event. The bronze_tables placeholder below is generated from banking_cdc.warehouse.bronze (BRONZE_COLUMNS,
-- PAYLOAD_COLUMNS, LOAD_COLUMNS, in that order), the contract shared with the DuckDB warehouse, so
-- the two can never drift apart: see bronze_tables_sql().
{{ bronze_tables }}

-- One row per landing file loaded, the same columns as the DuckDB warehouse's ledger (generated from
-- banking_cdc.warehouse.base.LEDGER_COLUMNS): the loader skips files listed here and inserts a file's row in
-- the same transaction as the file's events. LOAD_DETAIL keeps the row of the COPY INTO result for that
-- file (status, rows parsed / loaded, errors) as reported.
{{ load_ledger }}
COMMENT = 'banking-cdc: landing files loaded into bronze (one row per file)';
