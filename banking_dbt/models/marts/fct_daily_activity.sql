{#- Activity per UTC booking day and transaction type: counts by status and exact amounts.
    Incremental: the booking days of facts merged since the last build are recomputed whole
    (delete+insert on activity_date). -#}
{{ config(
    materialized='incremental',
    unique_key='activity_date',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
) }}

select
    {{ banking_dbt.surrogate_key(['activity_date', 'txn_type']) }} as activity_key,
    activity_date,
    txn_type,
    count(*) as transaction_count,
    sum(case when status = 'posted' then 1 else 0 end) as posted_count,
    sum(case when status = 'pending' then 1 else 0 end) as pending_count,
    sum(case when status = 'cancelled' then 1 else 0 end) as cancelled_count,
    cast(sum(case when status = 'posted' then amount else 0 end) as {{ banking_dbt.money_type() }})
        as posted_amount,
    cast(sum(case when status = 'posted' then signed_amount else 0 end) as {{ banking_dbt.money_type() }})
        as posted_net_amount,
    count(distinct account_id) as active_accounts,
    {{ dbt.current_timestamp() }} as _built_at
from (
    select *, {{ banking_dbt.utc_date('booked_at') }} as activity_date
    from {{ ref('fct_transactions') }}
    where not is_deleted
) as transactions
{%- if is_incremental() %}
where activity_date in (
    select {{ banking_dbt.utc_date('booked_at') }}
    from {{ ref('fct_transactions') }}
    where _built_at > {{ banking_dbt.last_built() }}
)
{%- endif %}
group by activity_date, txn_type
