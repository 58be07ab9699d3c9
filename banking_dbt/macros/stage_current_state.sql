{#-
  Silver: the current state of every key of one banking table, from its bronze change events.

  - Typed columns from the Debezium row image (the after-image, or the before-image of a delete), as
    macros/banking_tables.sql declares them; money as exact NUMERIC(18,2).
  - Every value is checked first (value_problem): an image with a value its type cannot hold exactly never
    reaches silver (record_rejects keeps it in silver.rejects with its reason). The key keeps its last good
    state, marked: _rejected_lsn / _rejected_since name the newest rejected event after that state and when
    the rejected events began; both are NULL again once a newer good event (an update, a resync) arrives.
    A key whose only events are rejected has no row (no state is invented).
  - Latest image per key ordered by (source LSN, Kafka offset); tombstones are ignored; a delete keeps the
    key with is_deleted = true (PII columns listed in erase_on_delete are nulled: erasure must not survive
    in silver's current state).
  - TRUNCATE (op t): every key whose state is older than the table's latest truncate (by LSN) is deleted as
    of that truncate (is_deleted, last_op = 't', its commit time); keys written after it live.
  - Duplicates from at-least-once delivery (the same event at another offset) collapse into one row.
  - tracked_changed_at: when a tracked column (or is_deleted) last changed, on the database's clock
    (updated_at of the image; the commit time for a delete or truncate). The SCD2 snapshots use it as their
    updated_at, so a change of an untracked column never creates a version.
  - The events read (change_events): only loads at or before var('bronze_cut'); when incremental, only
    loads after the model's high-water mark (_loaded_at), merged with the current row of their key
    (delete+insert on the key), so a late or repeated event never moves a key back to an older state.

  :param table_name: bronze table (= source table name), one of macros/banking_tables.sql.
-#}
{% macro stage_current_state(table_name) %}
{%- set spec = banking_dbt.banking_table(table_name) -%}
{%- set key, columns, tracked = spec.key, spec.checked, spec.tracked -%}
{%- set names = columns | map(attribute='name') | list -%}
{%- set state_columns = names + ['is_deleted', 'last_op', 'changed_at'] -%}
with events as (
    {{ banking_dbt.change_events(source('bronze', table_name), is_incremental()) }}
),

extracted as (
    select *, {{ banking_dbt.extracted_values('image', columns) }}
    from events
),

typed as {{ banking_dbt.materialized() }} (
    select
        {%- for column in columns %}
        {{ banking_dbt.decode_column('image', column) }} as {{ column.name }},
        {%- endfor %}
        op = 'd' as is_deleted,
        op as last_op,
        {{ banking_dbt.epoch_ms_to_timestamp_tz('source_ts_ms') }} as _committed_at,
        {{ banking_dbt.row_problem(columns) }} as _problem,
        source_lsn as _source_lsn,
        kafka_offset as _kafka_offset,
        loaded_at as _loaded_at
    from extracted
),

good as (
    select
        {{ names | join(', ') }}, is_deleted, last_op,
        case when is_deleted then _committed_at else updated_at end as changed_at,
        _source_lsn, _kafka_offset, _loaded_at
    from typed
    where _problem is null
),

{{ banking_dbt.last_truncate(source('bronze', table_name)) }},

candidates as (
    select
        {{ state_columns | join(', ') }},
        cast(null as {{ dbt.type_string() }}) as _tracked_hash,
        cast(null as {{ banking_dbt.timestamp_tz_type() }}) as _known_tracked_changed_at,
        _source_lsn, _kafka_offset, _loaded_at,
        cast(null as {{ dbt.type_bigint() }}) as _rejected_lsn,
        cast(null as {{ banking_dbt.timestamp_tz_type() }}) as _rejected_since
    from good
    {%- if is_incremental() %}
    union all
    -- the current row of every key that has new events (they are ordered against it), and of every live key
    -- older than a truncate
    select
        {{ state_columns | join(', ') }},
        _tracked_hash,
        tracked_changed_at as _known_tracked_changed_at,
        _source_lsn, _kafka_offset, _loaded_at, _rejected_lsn, _rejected_since
    from {{ this }}
    where {{ key }} in (select {{ key }} from typed)
        or (not is_deleted and _source_lsn < (select _lsn from last_truncate))
    {%- endif %}
),

{{ banking_dbt.truncated_states('candidates', [key],
    state_columns + ['_tracked_hash', '_known_tracked_changed_at', '_source_lsn', '_kafka_offset', '_loaded_at',
        '_rejected_lsn', '_rejected_since'],
    {'_tracked_hash': 'null', '_known_tracked_changed_at': 'null'}) }},

hashed as (
    select
        *,
        coalesce(_tracked_hash, {{ banking_dbt.surrogate_key(tracked + ['is_deleted']) }}) as _hash
    from with_truncates
),

flagged as (
    select
        *,
        case
            when _known_tracked_changed_at is not null then _known_tracked_changed_at
            when lag(_hash) over (
                partition by {{ key }} order by _source_lsn, _kafka_offset
            ) is distinct from _hash then changed_at
        end as _tracked_at
    from hashed
),

latest as (
    select
        *,
        max(_tracked_at) over (partition by {{ key }}) as _tracked_changed_at,
        max(_loaded_at) over (partition by {{ key }}) as _max_loaded_at
    from flagged
    qualify row_number() over (partition by {{ key }} order by _source_lsn desc, _kafka_offset desc) = 1
),

{{ banking_dbt.reject_marks('typed', 'latest', [key]) }}

select
    {%- for name in names %}
    {%- if name in spec.erase_on_delete %}
    case when latest.is_deleted then null else latest.{{ name }} end as {{ name }},
    {%- else %}
    latest.{{ name }},
    {%- endif %}
    {%- endfor %}
    latest.is_deleted,
    latest.last_op,
    latest.changed_at,
    latest._tracked_changed_at as tracked_changed_at,
    latest._hash as _tracked_hash,
    latest._source_lsn,
    latest._kafka_offset,
    latest._max_loaded_at as _loaded_at,
    marks._rejected_lsn,
    marks._rejected_since
from latest
left join marks on {{ banking_dbt.join_on('marks', 'latest', [key]) }}
{% endmacro %}


{#-
  CTE last_truncate: the source LSN and commit time of the table's latest TRUNCATE in bronze (at or before
  the bronze cut), or no row. Read over all of bronze, not only the new loads: a key's late event older than
  the truncate must stay truncated.
-#}
{% macro last_truncate(relation) %}
last_truncate as (
    select source_lsn as _lsn, {{ banking_dbt.epoch_ms_to_timestamp_tz('source_ts_ms') }} as _at,
        kafka_offset as _offset
    from {{ relation }}
    where op = 't'
    {%- if var('bronze_cut', '') %}
        and loaded_at <= {{ banking_dbt.bronze_cut() }}
    {%- endif %}
    order by source_lsn desc
    limit 1
)
{% endmacro %}


{#-
  CTE with_truncates: `candidates` plus, for every key whose latest state before the table's latest truncate is
  live, that state deleted by the truncate (last_op 't', the truncate's LSN, offset and commit time).

  :param candidates: CTE of state rows.
  :param keys: Key columns.
  :param columns: Every column of `candidates`, in order.
  :param overrides: {column: SQL} of other columns in the truncate's row.
-#}
{% macro truncated_states(candidates, keys, columns, overrides={}) %}
{%- set truncate = {
    'is_deleted': 'true', 'last_op': "'t'", 'changed_at': '(select _at from last_truncate)',
    '_source_lsn': '(select _lsn from last_truncate)', '_kafka_offset': '(select _offset from last_truncate)',
} -%}
{%- do truncate.update(overrides) -%}
before_truncate as (
    select * from {{ candidates }}
    where _source_lsn < (select _lsn from last_truncate)
    qualify row_number() over (partition by {{ keys | join(', ') }} order by _source_lsn desc, _kafka_offset desc) = 1
),

with_truncates as (
    select {{ columns | join(', ') }} from {{ candidates }}
    union all
    select
        {%- for column in columns %}
        {{ truncate.get(column, column) }} as {{ column }}{{ ',' if not loop.last }}
        {%- endfor %}
    from before_truncate
    where not is_deleted
)
{% endmacro %}


{#-
  CTE marks: per key of `latest`, the rejected events of `typed` (rows with _problem) newer than its state,
  together with the marks the key's current row already carried: _rejected_lsn (the newest) and
  _rejected_since (when they began). Keys without such events have no row.
-#}
{% macro reject_marks(typed, latest, keys) %}
rejected as (
    select {{ keys | join(', ') }}, _source_lsn as _lsn, _committed_at as _at
    from {{ typed }}
    where _problem is not null
    union all
    select {{ keys | join(', ') }}, _rejected_lsn, _rejected_since
    from {{ latest }}
    where _rejected_lsn is not null
),

marks as (
    select
        {%- for k in keys %} rejected.{{ k }},{% endfor %}
        max(rejected._lsn) as _rejected_lsn,
        min(rejected._at) as _rejected_since
    from rejected
    join {{ latest }} on {{ banking_dbt.join_on('rejected', latest, keys) }}
    where rejected._lsn > {{ latest }}._source_lsn
    group by {{ banking_dbt.prefixed('rejected', keys) }}
)
{% endmacro %}


{#- `a.k1 = b.k1 and a.k2 = b.k2 ...` -#}
{% macro join_on(left, right, keys) -%}
    {%- for k in keys %}{{ left }}.{{ k }} = {{ right }}.{{ k }}{{ ' and ' if not loop.last }}{% endfor -%}
{%- endmacro %}

{#- `a.k1, a.k2` -#}
{% macro prefixed(alias, keys) -%}
    {%- for k in keys %}{{ alias }}.{{ k }}{{ ', ' if not loop.last }}{% endfor -%}
{%- endmacro %}


{#-
  The change events of one captured table that a silver model reads: row images (the after-image, or the
  before-image of a delete) with their source and Kafka coordinates; tombstones and truncates left out (last_truncate
  reads the truncates); only
  loads at or before var('bronze_cut'); when incremental, only loads after the model's high-water mark
  (max(_loaded_at)) minus var('incremental_lookback_minutes').

  :param relation: The bronze relation (a source()).
  :param incremental: Read only the loads after {{ this }}'s high-water mark.
-#}
{% macro change_events(relation, incremental) %}
    select
        op,
        source_lsn,
        source_ts_ms,
        kafka_partition,
        kafka_offset,
        loaded_at,
        case when op = 'd' then before_json else after_json end as image
    from {{ relation }}
    where not is_tombstone
        and op in ('c', 'u', 'd', 'r')
    {%- if var('bronze_cut', '') %}
        -- one bronze state per Airflow run: loads committed after the run started wait for the next run
        and loaded_at <= {{ banking_dbt.bronze_cut() }}
    {%- endif %}
    {%- if incremental %}
        and loaded_at > (
            select {{ banking_dbt.minus_minutes(
                "coalesce(max(_loaded_at), " ~ banking_dbt.epoch_ms_to_timestamp_tz(0) ~ ")",
                var('incremental_lookback_minutes')) }}
            from {{ this }}
        )
    {%- endif %}
{% endmacro %}
