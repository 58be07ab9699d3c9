-- Every transaction in gold belongs to an account that silver knows, and found the account and customer
-- versions valid at its creation time.
select t.transaction_id, t.account_id, t.account_sk, t.customer_sk
from {{ ref('fct_transactions') }} as t
left join {{ ref('stg_accounts') }} as a on t.account_id = a.account_id
where a.account_id is null
    or t.account_sk is null
    or t.customer_sk is null
