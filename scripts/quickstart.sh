#!/usr/bin/env bash
# The main job on a fresh machine: install pipeform, start the embedded Prefect server,
# apply examples/quickstart, start a worker for its pool and run its deployment to completion.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PREFECT_SERVER_ANALYTICS_ENABLED=false
PF=.venv/bin/pipeform
$PF validate examples/quickstart
$PF server start
$PF plan examples/quickstart
$PF apply examples/quickstart --auto-approve
$PF worker start --pool quickstart-pool
$PF trigger hello/hello-every-hour --param who=quickstart --timeout 300
echo
echo "Done. The Prefect UI shows the run; stop everything with: .venv/bin/pipeform server stop"
