{{ config(unique_key='customer_id') }}

{#- columns, kinds, tracked and erased columns: macros/banking_tables.sql -#}
{{ banking_dbt.stage_current_state('customers') }}
