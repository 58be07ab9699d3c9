-- =====================================================================================================
-- banking-cdc on Snowflake, part 0: ACCOUNT ADMINISTRATION (roles, warehouses, storage integration,
-- grants). Run by a Snowflake administrator, NOT by the pipeline.
--
-- Needs ACCOUNTADMIN (storage integration) and SECURITYADMIN (roles, grants); SYSADMIN creates the
-- warehouses and the database. Run it once per account, and again after changing it, in Snowsight or
-- snowsql, after rendering its placeholders (double-brace names):
--
--   python -c "from banking_cdc.transfers.s3_to_snowflake import SnowflakeSetup, render_setup_file; \
--              print(render_setup_file('00_admin.sql', SnowflakeSetup(storage_aws_role_arn='arn:...')))"
--
-- The pipeline's Airflow connections never hold these roles: loads run as the loader role, and the
-- warehouse_setup DAG applies 10_database.sql, 20_landing.sql and 30_bronze.sql as the owner of the
-- database objects (SYSADMIN). Idempotent: IF NOT EXISTS, ALTER ... SET and GRANT can run again.
-- No Snowflake emulator runs roles, warehouses, integrations or grants: this file is checked by
-- golden tests of its rendered text only, never against a live account here.
-- =====================================================================================================

-- -----------------------------------------------------------------------------------------------------
-- 1. Roles (SECURITYADMIN). Each workload gets its own role; SYSADMIN inherits them (Snowflake's
--    recommended hierarchy) so the administrators can manage what the roles create.
-- -----------------------------------------------------------------------------------------------------
USE ROLE SECURITYADMIN;

CREATE ROLE IF NOT EXISTS {{ loader_role }}
    COMMENT = 'banking-cdc: loads landing files into BRONZE (COPY INTO, load ledger); append-only';
CREATE ROLE IF NOT EXISTS {{ transformer_role }}
    COMMENT = 'banking-cdc: dbt; reads BRONZE, builds SILVER and GOLD';
CREATE ROLE IF NOT EXISTS {{ analyst_role }}
    COMMENT = 'banking-cdc: BI and analysts; reads GOLD only';

GRANT ROLE {{ loader_role }} TO ROLE SYSADMIN;
GRANT ROLE {{ transformer_role }} TO ROLE SYSADMIN;
GRANT ROLE {{ analyst_role }} TO ROLE SYSADMIN;

-- Service users are environment-specific and not created here, e.g.
--   GRANT ROLE {{ loader_role }} TO USER <airflow_service_user>
--   GRANT ROLE {{ transformer_role }} TO USER <dbt_service_user>

-- -----------------------------------------------------------------------------------------------------
-- 2. Warehouses, one per workload (SYSADMIN): loads, dbt and BI never queue behind each other and
--    are sized and billed apart. Each suspends after 60 s idle and resumes on the next query.
--    ALTER ... SET enforces the policy on a warehouse that existed before.
-- -----------------------------------------------------------------------------------------------------
USE ROLE SYSADMIN;

CREATE WAREHOUSE IF NOT EXISTS {{ load_warehouse }}
    WAREHOUSE_SIZE = 'XSMALL' AUTO_SUSPEND = 60 AUTO_RESUME = TRUE INITIALLY_SUSPENDED = TRUE
    COMMENT = 'banking-cdc: COPY INTO bronze';
ALTER WAREHOUSE {{ load_warehouse }} SET AUTO_SUSPEND = 60 AUTO_RESUME = TRUE;

CREATE WAREHOUSE IF NOT EXISTS {{ transform_warehouse }}
    WAREHOUSE_SIZE = 'XSMALL' AUTO_SUSPEND = 60 AUTO_RESUME = TRUE INITIALLY_SUSPENDED = TRUE
    COMMENT = 'banking-cdc: dbt builds (silver, gold)';
ALTER WAREHOUSE {{ transform_warehouse }} SET AUTO_SUSPEND = 60 AUTO_RESUME = TRUE;

CREATE WAREHOUSE IF NOT EXISTS {{ bi_warehouse }}
    WAREHOUSE_SIZE = 'XSMALL' AUTO_SUSPEND = 60 AUTO_RESUME = TRUE INITIALLY_SUSPENDED = TRUE
    COMMENT = 'banking-cdc: BI and analysts on gold';
ALTER WAREHOUSE {{ bi_warehouse }} SET AUTO_SUSPEND = 60 AUTO_RESUME = TRUE;

-- -----------------------------------------------------------------------------------------------------
-- 3. Storage integration for the landing bucket (ACCOUNTADMIN). Snowflake assumes the IAM role
--    below; no access key is stored in Snowflake or in Airflow. After creating it, run
--      DESC INTEGRATION {{ storage_integration }}
--    and put STORAGE_AWS_IAM_USER_ARN and STORAGE_AWS_EXTERNAL_ID into the IAM role's trust policy
--    (AWS side). The role needs only s3:GetObject, s3:GetObjectVersion and s3:ListBucket on the
--    landing bucket: Snowflake reads the landing zone and never writes or deletes it.
--    SYSADMIN, which creates the stage (20_landing.sql), gets USAGE on the integration.
-- -----------------------------------------------------------------------------------------------------
USE ROLE ACCOUNTADMIN;

