-- SCD2 intervals are non-empty, do not overlap and leave no gap: each version of a key starts exactly
-- where the previous one ended.
{% for dimension, key in [('dim_customers', 'customer_id'), ('dim_accounts', 'account_id')] %}
select
    '{{ dimension }}' as dimension,
    {{ key }} as natural_key,
    version_number,
    valid_from,
    valid_to,
    previous_valid_to,
    next_valid_from
from (
    select
        {{ key }},
        version_number,
        valid_from,
        valid_to,
        lag(valid_to) over (partition by {{ key }} order by valid_from) as previous_valid_to,
        lead(valid_from) over (partition by {{ key }} order by valid_from) as next_valid_from
    from {{ ref(dimension) }}
) as ordered
where valid_from >= valid_to
    or (previous_valid_to is not null and previous_valid_to <> valid_from)
{% if not loop.last %}union all{% endif %}
{% endfor %}
