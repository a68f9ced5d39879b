"""The command a process worker runs for a deployment with an Environment:

    python -m pipeform.environments.launch

It reads the lock from $PIPEFORM_ENVIRONMENT_LOCK (checked against
$PIPEFORM_ENVIRONMENT_HASH and against this worker's Python and platform), makes sure the
environment exists, and replaces itself with that environment's `python -m prefect.engine`:
same pid (the worker's cancellation and exit code work as for its own engine command), same
environment variables (PREFECT__FLOW_RUN_ID among them), same working directory. The run
holds a shared lock on `<key>.inuse` (inherited across exec) until it ends, so `gc` never
removes an environment a run is using. The warm path imports only the standard library
(paths.py); building (venvs.py, uv) happens on the first run only. A run that cannot start
(wrong Python, failed build) is marked Failed on the server with the reason.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys

from . import paths

LOCK_VAR = "PIPEFORM_ENVIRONMENT_LOCK"
HASH_VAR = "PIPEFORM_ENVIRONMENT_HASH"
NAME_VAR = "PIPEFORM_ENVIRONMENT"


class LaunchError(RuntimeError):
    pass


def hold_in_use(root: str, key: str) -> int:
    """A shared lock on `<key>.inuse`, kept by the run (the fd survives exec) until it exits."""
    os.makedirs(root, exist_ok=True)
    fd = os.open(os.path.join(root, f"{key}.inuse"), os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_SH)
    os.set_inheritable(fd, True)
    return fd


def _environment(text: str, expected: str | None) -> str:
    found = paths.lock_hash(text)
    if expected and found != expected:
        raise LaunchError(f"the environment lock does not match its hash {expected} (got {found})")
    why = paths.target_mismatch(text)
    if why:
        name = os.environ.get(NAME_VAR) or "(flow plugins)"
        raise LaunchError(
            f"Environment {name!r} cannot run on this worker: {why}. Set the Environment's `python` /"
            " `python_platform` to the workers' and apply again, or run it on a matching worker."
        )
    root = paths.environments_dir()
    key = paths.env_key(found)
    hold_in_use(str(root), key)
    path = root / key
    if not paths.is_ready(path):
        from .venvs import ensure, lock_from_text

        return str(ensure(lock_from_text(text, expected)))
    (root / f"{key}.used").touch()
    return str(path)


def report_failure(message: str) -> None:
    """Best effort: the run's state on the server says why (the worker would only say "exit code 1")."""
    import urllib.request  # not on the warm path (http.client, ssl: tens of ms)

    run_id, api = os.environ.get("PREFECT__FLOW_RUN_ID"), os.environ.get("PREFECT_API_URL")
    if not run_id or not api:
        return
    body = {"state": {"type": "FAILED", "name": "Failed", "message": f"pipeform: {message}"}, "force": True}
    headers = {"Content-Type": "application/json"}
    if os.environ.get("PREFECT_API_KEY"):
        headers["Authorization"] = f"Bearer {os.environ['PREFECT_API_KEY']}"
    request = urllib.request.Request(
        f"{api.rstrip('/')}/flow_runs/{run_id}/set_state", json.dumps(body).encode(), headers, method="POST"
    )
    try:
        urllib.request.urlopen(request, timeout=15).close()
    except OSError as exc:
        print(f"pipeform: could not report the failure to the server: {exc}", file=sys.stderr)


def main() -> int:
    text = os.environ.get(LOCK_VAR)
    if not text:
        print(f"pipeform: ${LOCK_VAR} is not set; nothing to run in", file=sys.stderr)
        return 2
    try:
        path = _environment(text, os.environ.get(HASH_VAR))
    except (RuntimeError, OSError) as exc:  # LaunchError, EnvironmentBuildError are RuntimeErrors
        message = str(exc) if isinstance(exc, LaunchError) else f"cannot build the flow run's environment: {exc}"
        print(f"pipeform: {message}", file=sys.stderr)
        report_failure(message)
        return 1
    python = os.path.join(path, "bin", "python")
    env = {k: v for k, v in os.environ.items() if k not in (LOCK_VAR, "PYTHONPATH", "PYTHONHOME")}
    env["VIRTUAL_ENV"] = path
    env["PATH"] = f"{os.path.join(path, 'bin')}{os.pathsep}{env.get('PATH', '')}"
    sys.stdout.flush()
    os.execve(python, [python, "-m", "prefect.engine"], env)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
