{#-
  SCD Type 2 history of customers on their tracked columns.

  strategy=timestamp on silver's tracked_changed_at: a version starts when a tracked column changed at
  the source (database clock), not when dbt happened to run; changes of untracked columns make no
  version. Deletes: silver keeps a deleted key as a row with is_deleted = true and the delete's commit
  time, so a delete closes the current version at the time it happened and adds a deleted version.
  hard_deletes='invalidate' is the safety net for a key that vanishes from silver altogether (its
  current version is closed at snapshot time). Several tracked changes between two runs collapse into
  the last one (the snapshot sees states, not events).
-#}
{% snapshot snap_customers %}
{{ config(
    unique_key='customer_id',
    strategy='timestamp',
    updated_at='tracked_changed_at',
    hard_deletes='invalidate',
) }}
select
    customer_id,
    customer_ref,
    first_name,
    last_name,
    email,
    phone,
    date_of_birth,
    address_line,
    city,
    postal_code,
    country_code,
    tier,
    kyc_status,
    is_deleted,
    created_at,
    tracked_changed_at,
    {{ dbt.current_timestamp() }} as snapshotted_at
from {{ ref('stg_customers') }}
{% endsnapshot %}
