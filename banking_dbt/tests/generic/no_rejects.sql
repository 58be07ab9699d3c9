{#-
  No open rejected value: every value of bronze this silver model read fits its type, or the key has been
  corrected since (a newer good event), or the reject was acknowledged (macros/rejects.sql). One row per
  (column, reason) with its count; the counts and reasons are also logged (never the values).

  Severity: warn by default (the rows that fit keep flowing; the rejects are visible here, in monitoring and
  on the health page); error with --vars '{strict_rejects: true}'.

  :param key_columns: The model's key columns (default: the generic models' _key, already the hash).
-#}
{% test no_rejects(model, key_columns=none) %}
{%- set key_hash = banking_dbt.surrogate_key(banking_dbt.prefixed('silver', key_columns).split(', '))
    if key_columns else 'silver._key' -%}
{{ config(severity=('error' if var('strict_rejects', false) else 'warn')) }}
{#- not at `dbt compile` before the model exists (nothing to summarise, maybe no silver schema yet); the hooks
    create the rejects table during a run, out of sight of dbt's relation cache: make sure it is there -#}
{%- if execute and load_relation(model) is not none %}
    {%- do run_query(banking_dbt.ensure_rejects_table()) -%}
    {%- set summary -%}
        select column_name, reason, count(*) from ({{ banking_dbt.open_rejects(model, key_hash) }}) as open_rejects
        group by column_name, reason order by 3 desc, 1, 2
    {%- endset -%}
    {%- set rows = run_query(summary).rows -%}
    {%- if rows -%}
        {%- set parts = [] -%}
        {%- for row in rows %}{% do parts.append(row[0] ~ ': ' ~ row[1] ~ ' (' ~ row[2] ~ ')') %}{% endfor -%}
        {{ log(model.identifier ~ ': open rejected values: ' ~ parts | join('; ')
            ~ ' (silver.rejects; runbook: README, Rejected values)', info=True) }}
    {%- endif -%}
{%- endif %}
select column_name, reason, count(*) as rejected_values
from ({{ banking_dbt.open_rejects(model, key_hash) }}) as open_rejects
group by column_name, reason
{% endtest %}
