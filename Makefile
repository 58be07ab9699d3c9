# banking-cdc: the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: help bootstrap stack-up stack-down stack-status stack-logs demo demo-clean test test-unit lint dbt-manifest dbt-manifest-check dbt-build reconcile constraints clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

bootstrap: ## install what is missing (Debian packages, .venv, provider package)
	dev/bootstrap.sh

stack-up: ## start PostgreSQL, Kafka, Kafka Connect + Debezium, S3Proxy (idempotent)
	dev/stack up

stack-down: ## stop exactly the processes stack-up started
	dev/stack down

stack-status: ## state and health of each service
	dev/stack status

stack-logs: ## last lines of every service log
	dev/stack logs

demo: ## the whole pipeline end to end under a local Airflow, with a summary (DEMO_ARGS="--duration 60 --rate 50")
	dev/demo.sh $(DEMO_ARGS)

demo-clean: ## stop the stack and delete the demo's state
	dev/demo.sh --clean

test: ## the whole test suite against the real services (starts/stops the stack as needed)
	dev/test.sh

test-unit: bootstrap ## unit tests only (no services)
	$(PY) -m pytest tests/unit

lint: ## ruff on everything, mypy on the provider package
	dev/bootstrap.sh --lint
	.venv-lint/bin/ruff check dags include plugins tests dev
	.venv-lint/bin/ruff format --check dags include plugins tests dev
	.venv-lint/bin/mypy --python-executable $(PY) include/banking_cdc

dbt-manifest: bootstrap ## regenerate banking_dbt/manifest.json (commit it; the Cosmos DAG renders from it)
	$(PY) dev/dbt_manifest.py

dbt-manifest-check: bootstrap ## fail when banking_dbt/manifest.json is stale (also a test in make test)
	$(PY) dev/dbt_manifest.py --check

dbt-build: bootstrap ## dbt build of banking_dbt on the embedded DuckDB warehouse (.state/warehouse)
	cd banking_dbt && BCDC_DUCKDB_PATH=$(CURDIR)/.state/warehouse/banking.duckdb ../$(VENV)/bin/dbt build --profiles-dir .

reconcile: bootstrap ## compare gold with the source database (strict; ARGS="--grace-minutes 5 --json")
	source $${BCDC_STATE_DIR:-.state}/airflow.env && PYTHONPATH=$(CURDIR)/include $(PY) -m banking_cdc.reconcile $(ARGS)

constraints: ## re-freeze dev/constraints.txt from the current .venv
	@{ echo "# Frozen transitive versions of the native venv (pip install -c). Regenerate: make constraints"; \
	  $(VENV)/bin/pip freeze --exclude-editable | grep -v '^banking-cdc-provider'; } > dev/constraints.txt

clean: ## stop the stack and delete its state (databases, topics, objects)
	dev/stack clean
