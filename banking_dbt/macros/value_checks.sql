{#-
  Value checks: whether a column's value in a Debezium row image can be held exactly by its silver type.

  Every typed silver model (the banking staging models and the generic current_<table> models) decodes
  bronze's JSON with safe casts (decode_column) and checks each value first (value_problem). A row image
  with any problem never reaches silver: it is recorded in silver.rejects (record_rejects) with its Kafka
  coordinates, LSN, key, column, reason and raw text, and the key keeps its last good state, marked
  (_rejected_lsn). Nothing is rounded, truncated or guessed.

  A column is a dict: name, kind (banking_cdc.capture.catalog kinds), precision, scale, required (a NULL or
  a missing field is a problem: key and NOT NULL columns), missing_ok (a required column added after the
  table was first captured: images from before the ADD COLUMN do not have it).

  Reasons name the problem, never the value (they are logged by the rejects test).
-#}

{#-
  The select-list of one image's values, extracted once per row for the checks: per column (by its position i
  in `columns`) __json_i, the value's JSON text (its first character says its JSON type), and __raw_i, its text
  (NULL for JSON null or a missing key). value_problem and row_problem read these columns.
-#}
{% macro extracted_values(image, columns) -%}
    {%- for column in columns %}
        {{ adapter.dispatch('json_value_text', 'banking_dbt')(image, column.name) }} as __json_{{ loop.index }},
        {{ banking_dbt.json_text(image, column.name) }} as __raw_{{ loop.index }}{{ ',' if not loop.last }}
    {%- endfor %}
{%- endmacro %}

{% macro default__json_value_text(image, name) -%}
    cast(({{ image }} -> '{{ name }}') as varchar)
{%- endmacro %}

{% macro snowflake__json_value_text(image, name) -%}
    to_json({{ image }}:"{{ name }}")
{%- endmacro %}


{#- The JSON type of a value from its JSON text: string, number, boolean, null, array, object; NULL if absent. -#}
{% macro json_kind(json) -%}
    case left({{ json }}, 1)
        when '"' then 'string' when '{' then 'object' when '[' then 'array'
        when 't' then 'boolean' when 'f' then 'boolean' when 'n' then 'null'
        else case when {{ json }} is not null then 'number' end
    end
{%- endmacro %}


{#- `materialized` where a CTE read twice must be computed once (DuckDB inlines it otherwise). -#}
{% macro materialized() -%}
    {{ return(adapter.dispatch('materialized', 'banking_dbt')()) }}
{%- endmacro %}

{% macro default__materialized() -%}{%- endmacro %}

{% macro duckdb__materialized() -%}materialized{%- endmacro %}


{#- Whether the whole text matches a regular expression (no backslashes: use [.] and [0-9]). -#}
{% macro full_match(expression, pattern) -%}
    {{ return(adapter.dispatch('full_match', 'banking_dbt')(expression, pattern)) }}
{%- endmacro %}

{% macro default__full_match(expression, pattern) -%}
    regexp_full_match({{ expression }}, '{{ pattern }}')
{%- endmacro %}

{% macro snowflake__full_match(expression, pattern) -%}
    regexp_like({{ expression }}, '{{ pattern }}')
{%- endmacro %}


{#- Whether text is valid JSON. -#}
{% macro is_json_text(expression) -%}
    {{ return(adapter.dispatch('is_json_text', 'banking_dbt')(expression)) }}
{%- endmacro %}

{% macro default__is_json_text(expression) -%}coalesce(json_valid({{ expression }}), false){%- endmacro %}

{% macro snowflake__is_json_text(expression) -%}(try_parse_json({{ expression }}) is not null){%- endmacro %}


{#- Text with a NUL character (PostgreSQL text cannot hold one: not a value of the source). -#}
{% macro has_nul(expression) -%}
    {{ return(adapter.dispatch('has_nul', 'banking_dbt')(expression)) }}
{%- endmacro %}

{% macro default__has_nul(expression) -%}contains({{ expression }}, chr(0)){%- endmacro %}

{% macro snowflake__has_nul(expression) -%}contains({{ expression }}, char(0)){%- endmacro %}


{#- Safe cast: NULL when the text does not convert. -#}
{% macro safe_cast(expression, type) -%}try_cast({{ expression }} as {{ type }}){%- endmacro %}


{#- The SQL type of an integer kind of this precision (bits). -#}
{% macro integer_type(bits) -%}
    {{ return(adapter.dispatch('integer_type', 'banking_dbt')(bits)) }}
{%- endmacro %}

{% macro default__integer_type(bits) -%}{{ {16: 'smallint', 32: 'integer'}.get(bits, 'bigint') }}{%- endmacro %}

{% macro snowflake__integer_type(bits) -%}number({{ {16: 5, 32: 10}.get(bits, 19) }}, 0){%- endmacro %}


{#- Digits of a decimal text left of the point, without sign and leading zeros (its magnitude). -#}
{% macro _integer_digits(raw) -%}
    length(regexp_replace(split_part({{ raw }}, '.', 1), '^[+-]?0*', ''))
{%- endmacro %}

{#- Decimal places of a decimal text that are not trailing zeros (the scale it needs). -#}
{% macro _decimal_places(raw) -%}
    length(regexp_replace(split_part({{ raw }}, '.', 2), '0+$', ''))
{%- endmacro %}

{#-
  NULL when the value of `column` can be held exactly by its silver type, else the reason. Reads the extracted
  values (extracted_values) of the column at position `index`.
  Decimal values must be decimal text (decimal.handling.mode=string): a JSON number went through a double.
-#}
{% macro value_problem(column, index) -%}
    {%- set raw = '__raw_' ~ index -%}
    {%- set kind = column.kind -%}
    {%- set integer = '-?[0-9]+' -%}
    {%- set decimal = '[+-]?[0-9]+([.][0-9]+)?' -%}
    {%- set expected = {
        'integer': 'number', 'float': 'number', 'date': 'number', 'timestamp': 'number', 'time': 'number',
        'boolean': 'boolean', 'json_array': 'array',
        'decimal': 'string', 'decimal_text': 'string', 'text': 'string', 'uuid': 'string',
        'timestamptz': 'string', 'json': 'string', 'bytes': 'string',
    }.get(kind) -%}
    {%- set json_kind = banking_dbt.json_kind('__json_' ~ index) -%}
    case
        when {{ json_kind }} is null then
            {%- if column.required and not column.missing_ok %} 'required field missing'{% else %} null{% endif %}
        when {{ json_kind }} = 'null' then
            {%- if column.required %} 'null in a required column'{% else %} null{% endif %}
    {%- if expected %}
        when {{ json_kind }} <> '{{ expected }}' then
            'wrong JSON type: ' || {{ json_kind }} || ', expected {{ expected }}'
    {%- endif %}
    {%- if kind == 'integer' %}
        when not {{ banking_dbt.full_match(raw, integer) }} then 'not an integer'
        when {{ banking_dbt.safe_cast(raw, banking_dbt.integer_type(column.precision)) }} is null
            then 'out of range for a {{ column.precision }}-bit integer'
    {%- elif kind == 'decimal' %}
        when not {{ banking_dbt.full_match(raw, decimal) }} then 'not a decimal number'
        when {{ banking_dbt._decimal_places(raw) }} > {{ column.scale }}
            then 'more decimal places than numeric({{ column.precision }},{{ column.scale }}) holds'
        when {{ banking_dbt._integer_digits(raw) }} > {{ column.precision - column.scale }}
            then 'out of range for numeric({{ column.precision }},{{ column.scale }})'
    {%- elif kind == 'decimal_text' %}
        when not {{ banking_dbt.full_match(raw, decimal ~ '|NaN|[+-]?Infinity') }} then 'not a decimal number'
    {%- elif kind == 'float' %}
        when {{ banking_dbt.safe_cast(raw, dbt.type_float()) }} is null then 'not a number'
    {%- elif kind == 'uuid' %}
        when not {{ banking_dbt.full_match(raw,
            '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}') }} then 'not a uuid'
    {%- elif kind == 'date' %}
        when not {{ banking_dbt.full_match(raw, integer) }} then 'not a day number'
        when {{ banking_dbt.safe_cast(raw, 'bigint') }} not between -719162 and 2932896
            then 'impossible date (outside 0001-01-01 .. 9999-12-31)'
    {%- elif kind == 'timestamptz' %}
        when not {{ banking_dbt.full_match(raw,
            '[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}([.][0-9]{1,6})?(Z|[+-][0-9]{2}(:?[0-9]{2})?)') }}
            then 'not an ISO-8601 timestamp with zone to the microsecond'
        when {{ banking_dbt.safe_cast(raw, banking_dbt.timestamp_tz_type()) }} is null then 'impossible timestamp'
    {%- elif kind in ('timestamp', 'time') %}
        {%- set unit = 1000 if column.precision <= 3 else 1000000 -%}
        {%- set limit = (253402300799 * unit) if kind == 'timestamp' else (86400 * unit) %}
        when not {{ banking_dbt.full_match(raw, integer) }} then 'not an integer {{ kind }}'
        when {{ banking_dbt.safe_cast(raw, 'bigint') }} is null
            or {{ banking_dbt.safe_cast(raw, 'bigint') }} not between {{ 0 if kind == 'time' else -62135596800 * unit }}
                and {{ limit }}
            then 'impossible {{ kind }}'
    {%- elif kind == 'json' %}
        when not {{ banking_dbt.is_json_text(raw) }} then 'not valid JSON'
    {%- elif kind == 'bytes' %}
        when not {{ banking_dbt.full_match(raw, '([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?') }}
            then 'not base64'
    {%- elif kind == 'text' %}
        when {{ banking_dbt.has_nul(raw) }} then 'NUL character in text'
    {%- endif %}
    end
{%- endmacro %}


{#-
  NULL when every value of the row fits, else '<column>: <reason>' of the first column with a problem (the row's
  extracted_values of `columns`).
-#}
{% macro row_problem(columns) -%}
    coalesce(
    {%- for column in columns %}
        '{{ column.name }}: ' || ({{ banking_dbt.value_problem(column, loop.index) }}){{ ',' if not loop.last }}
    {%- endfor %}
    )
{%- endmacro %}


{#-
  Columns declared in a banking staging model, as the value checks and decode_column read them.
  kinds: bigint | text | money (NUMERIC(18,2)) | timestamp (timestamptz) | date_days.

  :param columns: [[name, kind], ...].
  :param required: Names of the NOT NULL columns (the key included).
-#}
{% macro declared_columns(columns, required) %}
    {%- set kinds = {
        'bigint': ('integer', 64, none), 'text': ('text', none, none), 'money': ('decimal', 18, 2),
        'timestamp': ('timestamptz', none, none), 'date_days': ('date', none, none),
    } -%}
    {%- set declared = [] -%}
    {%- for name, kind in columns -%}
        {%- if kind not in kinds -%}
            {{ exceptions.raise_compiler_error("declared_columns: unknown kind '" ~ kind ~ "' for column " ~ name) }}
        {%- endif -%}
        {%- do declared.append({
            'name': name, 'kind': kinds[kind][0], 'precision': kinds[kind][1], 'scale': kinds[kind][2],
            'required': name in required, 'missing_ok': false,
        }) -%}
    {%- endfor -%}
    {{ return(declared) }}
{% endmacro %}
