-- Every transaction in gold belongs to an account that silver knows, and found the account and customer
-- versions valid at its creation time. With var referential_grace_minutes > 0, transactions loaded within
-- that many minutes are not checked yet (in flight: their account may arrive in the next load cycle;
-- macros/settled.sql).
select t.transaction_id, t.account_id, t.account_sk, t.customer_sk
from {{ ref('fct_transactions') }} as t
left join {{ ref('stg_accounts') }} as a on t.account_id = a.account_id
where (a.account_id is null or t.account_sk is null or t.customer_sk is null)
    {%- if var('referential_grace_minutes', 0) | int > 0 %}
    and t._loaded_at <= {{ banking_dbt.settled_horizon() }}
    {%- endif %}
