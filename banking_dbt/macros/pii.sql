{#- PII in gold: raw names, e-mail addresses and phone numbers stay in silver (access-controlled);
    gold exposes a keyed-less SHA-256 of the normalised value (joinable across tables, not readable)
    and a masked display form. -#}

{% macro hash_pii(expression) -%}
    {{ banking_dbt.sha256_hex("nullif(lower(trim(" ~ expression ~ ")), '')") }}
{%- endmacro %}

{#- "Jane" -> "J***" -#}
{% macro mask_name(expression) -%}
    case when {{ expression }} is null then null else left({{ expression }}, 1) || '***' end
{%- endmacro %}

{#- "jane.doe@example.com" -> "j***@example.com" -#}
{% macro mask_email(expression) -%}
    case
        when {{ expression }} is null then null
        else left({{ expression }}, 1) || '***' || substr({{ expression }}, position('@' in {{ expression }}))
    end
{%- endmacro %}

{#- "+49 170 1234567" -> "***4567" -#}
{% macro mask_phone(expression) -%}
    case when {{ expression }} is null then null else '***' || right({{ expression }}, 4) end
{%- endmacro %}
