{#- One row per account and UTC day with postings: the day's net posted amount and the closing balance
    (running sum of posted signed amounts). Days without postings carry the previous closing balance.
    Incremental: the accounts with facts merged since the last build are recomputed whole
    (delete+insert on account_id), the others are left as they are. -#}
{{ config(
    materialized='incremental',
    unique_key='account_id',
    incremental_strategy='delete+insert',
    on_schema_change='fail',
) }}

with postings as (
    select
        account_id,
        {{ banking_dbt.utc_date('posted_at') }} as balance_date,
        cast(sum(signed_amount) as {{ banking_dbt.money_type() }}) as net_amount,
        cast(sum(case when direction = 'credit' then amount else 0 end) as {{ banking_dbt.money_type() }})
            as credited_amount,
        cast(sum(case when direction = 'debit' then amount else 0 end) as {{ banking_dbt.money_type() }})
            as debited_amount,
        count(*) as posting_count
    from {{ ref('fct_transactions') }}
    where status = 'posted' and not is_deleted
    {%- if is_incremental() %}
        and account_id in (
            select account_id
            from {{ ref('fct_transactions') }}
            where _built_at > {{ banking_dbt.last_built() }}
        )
    {%- endif %}
    group by 1, 2
)

select
    {{ banking_dbt.surrogate_key(['account_id', 'balance_date']) }} as account_day_key,
    account_id,
    balance_date,
    net_amount,
    credited_amount,
    debited_amount,
    posting_count,
    cast(sum(net_amount) over (
        partition by account_id order by balance_date rows between unbounded preceding and current row
    ) as {{ banking_dbt.money_type() }}) as closing_balance,
    {{ dbt.current_timestamp() }} as _built_at
from postings
