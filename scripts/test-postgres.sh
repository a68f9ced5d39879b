#!/usr/bin/env bash
# Run the reconciler's core tests once more against a Prefect server on PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
eval "$(bash scripts/postgres.sh start)"
trap 'bash scripts/postgres.sh stop "$PIPEFORM_PG_DIR"' EXIT
export PIPEFORM_TEST_DATABASE_URL
.venv/bin/python -m pytest -q -p no:cacheprovider tests/test_smoke_server.py tests/test_reconciler_apply.py "$@"
