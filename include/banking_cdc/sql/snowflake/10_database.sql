-- =====================================================================================================
-- banking-cdc on Snowflake, part 1: the database and its layer schemas.
--
-- Applied by the warehouse_setup DAG (banking_cdc.transfers.s3_to_snowflake.apply_setup) as the owner
-- of the database objects (SYSADMIN, or any role with CREATE DATABASE); never needs ACCOUNTADMIN.
-- Idempotent: IF NOT EXISTS never drops or alters what exists. Runs on the fakesnow emulator.
-- =====================================================================================================

CREATE DATABASE IF NOT EXISTS {{ database }}
    COMMENT = 'banking-cdc: CDC of the banking OLTP database (bronze -> silver -> gold)';

-- one append-only table per captured source table, one row per change event, plus the load ledger
CREATE SCHEMA IF NOT EXISTS {{ database }}.BRONZE
    COMMENT = 'banking-cdc: raw change events loaded from the landing zone';

-- dbt staging: typed columns, latest image per key, deletes flagged
CREATE SCHEMA IF NOT EXISTS {{ database }}.SILVER
    COMMENT = 'banking-cdc: dbt staging models';

-- dbt marts: SCD2 dimensions, facts, aggregates; the only schema BI reads
CREATE SCHEMA IF NOT EXISTS {{ database }}.GOLD
    COMMENT = 'banking-cdc: dbt marts for BI';
