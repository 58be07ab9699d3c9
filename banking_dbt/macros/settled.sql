{#-
  get_where_subquery, dbt's hook that narrows the relation a data test reads (its `where` config), extended
  with in-flight rows. Topics are staged and loaded independently, so while events are in flight a child
  row (a transaction, an account) can reach the warehouse a load cycle before its parent (its account, its
  customer): a referential test run in between would fail on a row that the next cycle completes
  (fct_transactions re-merges rows still without a dimension version).

  A data test whose config has `meta: {settled_by: <column>}` reads only the rows whose <column> (a
  load or build time) is at least var('referential_grace_minutes') older than the run's bronze cut
  (var('bronze_cut'), the Airflow run's start; the warehouse clock when no cut is set). 0 (the
  default: dbt build, tests, reconciliation) reads every row; the Airflow DAG passes a grace
  (banking_cdc.utils.dbt_project.AIRFLOW_DBT_VARS). A row still orphaned after the grace fails the test:
  a parent that never arrives, or a topic lagging by more than the grace, is reported, not hidden.
-#}

{#- var('bronze_cut') as a SQL timestamp (the Airflow run's start), or '' when no cut is set. -#}
{% macro bronze_cut() -%}
    {%- if var('bronze_cut', '') -%}
        cast('{{ var("bronze_cut") }}' as {{ banking_dbt.timestamp_tz_type() }})
    {%- endif -%}
{%- endmacro %}

{#- The newest load or build time a data test treats as settled (SQL expression). -#}
{% macro settled_horizon() -%}
    {%- if var('bronze_cut', '') -%}
        {%- set now = banking_dbt.bronze_cut() -%}
    {%- else -%}
        {%- set now = dbt.current_timestamp() -%}
    {%- endif -%}
    {{ banking_dbt.minus_minutes(now, var('referential_grace_minutes', 0) | int) }}
{%- endmacro %}

{% macro get_where_subquery(relation) -%}
    {%- set conditions = [] -%}
    {%- set where = config.get('where', '') -%}
    {%- if where -%}
        {%- do conditions.append('(' ~ where ~ ')') -%}
    {%- endif -%}
    {%- set settled_by = (config.get('meta') or {}).get('settled_by') -%}
    {%- set grace = var('referential_grace_minutes', 0) | int -%}
    {%- if settled_by and grace > 0 -%}
        {%- do conditions.append(settled_by ~ ' <= ' ~ banking_dbt.settled_horizon()) -%}
    {%- endif -%}
    {%- if conditions -%}
        {%- do return('(select * from ' ~ relation ~ ' where ' ~ conditions | join(' and ') ~ ') dbt_subquery') -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}
