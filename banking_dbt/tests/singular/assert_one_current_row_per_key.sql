-- Exactly one current version per live key, none for a deleted key, in both SCD2 dimensions.
with current_customers as (
    select s.customer_id as natural_key, s.is_deleted, count(d.customer_id) as current_rows
    from {{ ref('stg_customers') }} as s
    left join {{ ref('dim_customers') }} as d on s.customer_id = d.customer_id and d.is_current
    group by s.customer_id, s.is_deleted
),

current_accounts as (
    select s.account_id as natural_key, s.is_deleted, count(d.account_id) as current_rows
    from {{ ref('stg_accounts') }} as s
    left join {{ ref('dim_accounts') }} as d on s.account_id = d.account_id and d.is_current
    group by s.account_id, s.is_deleted
)

select 'dim_customers' as dimension, natural_key, is_deleted, current_rows
from current_customers
where current_rows <> case when is_deleted then 0 else 1 end
union all
select 'dim_accounts' as dimension, natural_key, is_deleted, current_rows
from current_accounts
where current_rows <> case when is_deleted then 0 else 1 end
