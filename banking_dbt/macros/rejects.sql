{#-
  silver.rejects: every bronze value a typed silver model kept out of silver, one row per (model, event,
  column), with the event's Kafka coordinates, source LSN, operation, key text, the column, the reason and the
  raw text. An append-only log: a key leaves the reject state in silver (_rejected_lsn) when a newer good event
  arrives, but its rejected events stay listed here. A rejected value is open until a newer good event of its
  key is in silver, or an operator sets acknowledged_at (a value no event will ever correct: a hand-made
  message without a key).

  Written by record_rejects, the pre-hook of every staging and current model (dbt_project.yml): before the
  model reads its window of bronze, the same window's rejected values are inserted, in the model's transaction
  (a model that fails records nothing). Re-reading a window (look-back, full refresh) adds nothing twice.
-#}

{#- The rejects table (in the silver schema). -#}
{% macro rejects_relation() %}
    {{ return(api.Relation.create(
        database=target.database, schema=generate_schema_name('silver', none), identifier='rejects')) }}
{% endmacro %}


{#- CREATE TABLE IF NOT EXISTS of silver.rejects (dbt creates the silver schema before the models run). -#}
{% macro ensure_rejects_table() %}
    {%- set relation = banking_dbt.rejects_relation() -%}
    {%- set text, number, moment = dbt.type_string(), dbt.type_bigint(), banking_dbt.timestamp_tz_type() -%}
    create table if not exists {{ relation }} (
        model {{ text }} not null,
        table_name {{ text }} not null,
        kafka_partition {{ number }},
        kafka_offset {{ number }} not null,
        source_lsn {{ number }},
        op {{ text }},
        key_text {{ text }},
        key_hash {{ text }},
        column_name {{ text }} not null,
        reason {{ text }} not null,
        raw_value {{ text }},
        committed_at {{ moment }},
        loaded_at {{ moment }},
        rejected_at {{ moment }} not null,
        acknowledged_at {{ moment }}
    )
{% endmacro %}


{#-
  The checked columns and key columns of a silver model: the banking staging models (banking_tables.sql) and the
  generic current_<table> models (the source catalog). {} for other models.
-#}
{% macro silver_contract(model_name) %}
    {%- if model_name.startswith('stg_') -%}
        {%- set table_name = model_name[4:] -%}
        {%- set spec = banking_dbt.banking_table(table_name) -%}
        {{ return({'table': table_name, 'source': source('bronze', table_name), 'columns': spec.checked,
                   'keys': [spec.key]}) }}
    {%- elif model_name.startswith('current_') -%}
        {%- set table_name = model_name[8:] -%}
        {%- set catalog = banking_dbt.source_catalog(table_name) -%}
        {%- set keys = catalog | selectattr('key_position') | sort(attribute='key_position')
            | map(attribute='name') | list -%}
        {{ return({'table': table_name, 'source': source('captured', table_name), 'columns': catalog,
                   'keys': keys}) }}
    {%- endif -%}
    {{ return({}) }}
{% endmacro %}


{#-
  Pre-hook: insert the rejected values of the bronze window this model is about to read into silver.rejects.
  Same window as the model (change_events with the model's incremental high-water mark and look-back).
-#}
{% macro record_rejects() %}
    {%- if not execute -%}{{ return('') }}{%- endif -%}
    {%- set contract = banking_dbt.silver_contract(model.name) -%}
    {%- if not contract or not contract.columns -%}{{ return('') }}{%- endif -%}
    {%- set relation = banking_dbt.rejects_relation() -%}
    {%- set incremental = is_incremental() -%}
    {%- if model.name.startswith('current_') and incremental -%}
        {%- set fingerprint = local_md5(contract.columns | map(attribute='signature') | join(';')) -%}
        {%- set incremental = banking_dbt.built_with_catalog(fingerprint) -%}
    {%- endif -%}
    {%- set key_texts = [] -%}
    {%- for key in contract['keys'] -%}
        {%- do key_texts.append("coalesce(" ~ banking_dbt.json_text('image', key) ~ ", '~null~')") -%}
    {%- endfor -%}
    insert into {{ relation }} (
        model, table_name, kafka_partition, kafka_offset, source_lsn, op, key_text, key_hash, column_name, reason,
        raw_value,
        committed_at, loaded_at, rejected_at
    )
    with events as (
        {{ banking_dbt.change_events(contract.source, incremental) }}
    ),

    extracted as (
        select *, {{ banking_dbt.extracted_values('image', contract.columns) }}
        from events
    ),

    bad as {{ banking_dbt.materialized() }} (
        select * from extracted where {{ banking_dbt.row_problem(contract.columns) }} is not null
    ),

    problems as (
        {%- for column in contract.columns %}
        select
            kafka_partition, kafka_offset, source_lsn, op, source_ts_ms, loaded_at,
            {{ key_texts | join(" || '|' || ") if key_texts else 'null' }} as key_text,
            {{ banking_dbt.surrogate_key(banking_dbt.json_texts('image', contract['keys'])) }} as key_hash,
            '{{ column.name }}' as column_name,
            {{ banking_dbt.value_problem(column, loop.index) }} as reason,
            {{ banking_dbt.json_text('image', column.name) }} as raw_value
        from bad
        {{ 'union all' if not loop.last }}
        {%- endfor %}
    )

    select
        '{{ model.name }}', '{{ contract.table }}', kafka_partition, kafka_offset, source_lsn, op, key_text, key_hash,
        column_name, reason, raw_value, {{ banking_dbt.epoch_ms_to_timestamp_tz('source_ts_ms') }}, loaded_at,
        {{ dbt.current_timestamp() }}
    from problems
    where reason is not null
        and not exists (
            select 1 from {{ relation }} as known
            where known.model = '{{ model.name }}'
                and known.kafka_partition = problems.kafka_partition
                and known.kafka_offset = problems.kafka_offset
                and known.column_name = problems.column_name
        )
{% endmacro %}


{#-
  The open rejected values of a silver model: rows of silver.rejects whose key has no newer good state in the
  model and that nobody acknowledged.

  :param model_relation: The silver model.
  :param key_hash: SQL of the model's key hash (the same hash as key_hash: surrogate_key of the key texts).
-#}
{% macro open_rejects(model_relation, key_hash) %}
    select rejects.*
    from {{ banking_dbt.rejects_relation() }} as rejects
    where rejects.model = '{{ model_relation.identifier }}'
        and rejects.acknowledged_at is null
        and not exists (
            select 1 from {{ model_relation }} as silver
            where {{ key_hash }} = rejects.key_hash and silver._source_lsn > rejects.source_lsn
        )
{% endmacro %}
