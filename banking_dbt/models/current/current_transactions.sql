-- Generated from capture.yaml by `make dbt-manifest` (banking_cdc.transform.current_models): do not edit.
{{ banking_dbt.current_state('transactions') }}
