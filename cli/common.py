"""Helpers every command shares: exit codes, printing diagnostics, choosing the Prefect server."""

from __future__ import annotations

import json
import os
import sys
from enum import IntEnum
from typing import NoReturn

import typer
from rich.console import Console

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


# Every command that may start or reach the embedded server takes this option.
STATE_DIR = typer.Option(
    None, "--state-dir", help="Embedded server state directory (default .pipeform, or $PIPEFORM_STATE_DIR)."
)


class Exit(IntEnum):
    OK = 0
    FAILED = 1  # invalid input or a failed operation
    CHANGES = 2  # plan --detailed-exitcode: changes present
    SUSPENDED = 3  # sync status: syncing is suspended


def connect(state_dir: str | None = None) -> str:
    """Point this process at a Prefect server (configured, or the embedded one) and return its API URL.

    Must run before anything imports Prefect: Prefect reads its settings once per process.
    """
    from pipeform import server

    try:
        info = server.ensure_server(state_dir)
    except server.ServerStartError as exc:  # a clear message naming the log, not a traceback
        die(str(exc))
    if info.pid is not None and not os.environ.get("PREFECT_API_URL"):
        err_console.print(f"[dim]Using the embedded Prefect server; UI at {info.ui_url}[/dim]")
    server.use_server(info)
    if "prefect" in sys.modules:
        # Prefect was already imported (schedule checks) and read its settings: make its
        # process-global settings pick up the environment again.
        import prefect.context

        prefect.context.refresh_global_settings_context()
    return info.url


def die(message: str, code: int = Exit.FAILED) -> NoReturn:
    err_console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code)


def parse_params(pairs: list[str], option: str = "--param") -> dict[str, object]:
    """`--param KEY=VALUE` (or `option`) options: VALUE parsed as JSON when it is JSON, else kept as text."""
    params: dict[str, object] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            die(f"{option} expects KEY=VALUE, got {pair!r}")
        try:
            params[key] = json.loads(raw)
        except ValueError:
            params[key] = raw
    return params
