{{ config(unique_key='account_id') }}

{#- balance is not tracked: it changes with every posting (daily balances live in gold). -#}
{#- columns, kinds, tracked and erased columns: macros/banking_tables.sql -#}
{{ banking_dbt.stage_current_state('accounts') }}
