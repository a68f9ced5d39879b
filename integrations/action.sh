#!/usr/bin/env bash
# The shell steps of the pipeform GitHub action (action.yml) and GitLab template, kept in one
# script so a test runs them locally against a real Prefect server.
#
#   action.sh install   # venv at $PIPEFORM_VENV with pipeform from $PIPEFORM_SOURCE (the action's checkout)
#   action.sh run       # $PIPEFORM_COMMAND (validate|plan|apply) on $PIPEFORM_PATH [--env $PIPEFORM_ENV]
#
# Inputs arrive as environment variables, never spliced into the script text, so a branch
# name or path from a pull request cannot inject shell. Outputs: plan Markdown in
# $PIPEFORM_OUT/plan.md; on GitHub, `changes=true|false` in $GITHUB_OUTPUT, the plan in the
# job summary and, with PIPEFORM_COMMENT=github|gitlab, one comment per pull request.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SOURCE="${PIPEFORM_SOURCE:-$(dirname "$HERE")}"
VENV="${PIPEFORM_VENV:-${RUNNER_TEMP:-/tmp}/pipeform-venv}"
OUT="${PIPEFORM_OUT:-${RUNNER_TEMP:-/tmp}/pipeform-out}"
PYTHON="${PIPEFORM_PYTHON:-python3}"

install() {
  # A cached venv is reused only for the same pipeform source (its pyproject and code).
  local stamp
  stamp="$(cd "$SOURCE" && find pyproject.toml cli compiler convert pipeform reconciler schemas spec sync -type f \
    -not -name '*.pyc' -print0 2>/dev/null | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)"
  if [ -x "$VENV/bin/pipeform" ] && [ "$(cat "$VENV/.pipeform-source" 2>/dev/null)" = "$stamp" ]; then
    echo "pipeform venv $VENV is up to date (cached)"
    return
  fi
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$SOURCE"
  echo "$stamp" > "$VENV/.pipeform-source"
  "$VENV/bin/pipeform" --version
}

run() {
  local pf="$VENV/bin/pipeform" path="${PIPEFORM_PATH:-.}" command="${PIPEFORM_COMMAND:-plan}"
  # An empty input means "not given": unset, so Prefect never sees an empty URL or key.
  [ -n "${PREFECT_API_URL:-}" ] || unset PREFECT_API_URL
  [ -n "${PREFECT_API_KEY:-}" ] || unset PREFECT_API_KEY
  if [ "$command" != validate ] && [ -z "${PREFECT_API_URL:-}" ] && [ "${PIPEFORM_ALLOW_EMBEDDED:-}" != 1 ]; then
    # Without it pipeform would plan against a fresh embedded server on the CI machine.
    echo "error: $command needs the Prefect API URL (input prefect-api-url / PREFECT_API_URL)" >&2
    return 1
  fi
  local env_args=()
  [ -n "${PIPEFORM_ENV:-}" ] && env_args=(--env "$PIPEFORM_ENV")
  mkdir -p "$OUT"
  case "$command" in
    validate)
      # GitHub turns these lines into annotations on the spec files; elsewhere they are plain text.
      local format=human
      [ -n "${GITHUB_ACTIONS:-}" ] && format=github
      "$pf" validate "$path" "${env_args[@]}" --output "$format"
      ;;
    plan)
      local code=0
      "$pf" plan "$path" "${env_args[@]}" --output markdown --detailed-exitcode > "$OUT/plan.md" || code=$?
      # 0: no changes, 2: changes, 1: refused or bad specs (their diagnostics went to stderr).
      [ -s "$OUT/plan.md" ] || return "$code"
      cat "$OUT/plan.md"
      [ -n "${GITHUB_STEP_SUMMARY:-}" ] && cat "$OUT/plan.md" >> "$GITHUB_STEP_SUMMARY"
      [ -n "${GITHUB_OUTPUT:-}" ] && echo "changes=$([ "$code" = 2 ] && echo true || echo false)" >> "$GITHUB_OUTPUT"
      if [ -n "${PIPEFORM_COMMENT:-}" ]; then
        PIPEFORM_COMMENT_KEY="${PIPEFORM_COMMENT_KEY:-$path|${PIPEFORM_ENV:-}}" \
          "$VENV/bin/python" "$HERE/comment.py" "$PIPEFORM_COMMENT" "$OUT/plan.md"
      fi
      [ "$code" -ne 1 ] || return 1
      ;;
    apply)
      "$pf" apply "$path" "${env_args[@]}" --auto-approve --lock-timeout "${PIPEFORM_LOCK_TIMEOUT:-600}"
      ;;
    *)
      echo "error: command must be validate, plan or apply, not '$command'" >&2
      return 2
      ;;
  esac
}

case "${1:-}" in
  install) install ;;
  run) run ;;
  *) echo "usage: $0 install|run" >&2; exit 2 ;;
esac
