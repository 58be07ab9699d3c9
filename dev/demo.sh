#!/usr/bin/env bash
# `make demo`: install what is missing, bring the native stack up, and run the whole pipeline end to end
# under a local Airflow on the embedded defaults (DuckDB), then print a summary and the reconciliation
# verdict (dev/demo.py, run as `python -m dev.demo` from the repository root so that it imports the test
# harness tests/support). Arguments go to dev/demo.py: --duration S, --rate R, --serve, --clean.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
if [ "${1:-}" = "--clean" ]; then
  exec .venv/bin/python -m dev.demo --clean
fi
began=$(date +%s)
dev/bootstrap.sh
dev/stack up
echo "demo: environments and stack ready in $(( $(date +%s) - began )) s"
# shellcheck disable=SC1091
source .state/airflow.env
export PATH="$ROOT/.venv/bin:$PATH"
exec .venv/bin/python -m dev.demo "$@"
