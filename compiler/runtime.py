"""What compiled tasks run: shell commands with streamed logs, the skip marker, hooks.
Imports Prefect (runs inside flow runs)."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections import deque
from typing import Any

from prefect import get_run_logger

TAIL_LINES = 20


class ShellError(RuntimeError):
    pass


def run_shell(
    command: str,
    env: dict[str, str] | None = None,
    cwd: str | None = None,
    capture: str = "stdout",
    stream: bool = True,
) -> Any:
    """Run /bin/sh -c COMMAND; log each stdout/stderr line as it arrives; fail with the exit
    code and the last lines when it exits non-zero."""
    logger = get_run_logger()
    proc = subprocess.Popen(
        ["/bin/sh", "-c", command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        cwd=cwd or None,
        env={**os.environ, **(env or {})},
        text=True,
        bufsize=1,
    )
    out: list[str] = []
    tail: deque[str] = deque(maxlen=TAIL_LINES)

    def pump(pipe, sink: list[str] | None, level: int) -> None:
        for line in pipe:
            line = line.rstrip("\n")
            tail.append(line)
            if sink is not None:
                sink.append(line)
            if stream:
                logger.log(level, line)

    err_thread = threading.Thread(target=pump, args=(proc.stderr, None, 30), daemon=True)
    err_thread.start()
    pump(proc.stdout, out, 20)
    err_thread.join()
    code = proc.wait()
    if code != 0:
        raise ShellError(f"command exited with code {code}; last output:\n" + "\n".join(tail))
    if capture == "none":
        return None
    if capture == "lines":
        return out
    text = "\n".join(out)
    return json.loads(text) if capture == "json" else text


def import_callable(path: str):
    """`package.module:attr.sub` -> object."""
    import importlib

    module_name, _, attr = path.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj
