"""`pipeform sync`: the GitOps controller, its status and its suspend switch."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from pipeform.cli.app import app
from pipeform.cli.common import STATE_DIR, Exit, connect, console, die

if TYPE_CHECKING:
    from pipeform.reconciler.api import ServerAPI
    from pipeform.sync.status import Status

T = TypeVar("T")

sync_app = typer.Typer(help="Keep a Prefect server in sync with a git repository.")
app.add_typer(sync_app, name="sync")


@sync_app.callback(invoke_without_command=True)
def sync_cmd(
    ctx: typer.Context,
    repo: str | None = typer.Option(None, "--repo", help="Git URL or local path of the repository."),
    branch: str | None = typer.Option(None, "--branch", help="Branch to follow (default: the remote's default)."),
    path: str = typer.Option("", "--path", help="Folder of the specs inside the repository."),
    env: str | None = typer.Option(None, "--env", "-e", help="Overlay to apply."),
    interval: float = typer.Option(60.0, "--interval", help="Seconds between cycles (jittered +-10 %)."),
    resync: float = typer.Option(600.0, "--resync", help="Seconds between full comparisons with the server."),
    prune: bool = typer.Option(False, "--prune", help="Delete owned objects that left the specs."),
    self_heal: bool = typer.Option(False, "--self-heal", help="Put back owned objects changed on the server."),
    listen: str | None = typer.Option(None, "--listen", help="HOST:PORT for webhooks, /healthz, /readyz, /metrics."),
    lock_timeout: float = typer.Option(30.0, "--lock-timeout", help="Seconds to wait for another apply's lock."),
    lease: float = typer.Option(
        90.0, "--lease", help="Seconds a standby waits for a leader on another host to renew before taking over."
    ),
    state_dir: str | None = typer.Option(None, "--state-dir", help="State directory (mirror, checkouts)."),
) -> None:
    """Run the controller in the foreground: fetch, validate, plan and apply each new commit,
    for every project under --path (each with its own status, lock and failures)."""
    if ctx.invoked_subcommand is not None:
        return
    if not repo:
        die("--repo is required")
    if interval <= 0 or resync <= 0:
        die("--interval and --resync must be positive")
    if lease < 3:
        die("--lease must be at least 3 seconds")
    connect(state_dir)
    from pipeform import server
    from pipeform.sync.controller import Options
    from pipeform.sync.listen import parse_listen
    from pipeform.sync.run import run

    if listen:
        try:
            parse_listen(listen)
        except ValueError as exc:
            die(str(exc))
    if os.path.isdir(repo):
        repo = os.path.abspath(repo)
    opts = Options(repo, branch, path, env, interval, resync, prune, self_heal, lock_timeout, lease)
    raise typer.Exit(asyncio.run(run(opts, server.state_dir(state_dir), listen)))


PROJECT = typer.Option(..., "--project", "-p", help="Project name.")
ENV = typer.Option(None, "--env", "-e", help="Overlay.")


def _call(coro_fn: Callable[[ServerAPI], Awaitable[T]]) -> T:
    from pipeform.reconciler.api import ApiError, ServerAPI

    async def go() -> T:
        async with ServerAPI.from_env() as api:
            return await coro_fn(api)

    try:
        return asyncio.run(go())
    except ApiError as exc:
        die(f"the Prefect server refused a request: {exc}")
    except OSError as exc:
        die(f"cannot reach the Prefect server: {exc}")


@sync_app.command("status")
def status_cmd(
    project: str = PROJECT,
    env: str | None = ENV,
    output: str = typer.Option("human", "--output", "-o", help="human or json."),
    state_dir: str | None = STATE_DIR,
) -> None:
    """The last sync's status from the server. Exit 0: synced; 1: failed or unknown; 2: drifted; 3: suspended."""
    connect(state_dir)
    from pipeform.sync import status as st

    async def go(api: ServerAPI) -> tuple[Status | None, dict[str, Any] | None]:
        return await st.read_status(api, project, env), await st.read_suspended(api, project, env)

    found, suspended = _call(go)
    if found is None:
        die(f"no sync status for project {project!r}" + (f" env {env!r}" if env else ""))
    if output == "json":
        console.out(json.dumps({**found.to_json(), "suspended": suspended}, indent=2), highlight=False)
    else:
        console.print(f"project {found.project}" + (f" (env {found.env})" if found.env else ""))
        console.print(f"outcome: {found.outcome} at {found.time}")
        console.print(f"live commit: {found.live_commit or 'none'} since {found.live_since or '-'}")
        console.print(f"last commit seen: {found.commit or '-'}")
        if suspended:
            console.print(f"[yellow]suspended[/yellow] by {suspended.get('by')} since {suspended.get('since')}")
        for title, items in (("changes", found.changes), ("drift", found.drift), ("failures", found.failures)):
            for item in items:
                console.print(f"  {title[:-1] if title != 'drift' else 'drift'}: {item}", markup=False)
    if suspended:
        raise typer.Exit(Exit.SUSPENDED)
    codes = {st.SUCCEEDED: Exit.OK, st.DRIFTED: Exit.CHANGES, st.SUSPENDED: Exit.SUSPENDED}
    raise typer.Exit(codes.get(found.outcome, Exit.FAILED))


def _switch(project: str, env: str | None, suspended: bool, reason: str, state_dir: str | None) -> None:
    connect(state_dir)
    from pipeform.sync import status as st

    _call(lambda api: st.set_suspended(api, project, env, suspended, reason))
    where = project + (f" (env {env})" if env else "")
    console.print(f"syncing of {where} {'suspended' if suspended else 'resumed'}")


@sync_app.command("suspend")
def suspend_cmd(
    project: str = PROJECT,
    env: str | None = ENV,
    reason: str = typer.Option("", "--reason"),
    state_dir: str | None = STATE_DIR,
) -> None:
    """Stop every controller from changing this project (kept on the server) until resume."""
    _switch(project, env, True, reason, state_dir)


@sync_app.command("resume")
def resume_cmd(project: str = PROJECT, env: str | None = ENV, state_dir: str | None = STATE_DIR) -> None:
    """Let controllers sync this project again (picking up what was pushed meanwhile)."""
    _switch(project, env, False, "", state_dir)
