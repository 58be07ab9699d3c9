{#- Every value is strictly greater than zero (money amounts carry their sign in the direction). -#}
{% test positive_amount(model, column_name) %}
select {{ column_name }} as failing_value
from {{ model }}
where {{ column_name }} <= 0
{% endtest %}
