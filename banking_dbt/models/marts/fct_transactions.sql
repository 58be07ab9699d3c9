{#-
  One row per transaction (its current state), joined to the account and customer versions that were
  valid when the transaction was created (its time on the database clock, the clock of the SCD2
  intervals), not to today's versions.

  Incremental merge on transaction_id. Each run re-merges: transactions changed in silver since the
  last run; transactions still without a dimension version (late-arriving dimension rows); and the
  transactions created at or after the start of an account or customer version that is new since the
  last run (a late change can split the interval a transaction falls in).
-#}
{{ config(
    materialized='incremental',
    unique_key='transaction_id',
    incremental_strategy='merge',
    on_schema_change='fail',
) }}

{%- set last_build = banking_dbt.last_built() %}

with changed as (
    select *
    from {{ ref('stg_transactions') }}
    {%- if is_incremental() %}
    where transaction_id in (
        -- changed in silver since the last build
        select transaction_id
        from {{ ref('stg_transactions') }}
        where _loaded_at > (
            select {{ banking_dbt.minus_minutes(
                "coalesce(max(_loaded_at), " ~ banking_dbt.epoch_ms_to_timestamp_tz(0) ~ ")",
                var('incremental_lookback_minutes')) }}
            from {{ this }}
        )
        union
        -- merged before their dimension version existed (late-arriving dimension rows)
        select transaction_id from {{ this }} where account_sk is null or customer_sk is null
        union
        -- created at or after the start of an account version new since the last build
        select t.transaction_id
        from {{ ref('stg_transactions') }} as t
        inner join (
            select account_id, min(valid_from) as since
            from {{ ref('dim_accounts') }}
            where snapshotted_at > {{ last_build }}
            group by account_id
        ) as new_versions on t.account_id = new_versions.account_id and t.created_at >= new_versions.since
        union
        -- created at or after the start of a customer version new since the last build
        select t.transaction_id
        from {{ ref('stg_transactions') }} as t
        inner join (
            select a.account_id, min(c.valid_from) as since
            from {{ ref('dim_customers') }} as c
            inner join {{ ref('dim_accounts') }} as a on c.customer_id = a.customer_id
            where c.snapshotted_at > {{ last_build }}
            group by a.account_id
        ) as new_versions on t.account_id = new_versions.account_id and t.created_at >= new_versions.since
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
