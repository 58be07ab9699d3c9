-- Every account's balance in silver equals the sum of its posted transactions' signed amounts in gold,
-- to the cent. With var balance_check_grace_minutes > 0, only accounts whose last change is at least
-- that old relative to the newest loaded change are compared (topics load independently, so an
-- account may briefly be ahead of or behind its transactions while events are in flight).
with facts as (
    select account_id, cast(sum(signed_amount) as {{ banking_dbt.money_type() }}) as posted_sum
    from {{ ref('fct_transactions') }}
    where status = 'posted' and not is_deleted
    group by account_id
),

horizon as (
    select max(changed_at) as newest_change from {{ ref('stg_accounts') }}
)

select a.account_id, a.balance, coalesce(f.posted_sum, 0) as posted_sum
from {{ ref('stg_accounts') }} as a
cross join horizon
left join facts as f on a.account_id = f.account_id
where not a.is_deleted
    and a.balance <> coalesce(f.posted_sum, 0)
    {%- if var('balance_check_grace_minutes') | int > 0 %}
    and a.changed_at <= {{ banking_dbt.minus_minutes('horizon.newest_change', var('balance_check_grace_minutes')) }}
    {%- endif %}
