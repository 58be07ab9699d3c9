{#-
  Cross-warehouse building blocks, dispatched per adapter (DuckDB embedded default, Snowflake in
  production). Bronze keeps the Debezium row images as JSON (DuckDB) / VARIANT (Snowflake); values are
  encoded as Debezium's JsonConverter writes them: money as decimal text (decimal.handling.mode=string),
  timestamptz as ISO-8601 text, dates as days since 1970-01-01.
-#}

{#- Text value of a top-level JSON key (NULL for JSON null or a missing key). -#}
{% macro json_text(column, key) -%}
    {{ return(adapter.dispatch('json_text', 'banking_dbt')(column, key)) }}
{%- endmacro %}

{% macro default__json_text(column, key) -%}
    ({{ column }} ->> '{{ key }}')
{%- endmacro %}

{% macro snowflake__json_text(column, key) -%}
    ({{ column }}:"{{ key }}"::varchar)
{%- endmacro %}


{#- The SQL type of money, for casts of literals and sums. -#}
{% macro money_type() -%}
    {{ return(adapter.dispatch('money_type', 'banking_dbt')()) }}
{%- endmacro %}

{% macro default__money_type() -%}decimal(18, 2){%- endmacro %}

{% macro snowflake__money_type() -%}number(18, 2){%- endmacro %}


{#- A point in time with its zone, from ISO-8601 text (Debezium ZonedTimestamp). -#}
{% macro to_timestamp_tz(expression) -%}
    {{ return(adapter.dispatch('to_timestamp_tz', 'banking_dbt')(expression)) }}
{%- endmacro %}

{% macro default__to_timestamp_tz(expression) -%}
    cast({{ expression }} as timestamptz)
{%- endmacro %}

{% macro snowflake__to_timestamp_tz(expression) -%}
    cast({{ expression }} as timestamp_tz)
{%- endmacro %}


{#- A point in time from milliseconds since the epoch (Debezium ts_ms, source.ts_ms). -#}
{% macro epoch_ms_to_timestamp_tz(expression) -%}
    {{ return(adapter.dispatch('epoch_ms_to_timestamp_tz', 'banking_dbt')(expression)) }}
{%- endmacro %}

{% macro default__epoch_ms_to_timestamp_tz(expression) -%}
    make_timestamptz(cast({{ expression }} as bigint) * 1000)
{%- endmacro %}

{% macro snowflake__epoch_ms_to_timestamp_tz(expression) -%}
    timestampadd(millisecond, {{ expression }}, cast('1970-01-01 00:00:00 +0000' as timestamp_tz))
{%- endmacro %}


{#- The far-future end of an open SCD2 interval. -#}
{% macro open_interval_end() -%}
    {{ return(adapter.dispatch('open_interval_end', 'banking_dbt')()) }}
{%- endmacro %}

{% macro default__open_interval_end() -%}
    cast('9999-12-31 00:00:00+00' as timestamptz)
{%- endmacro %}

{% macro snowflake__open_interval_end() -%}
    cast('9999-12-31 00:00:00 +0000' as timestamp_tz)
{%- endmacro %}


{#- Minutes subtracted from a timestamp (incremental look-back). -#}
{% macro minus_minutes(expression, minutes) -%}
    {{ return(adapter.dispatch('minus_minutes', 'banking_dbt')(expression, minutes)) }}
{%- endmacro %}

{% macro default__minus_minutes(expression, minutes) -%}
    ({{ expression }} - to_minutes(cast({{ minutes }} as bigint)))
{%- endmacro %}

{% macro snowflake__minus_minutes(expression, minutes) -%}
    dateadd(minute, -{{ minutes }}, {{ expression }})
{%- endmacro %}


{#- Hex SHA-256 of a text value, NULL stays NULL (hashed PII in gold: joinable, not readable). -#}
{% macro sha256_hex(expression) -%}
    {{ return(adapter.dispatch('sha256_hex', 'banking_dbt')(expression)) }}
{%- endmacro %}

{% macro default__sha256_hex(expression) -%}
    sha256({{ expression }})
{%- endmacro %}

{% macro snowflake__sha256_hex(expression) -%}
    sha2({{ expression }}, 256)
{%- endmacro %}


{#- Deterministic surrogate key from columns (NULL-safe, separator-safe). -#}
{% macro surrogate_key(columns) -%}
    {%- set parts = [] -%}
    {%- for column in columns -%}
        {%- do parts.append("coalesce(cast(" ~ column ~ " as " ~ dbt.type_string() ~ "), '~null~')") -%}
    {%- endfor -%}
    {{ dbt.hash(parts | join(" || '|' || ")) }}
{%- endmacro %}


{#- The UTC calendar date of a point in time (daily grains do not depend on the session time zone). -#}
{% macro utc_date(expression) -%}
    {{ return(adapter.dispatch('utc_date', 'banking_dbt')(expression)) }}
{%- endmacro %}

{% macro default__utc_date(expression) -%}
    cast(timezone('UTC', {{ expression }}) as date)
{%- endmacro %}

{% macro snowflake__utc_date(expression) -%}
    to_date(convert_timezone('UTC', {{ expression }}))
{%- endmacro %}


{#- The SQL type of a point in time with its zone. -#}
{% macro timestamp_tz_type() -%}
    {{ return(adapter.dispatch('timestamp_tz_type', 'banking_dbt')()) }}
{%- endmacro %}

{% macro default__timestamp_tz_type() -%}timestamptz{%- endmacro %}

{% macro snowflake__timestamp_tz_type() -%}timestamp_tz{%- endmacro %}
