{#-
  The banking source tables as the staging models type them (the contract gold is built on): columns with
  their kinds (declared_columns), the NOT NULL columns, the SCD2-tracked columns and the PII erased on delete.
  One place, read by the staging models and by record_rejects.
-#}
{% macro banking_table(table_name) %}
    {%- set tables = {
        'customers': {
            'key': 'customer_id',
            'columns': [
                ['customer_id', 'bigint'], ['customer_ref', 'text'], ['first_name', 'text'], ['last_name', 'text'],
                ['email', 'text'], ['phone', 'text'], ['date_of_birth', 'date_days'], ['address_line', 'text'],
                ['city', 'text'], ['postal_code', 'text'], ['country_code', 'text'], ['tier', 'text'],
                ['kyc_status', 'text'], ['created_at', 'timestamp'], ['updated_at', 'timestamp'],
            ],
            'required': [
                'customer_id', 'customer_ref', 'first_name', 'last_name', 'email', 'country_code', 'tier',
                'kyc_status', 'created_at', 'updated_at',
            ],
            'tracked': [
                'first_name', 'last_name', 'email', 'phone', 'date_of_birth', 'address_line', 'city',
                'postal_code', 'country_code', 'tier', 'kyc_status',
            ],
            'erase_on_delete': [
                'first_name', 'last_name', 'email', 'phone', 'date_of_birth', 'address_line', 'postal_code',
            ],
        },
        'accounts': {
            'key': 'account_id',
            'columns': [
                ['account_id', 'bigint'], ['customer_id', 'bigint'], ['iban', 'text'], ['account_type', 'text'],
                ['currency', 'text'], ['status', 'text'], ['balance', 'money'], ['opened_at', 'timestamp'],
                ['closed_at', 'timestamp'], ['created_at', 'timestamp'], ['updated_at', 'timestamp'],
            ],
            'required': [
                'account_id', 'customer_id', 'iban', 'account_type', 'currency', 'status', 'balance', 'opened_at',
                'created_at', 'updated_at',
            ],
            'tracked': ['customer_id', 'iban', 'account_type', 'currency', 'status', 'closed_at'],
            'erase_on_delete': [],
        },
        'transactions': {
            'key': 'transaction_id',
            'columns': [
                ['transaction_id', 'bigint'], ['account_id', 'bigint'], ['txn_type', 'text'], ['direction', 'text'],
                ['amount', 'money'], ['status', 'text'], ['transfer_id', 'text'],
                ['reverses_transaction_id', 'bigint'], ['description', 'text'], ['booked_at', 'timestamp'],
                ['posted_at', 'timestamp'], ['created_at', 'timestamp'], ['updated_at', 'timestamp'],
            ],
            'required': [
                'transaction_id', 'account_id', 'txn_type', 'direction', 'amount', 'status', 'booked_at',
                'created_at', 'updated_at',
            ],
            'tracked': ['account_id', 'txn_type', 'direction', 'amount', 'status', 'posted_at'],
            'erase_on_delete': [],
        },
    } -%}
    {%- if table_name not in tables -%}
        {{ exceptions.raise_compiler_error("banking_table: '" ~ table_name ~ "' is not a banking table") }}
    {%- endif -%}
    {%- set spec = tables[table_name] -%}
    {%- do spec.update({'checked': banking_dbt.declared_columns(spec.columns, spec.required)}) -%}
    {{ return(spec) }}
{% endmacro %}
