#!/usr/bin/env bash
# Install what the native stack and the tests need, once; every later run is a quick no-op.
#   - Debian packages: PostgreSQL 15, a Java 17 runtime, Maven (jars come from Maven Central), Chromium
#     (headless, for the health page test)
#   - .venv: Airflow, providers, Cosmos, dbt, test tools, and this project's provider (editable)
#   - .venv-lint: ruff and mypy (only with --lint)
# Downloads are cached under ~/.cache (pip, Maven); nothing is downloaded from anywhere else.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${BCDC_PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3

say() { printf 'bootstrap: %s\n' "$*"; }
die() { printf 'bootstrap: ERROR %s\n' "$*" >&2; exit 1; }

ensure_debian_packages() {
  local missing=()
  [ -x /usr/lib/postgresql/15/bin/postgres ] || missing+=(postgresql-15)
  command -v java >/dev/null 2>&1 || missing+=(openjdk-17-jre-headless)
  command -v mvn >/dev/null 2>&1 || missing+=(maven)
  "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1 || missing+=(python3-venv)
  # headless browser of the health page test (tests/plugins); Debian's, no browser download
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  if [ ${#missing[@]} -eq 0 ]; then return; fi
  [ "$(id -u)" -eq 0 ] || die "missing Debian packages (${missing[*]}); run as root or install them"
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || die "apt-get update failed (package mirror unreachable?)"
  # the package's own cluster is not used; the stack runs its own server on a private port
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed"
}

stamp_of() { cat "$@" | sha256sum | cut -c1-16; }

ensure_venv() {
  local stamp
  stamp="$(stamp_of requirements.txt requirements-dev.txt dev/constraints.txt include/pyproject.toml)"
  if [ -f .venv/.bcdc-stamp ] && [ "$(cat .venv/.bcdc-stamp)" = "$stamp" ]; then return; fi
  say "creating .venv (Airflow, providers, Cosmos, dbt; cached downloads under ~/.cache/pip)"
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv || die "python venv creation failed"
  .venv/bin/pip install -q --upgrade "pip>=24" >/dev/null
  .venv/bin/pip install -q -r requirements-dev.txt -c dev/constraints.txt \
    || die "pip install of requirements-dev.txt failed"
  .venv/bin/pip install -q --no-deps -e include \
    || die "pip install of the provider package (include/) failed"
  echo "$stamp" > .venv/.bcdc-stamp
}

ensure_lint_venv() {
  local stamp
  stamp="$(stamp_of requirements-lint.txt)"
  if [ -f .venv-lint/.bcdc-stamp ] && [ "$(cat .venv-lint/.bcdc-stamp)" = "$stamp" ]; then return; fi
  say "creating .venv-lint (ruff, mypy)"
  [ -x .venv-lint/bin/python ] || "$PYTHON" -m venv .venv-lint
  .venv-lint/bin/pip install -q -r requirements-lint.txt || die "pip install of requirements-lint.txt failed"
  echo "$stamp" > .venv-lint/.bcdc-stamp
}

ensure_debian_packages
ensure_venv
if [ "${1:-}" = "--lint" ]; then ensure_lint_venv; fi
