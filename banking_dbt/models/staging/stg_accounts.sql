{{ config(unique_key='account_id') }}

{#- balance is not tracked: it changes with every posting (daily balances live in gold). -#}
{{ banking_dbt.stage_current_state(
    'accounts', 'account_id',
    columns=[
        ['account_id', 'bigint'], ['customer_id', 'bigint'], ['iban', 'text'], ['account_type', 'text'],
        ['currency', 'text'], ['status', 'text'], ['balance', 'money'], ['opened_at', 'timestamp'],
        ['closed_at', 'timestamp'], ['created_at', 'timestamp'], ['updated_at', 'timestamp'],
    ],
    tracked=['customer_id', 'iban', 'account_type', 'currency', 'status', 'closed_at'],
) }}
