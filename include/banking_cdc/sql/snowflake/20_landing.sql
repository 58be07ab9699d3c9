-- =====================================================================================================
-- banking-cdc on Snowflake, part 2: the landing zone as seen from Snowflake.
--
-- Applied by the warehouse_setup DAG as the owner of the database objects (SYSADMIN); creating the
-- stage needs USAGE on the storage integration, granted by 00_admin.sql. Idempotent: IF NOT EXISTS.
-- A changed definition is applied with ALTER FILE FORMAT / ALTER STAGE, on purpose never with
-- CREATE OR REPLACE: replacing would drop the grants on the object and detach whatever refers to it.
-- =====================================================================================================

-- The landing files (banking_cdc.stage.landing.LANDING_SCHEMA): zstd Parquet, one file per
-- (topic, partition, offset range). COPY INTO reads them through an explicit SELECT on $1.
CREATE FILE FORMAT IF NOT EXISTS {{ database }}.BRONZE.LANDING_PARQUET
    TYPE = PARQUET
    COMMENT = 'banking-cdc: landing change files (Parquet)';

-- External stage on the landing bucket; COPY INTO names files relative to its URL.
--
-- Authentication (the stage_auth placeholder below), one of:
--   * STORAGE_INTEGRATION = <integration> (default, production): Snowflake assumes the IAM role of
--     the integration created by 00_admin.sql; no key exists in Snowflake, Airflow or this file.
--   * CREDENTIALS = (AWS_KEY_ID = ... AWS_SECRET_KEY = ...): rendered at run time from the Airflow
--     connection named by the caller (S3Hook(aws_conn_id).get_credentials()), in memory only; the
--     statement is never logged and no key is ever written into this file. For an S3-compatible
--     server instead of AWS, Snowflake needs URL = 's3compat://<bucket>/' plus ENDPOINT = '<host>'.
-- In tests the URL is file:// and the fakesnow emulator ignores the authentication clause.
CREATE STAGE IF NOT EXISTS {{ database }}.BRONZE.LANDING_STAGE
    URL = '{{ stage_url }}'
    {{ stage_auth }}
    FILE_FORMAT = (FORMAT_NAME = '{{ database }}.BRONZE.LANDING_PARQUET')
    COMMENT = 'banking-cdc: landing zone (read-only)';
