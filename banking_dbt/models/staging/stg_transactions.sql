{{ config(unique_key='transaction_id') }}

{{ banking_dbt.stage_current_state(
    'transactions', 'transaction_id',
    columns=[
        ['transaction_id', 'bigint'], ['account_id', 'bigint'], ['txn_type', 'text'], ['direction', 'text'],
        ['amount', 'money'], ['status', 'text'], ['transfer_id', 'text'],
        ['reverses_transaction_id', 'bigint'], ['description', 'text'], ['booked_at', 'timestamp'],
        ['posted_at', 'timestamp'], ['created_at', 'timestamp'], ['updated_at', 'timestamp'],
    ],
    tracked=['account_id', 'txn_type', 'direction', 'amount', 'status', 'posted_at'],
) }}
