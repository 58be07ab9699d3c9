{#- Custom schemas are used as they are (silver, snapshots, gold), not prefixed with the target schema,
    so both warehouses get the same layout as warehouse_setup creates. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema | trim }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
