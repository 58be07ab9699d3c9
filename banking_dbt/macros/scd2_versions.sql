{#-
  The versions of an SCD2 snapshot as gold intervals: [valid_from, valid_to) per key, contiguous.
  The first version of a key starts at the row's created_at (the state first captured is taken to hold
  since the row was created, so facts older than the first captured change still find a version); an
  open version ends at open_interval_end(). is_current: the open version of a key that is not deleted.

  Incremental (delete+insert on the key): only keys with a snapshot row written since the last build
  (a new version, or a version invalidated by hard_deletes) are recomputed, all their versions at once.

  :param snapshot: the snapshot's name (ref).
  :param key: the natural key column.
-#}
{% macro scd2_versions(snapshot, key) %}
select
    *,
    case
        when version_number = 1 and created_at < dbt_valid_from then created_at
        else dbt_valid_from
    end as valid_from,
    coalesce(dbt_valid_to, {{ banking_dbt.open_interval_end() }}) as valid_to,
    (dbt_valid_to is null and not is_deleted) as is_current
from (
    select
        *,
        row_number() over (partition by {{ key }} order by dbt_valid_from) as version_number
    from {{ ref(snapshot) }}
    {%- if is_incremental() %}
    where {{ key }} in (
        select {{ key }}
        from {{ ref(snapshot) }}
        where snapshotted_at > {{ banking_dbt.last_built() }}
            or dbt_valid_to > {{ banking_dbt.last_built() }}
    )
    {%- endif %}
) as versions
{% endmacro %}
