{#- The newest _built_at of the model being built ({{ this }}), the high-water mark of the incremental gold
    models; the epoch while the model has no rows yet. A first run that finds nothing to build (no load of
    that topic before the run's bronze cut) leaves an empty table, and max() of an empty table is NULL:
    "_built_at > NULL" would match nothing, and the model would stay empty for ever. -#}
{% macro last_built() -%}
    (select coalesce(max(_built_at), {{ banking_dbt.epoch_ms_to_timestamp_tz(0) }}) from {{ this }})
{%- endmacro %}
