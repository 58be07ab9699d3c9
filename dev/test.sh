#!/usr/bin/env bash
# `make test`: bring the native stack up if needed, run the whole pytest suite, and leave the
# machine as it was found (the stack is stopped again only if this script started it).
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

"$ROOT/dev/bootstrap.sh" || exit 1
started_here=0
if ! .venv/bin/python dev/stack.py is-up; then
  started_here=1
fi
cleanup() {
  if [ "$started_here" -eq 1 ]; then
    .venv/bin/python dev/stack.py down
  fi
}
trap cleanup EXIT

.venv/bin/python dev/stack.py up || { echo "test: the native stack did not come up" >&2; exit 1; }
# shellcheck disable=SC1091
source .state/airflow.env
export PATH="$ROOT/.venv/bin:$PATH"
.venv/bin/python -m pytest "$@"
