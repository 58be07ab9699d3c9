{{ config(unique_key='customer_id') }}

{{ banking_dbt.stage_current_state(
    'customers', 'customer_id',
    columns=[
        ['customer_id', 'bigint'], ['customer_ref', 'text'], ['first_name', 'text'], ['last_name', 'text'],
        ['email', 'text'], ['phone', 'text'], ['date_of_birth', 'date_days'], ['address_line', 'text'],
        ['city', 'text'], ['postal_code', 'text'], ['country_code', 'text'], ['tier', 'text'],
        ['kyc_status', 'text'], ['created_at', 'timestamp'], ['updated_at', 'timestamp'],
    ],
    tracked=[
        'first_name', 'last_name', 'email', 'phone', 'date_of_birth', 'address_line', 'city',
        'postal_code', 'country_code', 'tier', 'kyc_status',
    ],
    erase_on_delete=[
        'first_name', 'last_name', 'email', 'phone', 'date_of_birth', 'address_line', 'postal_code',
    ],
) }}
