#!/usr/bin/env bash
# Run the whole test suite on a fresh machine: install, run pytest (SQLite-backed Prefect
# server), then the reconciler's core tests once more on a PostgreSQL-backed server.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PREFECT_SERVER_ANALYTICS_ENABLED=false
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
if [ "${PIPEFORM_SKIP_POSTGRES:-0}" != 1 ] && [ "$#" -eq 0 ]; then
  echo "== reconciler core tests on PostgreSQL =="
  bash scripts/test-postgres.sh
fi
