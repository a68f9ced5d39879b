"""The command a process worker runs for a deployment with an Environment:

    python -m pipeform.environments.launch

It reads the lock from $PIPEFORM_ENVIRONMENT_LOCK (checked against
$PIPEFORM_ENVIRONMENT_HASH), makes sure the environment exists, and replaces itself with
that environment's `python -m prefect.engine`: same pid (the worker's cancellation and
exit code work as for its own engine command), same environment variables
(PREFECT__FLOW_RUN_ID among them), same working directory. The warm path imports only
the standard library (paths.py); building (venvs.py, uv) happens on the first run only.
"""

from __future__ import annotations

import os
import sys

from . import paths

LOCK_VAR = "PIPEFORM_ENVIRONMENT_LOCK"
HASH_VAR = "PIPEFORM_ENVIRONMENT_HASH"


def _environment(text: str, expected: str | None) -> str:
    found = paths.lock_hash(text)
    if expected and found != expected:
        raise RuntimeError(f"the environment lock does not match its hash {expected} (got {found})")
    root = paths.environments_dir()
    path = root / paths.env_key(found)
    if not paths.is_ready(path):
        from .venvs import ensure, lock_from_text

        return str(ensure(lock_from_text(text, expected)))
    (root / f"{path.name}.used").touch()
    return str(path)


def main() -> int:
    text = os.environ.get(LOCK_VAR)
    if not text:
        print(f"pipeform: ${LOCK_VAR} is not set; nothing to run in", file=sys.stderr)
        return 2
    try:
        path = _environment(text, os.environ.get(HASH_VAR))
    except (RuntimeError, OSError) as exc:  # EnvironmentBuildError is a RuntimeError
        print(f"pipeform: cannot build the flow run's environment: {exc}", file=sys.stderr)
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
