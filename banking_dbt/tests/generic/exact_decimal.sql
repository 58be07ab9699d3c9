{#-
  Money is exact: the column's type is a fixed-point decimal with the given scale (never a float),
  and no value carries more decimal places than that scale. Returns one row per failing value, or
  one row naming the wrong type.
-#}
{% test exact_decimal(model, column_name, scale=2) %}
{%- set columns = adapter.get_columns_in_relation(model) if load_relation(model) is not none else [] -%}
{%- set matches = columns | selectattr('name', 'equalto', column_name) | list
    + columns | selectattr('name', 'equalto', column_name | upper) | list -%}
{%- set data_type = (matches[0].data_type if matches else 'missing') | lower -%}
{%- set is_fixed_point = (data_type.startswith('decimal') or data_type.startswith('number')
    or data_type.startswith('numeric')) and ('(' not in data_type or data_type.endswith(',' ~ scale ~ ')')
    or data_type.endswith(', ' ~ scale ~ ')')) -%}
{#- before the model exists (dbt compile) there are no columns to inspect: only the value check -#}
{%- if matches and not is_fixed_point %}
select '{{ column_name }} has type {{ data_type }}, not a decimal with scale {{ scale }}' as failure
{%- else %}
select cast({{ column_name }} as {{ dbt.type_string() }}) as failure
from {{ model }}
where {{ column_name }} <> round({{ column_name }}, {{ scale }})
{%- endif %}
{% endtest %}
