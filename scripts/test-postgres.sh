#!/usr/bin/env bash
# Run the reconciler's core tests (not slow) once more, against a Prefect server on PostgreSQL.
#
#   bash scripts/test-postgres.sh [extra pytest args]
#
# Starts a throwaway PostgreSQL (scripts/postgres.sh; installs it from Debian packages when
# missing), then pytest: with PIPEFORM_TEST_DATABASE_URL set, tests/conftest.py starts the
# session's Prefect server on that database. Everything is stopped on exit, even on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${PYTHON:-}" ]; then py=$PYTHON
elif [ -x .venv/bin/python ]; then py=.venv/bin/python
else py=python3
fi
started=$(date +%s)
eval "$(bash scripts/postgres.sh start)"
trap 'bash scripts/postgres.sh stop "$PIPEFORM_PG_DIR"' EXIT
echo "PostgreSQL ready after $(($(date +%s) - started)) s" >&2
export PIPEFORM_TEST_DATABASE_URL PIPEFORM_TEST_POSTGRES=1 PREFECT_SERVER_ANALYTICS_ENABLED=false
unset PIPEFORM_TEST_API_URL  # the session server must be the one on PostgreSQL
"$py" -m pytest -q -p no:cacheprovider -m "not slow" \
  tests/test_smoke_server.py tests/test_postgres_*.py tests/test_reconciler_*.py "$@"
