{#- SCD Type 2 history of accounts on their tracked columns (not balance); see snap_customers. -#}
{% snapshot snap_accounts %}
{{ config(
    unique_key='account_id',
    strategy='timestamp',
    updated_at='tracked_changed_at',
    hard_deletes='invalidate',
) }}
select
    account_id,
    customer_id,
    iban,
    account_type,
    currency,
    status,
    opened_at,
    closed_at,
    is_deleted,
    created_at,
    tracked_changed_at,
    {{ dbt.current_timestamp() }} as snapshotted_at
from {{ ref('stg_accounts') }}
{% endsnapshot %}