CREATE STORAGE INTEGRATION IF NOT EXISTS {{ storage_integration }}
    TYPE = EXTERNAL_STAGE
    STORAGE_PROVIDER = 'S3'
    ENABLED = TRUE
    STORAGE_AWS_ROLE_ARN = '{{ storage_aws_role_arn }}'
    STORAGE_ALLOWED_LOCATIONS = ('{{ stage_url }}')
    COMMENT = 'banking-cdc: read-only access to the landing bucket';

GRANT USAGE ON INTEGRATION {{ storage_integration }} TO ROLE SYSADMIN;

-- -----------------------------------------------------------------------------------------------------
-- 4. Database and layer schemas (SYSADMIN owns them). 10_database.sql creates the same objects IF NOT
--    EXISTS for the pipeline; they are created here too so that the grants below have their objects.
-- -----------------------------------------------------------------------------------------------------
USE ROLE SYSADMIN;

CREATE DATABASE IF NOT EXISTS {{ database }};
CREATE SCHEMA IF NOT EXISTS {{ database }}.BRONZE;
CREATE SCHEMA IF NOT EXISTS {{ database }}.SILVER;
CREATE SCHEMA IF NOT EXISTS {{ database }}.GOLD;

-- -----------------------------------------------------------------------------------------------------
-- 5. Least-privilege grants (SECURITYADMIN holds MANAGE GRANTS, which future grants need).
--    FUTURE grants cover the tables, stages and file formats the setup DAG and dbt create later.
-- -----------------------------------------------------------------------------------------------------
USE ROLE SECURITYADMIN;

-- Loader: reads the landing stage, appends to BRONZE (event tables and the load ledger). No UPDATE,
-- DELETE, TRUNCATE or DDL: bronze is append-only and the ledger only ever gains rows.
GRANT USAGE ON WAREHOUSE {{ load_warehouse }} TO ROLE {{ loader_role }};
GRANT USAGE ON DATABASE {{ database }} TO ROLE {{ loader_role }};
GRANT USAGE ON SCHEMA {{ database }}.BRONZE TO ROLE {{ loader_role }};
GRANT SELECT, INSERT ON ALL TABLES IN SCHEMA {{ database }}.BRONZE TO ROLE {{ loader_role }};
GRANT SELECT, INSERT ON FUTURE TABLES IN SCHEMA {{ database }}.BRONZE TO ROLE {{ loader_role }};
GRANT USAGE ON ALL STAGES IN SCHEMA {{ database }}.BRONZE TO ROLE {{ loader_role }};
GRANT USAGE ON FUTURE STAGES IN SCHEMA {{ database }}.BRONZE TO ROLE {{ loader_role }};
GRANT USAGE ON ALL FILE FORMATS IN SCHEMA {{ database }}.BRONZE TO ROLE {{ loader_role }};
GRANT USAGE ON FUTURE FILE FORMATS IN SCHEMA {{ database }}.BRONZE TO ROLE {{ loader_role }};

-- Transformer (dbt): reads BRONZE; creates, and so owns, its models in SILVER and GOLD.
GRANT USAGE ON WAREHOUSE {{ transform_warehouse }} TO ROLE {{ transformer_role }};
GRANT USAGE ON DATABASE {{ database }} TO ROLE {{ transformer_role }};
GRANT USAGE ON SCHEMA {{ database }}.BRONZE TO ROLE {{ transformer_role }};
GRANT SELECT ON ALL TABLES IN SCHEMA {{ database }}.BRONZE TO ROLE {{ transformer_role }};
GRANT SELECT ON FUTURE TABLES IN SCHEMA {{ database }}.BRONZE TO ROLE {{ transformer_role }};
GRANT USAGE, CREATE TABLE, CREATE VIEW ON SCHEMA {{ database }}.SILVER TO ROLE {{ transformer_role }};
GRANT USAGE, CREATE TABLE, CREATE VIEW ON SCHEMA {{ database }}.GOLD TO ROLE {{ transformer_role }};

-- Analyst (BI): reads GOLD only; raw change events (BRONZE) and staging (SILVER) stay out of reach.
GRANT USAGE ON WAREHOUSE {{ bi_warehouse }} TO ROLE {{ analyst_role }};
GRANT USAGE ON DATABASE {{ database }} TO ROLE {{ analyst_role }};
GRANT USAGE ON SCHEMA {{ database }}.GOLD TO ROLE {{ analyst_role }};
GRANT SELECT ON ALL TABLES IN SCHEMA {{ database }}.GOLD TO ROLE {{ analyst_role }};
GRANT SELECT ON FUTURE TABLES IN SCHEMA {{ database }}.GOLD TO ROLE {{ analyst_role }};
GRANT SELECT ON ALL VIEWS IN SCHEMA {{ database }}.GOLD TO ROLE {{ analyst_role }};
GRANT SELECT ON FUTURE VIEWS IN SCHEMA {{ database }}.GOLD TO ROLE {{ analyst_role }};
