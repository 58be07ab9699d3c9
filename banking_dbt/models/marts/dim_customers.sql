{#- Customers, SCD Type 2 on the tracked columns. PII: names masked, e-mail and phone hashed and masked,
    birth date reduced to the year; the raw values stay in silver. -#}
{{ config(
    materialized='incremental',
    unique_key='customer_id',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
) }}

with versions as (
    {{ banking_dbt.scd2_versions('snap_customers', 'customer_id') }}
)

select
    {{ banking_dbt.surrogate_key(['customer_id', 'dbt_valid_from']) }} as customer_sk,
    customer_id,
    customer_ref,
    {{ banking_dbt.mask_name('first_name') }} as first_name_masked,
    {{ banking_dbt.mask_name('last_name') }} as last_name_masked,
    {{ banking_dbt.hash_pii('email') }} as email_hash,
    {{ banking_dbt.mask_email('email') }} as email_masked,
    {{ banking_dbt.hash_pii('phone') }} as phone_hash,
    {{ banking_dbt.mask_phone('phone') }} as phone_masked,
    extract(year from date_of_birth) as birth_year,
    city,
    country_code,
    tier,
    kyc_status,
    is_deleted,
    created_at,
    valid_from,
    valid_to,
    is_current,
    version_number,
    snapshotted_at,
    {{ dbt.current_timestamp() }} as _built_at
from versions
