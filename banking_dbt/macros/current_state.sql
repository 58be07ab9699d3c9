{#-
  Generic silver: the current state of every key of any captured table, typed from the source catalog.

  One model per table of capture.yaml (models/current/, written by `make dbt-manifest`); each is one call of
  current_state('<table>'). The columns and their types come from bronze.source_columns, which the bronze load
  keeps from the source catalog (banking_cdc.capture.catalog): nothing is written per table.

  - Latest image per key ordered by (source LSN, Kafka partition, Kafka offset); tombstones are ignored; a
    delete keeps the key with is_deleted = true and its before-image; a TRUNCATE deletes every key whose state
    is older than it (as stage_current_state).
  - Values checked before they are typed (value_problem, the catalog's NOT NULL and key columns required): an
    image with a value its type cannot hold exactly is kept out; silver.rejects lists it (record_rejects, the
    pre-hook); the key keeps its last good state marked with _rejected_lsn / _rejected_since.
  - Key: the primary key (or capture.yaml's key_columns), hashed from the images' raw text into _key (the
    model's unique key; composite keys work alike).
  - Types (decode_column): integers, numeric(p,s) exactly (p <= 38; wider or unconstrained numeric stays its
    exact text), timestamptz, timestamp, time, date, boolean, uuid, text with any unicode, json/jsonb and arrays
    as JSON, bytea as base64 text; nullable as in the source.
  - Schema changes: an added column appears on the next run (the model re-reads all of bronze whenever the
    catalog changed, so keys that did not change since also get it); a dropped column stays, null for images
    without it; a widened type is followed (on_schema_change: sync_all_columns). A narrowing or incompatible
    change is a problem in the catalog: this model fails naming table, column and types; no silent cast.
  - The events read as for stage_current_state (change_events: bronze_cut, incremental look-back).
-#}
{% macro current_state(table_name) %}
{%- set catalog = banking_dbt.source_catalog(table_name) -%}
{%- if execute and not catalog -%}
    {{ exceptions.raise_compiler_error(
        "current_state('" ~ table_name ~ "'): bronze.source_columns has no column of this table. The bronze load "
        ~ "(cdc_load_bronze, postgres_conn_id) keeps the source catalog: run it once the table is captured.") }}
{%- endif -%}
{%- set problems = catalog | selectattr('problem') | map(attribute='problem') | list -%}
{%- if problems -%}
    {{ exceptions.raise_compiler_error(
        "current_state('" ~ table_name ~ "'): incompatible schema change(s) in the source, not applied: "
        ~ problems | join('; ') ~ " (docs/ARCHITECTURE.md, Generic silver: schema changes)") }}
{%- endif -%}
{%- set keys = catalog | selectattr('key_position') | sort(attribute='key_position') | map(attribute='name') | list -%}
{%- if execute and not keys -%}
    {{ exceptions.raise_compiler_error("current_state('" ~ table_name ~ "'): the catalog names no key column") }}
{%- endif -%}
{%- set fingerprint = local_md5(catalog | map(attribute='signature') | join(';')) -%}
{%- set names = catalog | map(attribute='name') | list -%}
{%- set quoted = [] -%}
{%- for name in names %}{% do quoted.append(banking_dbt.column_name(name)) %}{% endfor -%}
{%- set incremental = is_incremental() and banking_dbt.built_with_catalog(fingerprint) -%}
{%- set row_columns = quoted + ['is_deleted', 'last_op', 'changed_at', '_key', '_source_lsn', '_kafka_partition',
    '_kafka_offset', '_loaded_at', '_rejected_lsn', '_rejected_since'] -%}
with events as (
    {{ banking_dbt.change_events(source('captured', table_name), incremental) }}
),

extracted as (
    select *, {{ banking_dbt.extracted_values('image', catalog) }}
    from events
),

typed as {{ banking_dbt.materialized() }} (
    select
        {%- for column in catalog %}
        {{ banking_dbt.decode_column('image', column) }} as {{ quoted[loop.index0] }},
        {%- endfor %}
        op = 'd' as is_deleted,
        op as last_op,
        {{ banking_dbt.epoch_ms_to_timestamp_tz('source_ts_ms') }} as changed_at,
        {{ banking_dbt.epoch_ms_to_timestamp_tz('source_ts_ms') }} as _committed_at,
        {{ banking_dbt.surrogate_key(banking_dbt.json_texts('image', keys)) }} as _key,
        {{ banking_dbt.row_problem(catalog) }} as _problem,
        source_lsn as _source_lsn,
        kafka_partition as _kafka_partition,
        kafka_offset as _kafka_offset,
        loaded_at as _loaded_at
    from extracted
),

{{ banking_dbt.last_truncate(source('captured', table_name)) }},

candidates as (
    select
        {{ row_columns[:-2] | join(', ') }},
        cast(null as {{ dbt.type_bigint() }}) as _rejected_lsn,
        cast(null as {{ banking_dbt.timestamp_tz_type() }}) as _rejected_since
    from typed
    where _problem is null
    {%- if incremental %}
    union all
    -- the current row of every key that has new events (they are ordered against it), and of every live key
    -- older than a truncate
    select {{ row_columns | join(', ') }}
    from {{ this }} as current_row
    where exists (select 1 from typed where typed._key = current_row._key)
        or (not is_deleted and _source_lsn < (select _lsn from last_truncate))
    {%- endif %}
),

{{ banking_dbt.truncated_states('candidates', ['_key'], row_columns) }},

latest as (
    select *, max(_loaded_at) over (partition by _key) as _max_loaded_at
    from with_truncates
    qualify row_number() over (
        partition by _key order by _source_lsn desc, _kafka_partition desc, _kafka_offset desc
    ) = 1
),

{{ banking_dbt.reject_marks('typed', 'latest', ['_key']) }}

select
    {%- for name in quoted %}
    latest.{{ name }},
    {%- endfor %}
    latest.is_deleted,
    latest.last_op,
    latest.changed_at,
    latest._key,
    '{{ fingerprint }}' as _catalog,
    latest._source_lsn,
    latest._kafka_partition,
    latest._kafka_offset,
    latest._max_loaded_at as _loaded_at,
    marks._rejected_lsn,
    marks._rejected_since
from latest
left join marks on marks._key = latest._key
{% endmacro %}


{#- The catalog of one captured table: [{name, kind, precision, scale, key_position, problem, signature}]. -#}
{% macro source_catalog(table_name) %}
    {%- if not execute -%}{{ return([]) }}{%- endif -%}
    {%- set query -%}
        select column_name, kind, precision, scale, key_position, problem, pg_type, dropped_at, nullable,
            changed_at > min(changed_at) over () as added_later
        from {{ source('captured', 'source_columns') }}
        where table_name = '{{ table_name }}'
        order by case when dropped_at is null then 0 else 1 end, ordinal, column_name
    {%- endset -%}
    {%- set columns = [] -%}
    {%- for row in run_query(query).rows -%}
        {%- do columns.append({
            'name': row[0], 'kind': row[1],
            'precision': none if row[2] is none else row[2] | int,
            'scale': none if row[3] is none else row[3] | int,
            'key_position': none if row[4] is none else row[4] | int,
            'problem': row[5],
            'signature': [row[0], row[6], row[1], row[2], row[3], row[7] is not none] | join('|'),
            'required': row[7] is none and (row[4] is not none or not row[8]),
            'missing_ok': row[4] is none and (row[9] or false),
        }) -%}
    {%- endfor -%}
    {{ return(columns) }}
{% endmacro %}


{#- Whether {{ this }} was built with the catalog of this fingerprint (else: re-read all of bronze). -#}
{% macro built_with_catalog(fingerprint) %}
    {%- if not execute -%}{{ return(false) }}{%- endif -%}
    {%- set query -%}
        select count(*) from {{ this }} where _catalog = '{{ fingerprint }}'
    {%- endset -%}
    {{ return(run_query(query).rows[0][0] | int > 0) }}
{% endmacro %}


{#- Raw JSON text of some keys of an image (what the key hash is made of: independent of session settings). -#}
{% macro json_texts(column, keys) %}
    {%- set texts = [] -%}
    {%- for key in keys -%}
        {%- do texts.append(banking_dbt.json_text(column, key)) -%}
    {%- endfor -%}
    {{ return(texts) }}
{% endmacro %}


{#-
  A column's typed value from a Debezium row image, by its catalog kind (banking_cdc.capture.catalog).
  Safe: never fails on a value (TRY_CAST, ranges checked before date arithmetic); a value that does not
  fit decodes to NULL or a rounded number, which is why every model first checks it (value_problem) and
  keeps rows with a problem out of silver.
-#}
{% macro decode_column(image, column) -%}
    {{ return(adapter.dispatch('decode_column', 'banking_dbt')(image, column)) }}
{%- endmacro %}

{% macro default__decode_column(image, column) -%}
    {%- set raw = banking_dbt.json_text(image, column.name) -%}
    {%- set kind = column.kind -%}
    {%- set micros = ' * 1000' if (column.precision or 6) <= 3 else '' -%}
    {%- set unit = '000' if (column.precision or 6) <= 3 else '000000' -%}
    {%- if kind == 'integer' -%} try_cast({{ raw }} as {{ banking_dbt.integer_type(column.precision) }})
    {%- elif kind == 'decimal' -%} try_cast({{ raw }} as decimal({{ column.precision }}, {{ column.scale }}))
    {%- elif kind == 'float' -%} try_cast({{ raw }} as double)
    {%- elif kind == 'boolean' -%} try_cast({{ raw }} as boolean)
    {%- elif kind == 'uuid' -%} try_cast({{ raw }} as uuid)
    {%- elif kind == 'date' -%}
        case when try_cast({{ raw }} as bigint) between -719162 and 2932896
            then date '1970-01-01' + cast({{ raw }} as integer) end
    {%- elif kind == 'timestamptz' -%} try_cast({{ raw }} as timestamptz)
    {%- elif kind == 'timestamp' -%}
        case when try_cast({{ raw }} as bigint) between -62135596800{{ unit }} and 253402300799{{ unit }}
            then make_timestamp(cast({{ raw }} as bigint){{ micros }}) end
    {%- elif kind == 'time' -%}
        case when try_cast({{ raw }} as bigint) between 0 and 86400{{ unit }}
            then time '00:00:00' + to_microseconds(cast({{ raw }} as bigint){{ micros }}) end
    {%- elif kind == 'json' -%} try_cast({{ raw }} as json)
    {%- elif kind == 'json_array' -%} ({{ image }} -> '{{ column.name }}')
    {%- else -%} {{ raw }}
    {%- endif -%}
{%- endmacro %}

{% macro snowflake__decode_column(image, column) -%}
    {%- set raw = banking_dbt.json_text(image, column.name) -%}
    {%- set kind = column.kind -%}
    {%- set unit = 'millisecond' if (column.precision or 6) <= 3 else 'microsecond' -%}
    {%- set scale = 3 if (column.precision or 6) <= 3 else 6 -%}
    {%- if kind == 'integer' -%} try_cast({{ raw }} as {{ banking_dbt.integer_type(column.precision) }})
    {%- elif kind == 'decimal' -%} try_cast({{ raw }} as number({{ column.precision }}, {{ column.scale }}))
    {%- elif kind == 'float' -%} try_cast({{ raw }} as float)
    {%- elif kind == 'boolean' -%} try_cast({{ raw }} as boolean)
    {%- elif kind == 'date' -%}
        case when try_cast({{ raw }} as number(19, 0)) between -719162 and 2932896
            then dateadd(day, cast({{ raw }} as integer), to_date('1970-01-01')) end
    {%- elif kind == 'timestamptz' -%} try_cast({{ raw }} as timestamp_tz)
    {%- elif kind == 'timestamp' -%}
        case when try_cast({{ raw }} as number(19, 0)) between -62135596800{{ '000' if scale == 3 else '000000' }}
                and 253402300799{{ '000' if scale == 3 else '000000' }}
            then to_timestamp_ntz(cast({{ raw }} as number(19, 0)), {{ scale }}) end
    {%- elif kind == 'time' -%}
        case when try_cast({{ raw }} as number(19, 0)) between 0 and 86400{{ '000' if scale == 3 else '000000' }}
            then timeadd({{ unit }}, cast({{ raw }} as number(19, 0)), cast('00:00:00' as time)) end
    {%- elif kind == 'json' -%} try_parse_json({{ raw }})
    {%- elif kind == 'json_array' -%} {{ image }}:"{{ column.name }}"
    {%- else -%} {{ raw }}
    {%- endif -%}
{%- endmacro %}


{#- A source column's name as the warehouse spells it, quoted (reserved words work; Snowflake: upper case). -#}
{% macro column_name(name) -%}
    {{ return(adapter.dispatch('column_name', 'banking_dbt')(name)) }}
{%- endmacro %}

{% macro default__column_name(name) -%}{{ adapter.quote(name) }}{%- endmacro %}

{% macro snowflake__column_name(name) -%}{{ adapter.quote(name | upper) }}{%- endmacro %}
