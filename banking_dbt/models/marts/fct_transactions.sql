{#-
  One row per transaction (its current state), joined to the account and customer versions that were
  valid when the transaction was created (its time on the database clock, the clock of the SCD2
  intervals), not to today's versions.

  Incremental merge on transaction_id. Each run re-merges: transactions changed in silver since the
  last run; transactions still without a dimension version (late-arriving dimension rows); and the
  transactions of accounts whose account or customer got a new version since the last run (a late
  change can split the interval a transaction falls in).
-#}
{{ config(
    materialized='incremental',
    unique_key='transaction_id',
    incremental_strategy='merge',
    on_schema_change='fail',
) }}

with changed as (
    select *
    from {{ ref('stg_transactions') }} as t
    {%- if is_incremental() %}
    where t._loaded_at > (
            select {{ banking_dbt.minus_minutes(
                "coalesce(max(_loaded_at), " ~ banking_dbt.epoch_ms_to_timestamp_tz(0) ~ ")",
                var('incremental_lookback_minutes')) }}
            from {{ this }}
        )
        or t.transaction_id in (
            select transaction_id from {{ this }} where account_sk is null or customer_sk is null
        )
        or t.account_id in (
            select a.account_id
            from {{ ref('dim_accounts') }} as a
            where a.snapshotted_at > (select max(_built_at) from {{ this }})
            union all
            select a.account_id
            from {{ ref('dim_accounts') }} as a
            inner join {{ ref('dim_customers') }} as c on a.customer_id = c.customer_id
            where c.snapshotted_at > (select max(_built_at) from {{ this }})
        )
    {%- endif %}
)

select
    t.transaction_id,
    a.account_sk,
    c.customer_sk,
    t.account_id,
    a.customer_id,
    t.txn_type,
    t.direction,
    t.amount,
    cast(case when t.direction = 'credit' then t.amount else -t.amount end as {{ banking_dbt.money_type() }})
        as signed_amount,
    t.status,
    t.transfer_id,
    t.reverses_transaction_id,
    t.booked_at,
    t.posted_at,
    t.created_at,
    t.updated_at,
    t.is_deleted,
    t._loaded_at,
    {{ dbt.current_timestamp() }} as _built_at
from changed as t
left join {{ ref('dim_accounts') }} as a
    on t.account_id = a.account_id
    and t.created_at >= a.valid_from
    and t.created_at < a.valid_to
    and not a.is_deleted
left join {{ ref('dim_customers') }} as c
    on a.customer_id = c.customer_id
    and t.created_at >= c.valid_from
    and t.created_at < c.valid_to
    and not c.is_deleted
