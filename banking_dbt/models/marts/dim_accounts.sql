{#- Accounts, SCD Type 2 on the tracked columns (status, type, owner, currency, closing). The IBAN is
    hashed and masked in gold. -#}
{{ config(
    materialized='incremental',
    unique_key='account_id',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
) }}

with versions as (
    {{ banking_dbt.scd2_versions('snap_accounts', 'account_id') }}
)

select
    {{ banking_dbt.surrogate_key(['account_id', 'dbt_valid_from']) }} as account_sk,
    account_id,
    customer_id,
    {{ banking_dbt.hash_pii('iban') }} as iban_hash,
    case when iban is null then null else left(iban, 2) || '***' || right(iban, 4) end as iban_masked,
    account_type,
    currency,
    status,
    opened_at,
    closed_at,
    is_deleted,
    created_at,
    valid_from,
    valid_to,
    is_current,
    version_number,
    snapshotted_at,
    {{ dbt.current_timestamp() }} as _built_at
from versions
