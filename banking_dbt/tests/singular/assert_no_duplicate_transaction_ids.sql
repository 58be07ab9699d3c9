-- A transaction id appears once in silver and once in gold, whatever at-least-once delivery replayed.
select 'stg_transactions' as model, transaction_id, count(*) as occurrences
from {{ ref('stg_transactions') }}
group by transaction_id
having count(*) > 1
union all
select 'fct_transactions' as model, transaction_id, count(*) as occurrences
from {{ ref('fct_transactions') }}
group by transaction_id
having count(*) > 1
