{#-
  Silver: the current state of every key of one captured table, from its bronze change events.

  - Typed columns from the Debezium row image (the after-image, or the before-image of a delete);
    money as exact NUMERIC(18,2).
  - Latest image per key ordered by (source LSN, Kafka offset); tombstones and truncates are ignored;
    a delete keeps the key with is_deleted = true (PII columns listed in erase_on_delete are nulled:
    erasure must not survive in silver's current state).
  - Duplicates from at-least-once delivery (the same event at another offset) collapse into one row.
  - tracked_changed_at: when a tracked column (or is_deleted) last changed, on the database's clock
    (updated_at of the image; the commit time for a delete). The SCD2 snapshots use it as their
    updated_at, so a change of an untracked column never creates a version.
  - var('bronze_cut') (an ISO timestamp; the Airflow DAG passes its run's start): only bronze rows loaded
    at or before it are read, so every model of one run sees the same loads.
  - Incremental: only bronze rows loaded after the model's high-water mark (_loaded_at) are read; they
    are merged with the current row of their key (delete+insert on the key), so a late or repeated
    event never moves a key back to an older state.

  :param table_name: bronze table (= source table name).
  :param key: primary-key column.
  :param columns: [[name, kind], ...] of the source table, kinds as in json_typed.
  :param tracked: columns whose change makes a new SCD2 version.
  :param erase_on_delete: columns nulled on a deleted key.
-#}
{% macro stage_current_state(table_name, key, columns, tracked, erase_on_delete=[]) %}
{%- set names = columns | map('first') | list -%}
{%- set state_columns = names + ['is_deleted', 'last_op', 'changed_at'] -%}
with events as (
    {{ banking_dbt.change_events(source('bronze', table_name), is_incremental()) }}
),

typed as (
    select
        {%- for name, kind in columns %}
        {{ banking_dbt.json_typed('image', name, kind) }} as {{ name }},
        {%- endfor %}
        op = 'd' as is_deleted,
        op as last_op,
        case
            when op = 'd' then {{ banking_dbt.epoch_ms_to_timestamp_tz('source_ts_ms') }}
            else {{ banking_dbt.json_typed('image', 'updated_at', 'timestamp') }}
        end as changed_at,
        source_lsn as _source_lsn,
        kafka_offset as _kafka_offset,
        loaded_at as _loaded_at
    from events
),

candidates as (
    select
        {{ state_columns | join(', ') }},
        {{ banking_dbt.surrogate_key(tracked + ['is_deleted']) }} as _tracked_hash,
        cast(null as {{ banking_dbt.timestamp_tz_type() }}) as _known_tracked_changed_at,
        _source_lsn,
        _kafka_offset,
        _loaded_at
    from typed
    {%- if is_incremental() %}
    union all
    -- the current row of every key that has new events: new events are ordered against it
    select
        {{ state_columns | join(', ') }},
        _tracked_hash,
        tracked_changed_at as _known_tracked_changed_at,
        _source_lsn,
        _kafka_offset,
        _loaded_at
    from {{ this }}
    where {{ key }} in (select {{ key }} from typed)
    {%- endif %}
),

flagged as (
    select
        *,
        case
            when _known_tracked_changed_at is not null then _known_tracked_changed_at
            when lag(_tracked_hash) over (
                partition by {{ key }} order by _source_lsn, _kafka_offset
            ) is distinct from _tracked_hash then changed_at
        end as _tracked_at
    from candidates
)

select
    {%- for name in names %}
    {%- if name in erase_on_delete %}
    case when is_deleted then null else {{ name }} end as {{ name }},
    {%- else %}
    {{ name }},
    {%- endif %}
    {%- endfor %}
    is_deleted,
    last_op,
    changed_at,
    max(_tracked_at) over (partition by {{ key }}) as tracked_changed_at,
    _tracked_hash,
    _source_lsn,
    _kafka_offset,
    max(_loaded_at) over (partition by {{ key }}) as _loaded_at
from flagged
qualify row_number() over (partition by {{ key }} order by _source_lsn desc, _kafka_offset desc) = 1
{% endmacro %}


{#-
  The change events of one captured table that a silver model reads: row images (the after-image, or the
  before-image of a delete) with their source and Kafka coordinates; tombstones and truncates left out; only
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
