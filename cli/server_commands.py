"""server start|stop|status and worker start|stop: the embedded default backend."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import typer

from pipeform.cli.app import app
from pipeform.cli.common import STATE_DIR, Exit, console, die, err_console

if TYPE_CHECKING:
    from pipeform.server import ServerInfo

server_app = typer.Typer(help="The embedded local Prefect server (SQLite, under .pipeform/).", no_args_is_help=True)
worker_app = typer.Typer(help="Local Prefect process workers.", no_args_is_help=True)
app.add_typer(server_app, name="server")
app.add_typer(worker_app, name="worker")


@server_app.command("start")
def server_start(
    state_dir: str | None = STATE_DIR,
    host: str | None = typer.Option(
        None, "--host", help="Address to bind (default $PIPEFORM_SERVER_HOST or 127.0.0.1)."
    ),
    port: int | None = typer.Option(None, "--port", help="Port to bind (default: the last one, else a free one)."),
) -> None:
    """Start the local server, or reuse the one already running."""
    from pipeform import server

    if os.environ.get("PREFECT_API_URL"):
        die("PREFECT_API_URL is set: pipeform uses that server and starts none")
    before = server.read_recorded(server.state_dir(state_dir))
    try:
        info = server.ensure_server(state_dir, host=host, port=port)
    except server.ServerStartError as exc:
        die(str(exc))
    verb = "already running" if before is not None and before.pid == info.pid else "started"
    console.print(f"Prefect server {verb}: UI {info.ui_url}  API {info.url}  pid {info.pid}")


@server_app.command("stop")
def server_stop(state_dir: str | None = STATE_DIR) -> None:
    """Stop the local server and the workers started for it."""
    from pipeform import server, worker

    stopped = worker.stop_workers(server.state_dir(state_dir))
    if stopped:
        console.print(f"stopped workers: {', '.join(stopped)}")
    info = server.stop_server(state_dir)
    console.print(f"stopped the server at {info.ui_url} (pid {info.pid})" if info else "no local server was recorded")


@server_app.command("status")
def server_status(state_dir: str | None = STATE_DIR) -> None:
    """UI and API addresses, pid and health of the server. Exit 1 when it is not running."""
    from pipeform import server, worker

    configured = os.environ.get("PREFECT_API_URL")
    if configured:  # pipeform uses that server, not a local one
        remote = server.ServerInfo(url=configured.rstrip("/"), pid=None, home=None)
        healthy = server.is_healthy(remote.url)
        _print_addresses(remote)
        console.print(f"health: {'healthy' if healthy else 'not answering'} (PREFECT_API_URL)")
        raise typer.Exit(Exit.OK if healthy else Exit.FAILED)
    state = server.state_dir(state_dir)
    info, alive, healthy = server.server_status(state_dir)
    if info is None:
        console.print(f"no local Prefect server is recorded in {state}")
        raise typer.Exit(Exit.FAILED)
    health = "healthy" if healthy else "not answering"
    process = "running" if alive else "not running"
    _print_addresses(info, check_ui=healthy)
    console.print(f"pid:    {info.pid} ({process})")
    console.print(f"health: {health}")
    if info.log:
        console.print(f"log:    {info.log}")
    for pool, pid in worker.recorded_workers(state).items():
        console.print(f"worker: pool {pool} pid {pid} ({'running' if worker.is_our_worker(pid, pool) else 'gone'})")
    if not (alive and healthy):
        raise typer.Exit(Exit.FAILED)


def _print_addresses(info: ServerInfo, check_ui: bool = False) -> None:
    from pipeform import ui

    console.print(f"UI:     {info.ui_url}")
    console.print(f"API:    {info.url}")
    told = (ui.ui_settings(info.ui_url) or {}).get("api_url") if check_ui else None
    if told and str(told).rstrip("/") != info.url:  # e.g. a server started by an older pipeform
        err_console.print(
            f"[yellow]warning:[/yellow] the UI calls the API at {told}, not {info.url}: restart the server "
            "(pipeform server stop, then pipeform server start)"
        )


@server_app.command("open")
def server_open(state_dir: str | None = STATE_DIR) -> None:
    """Open the Prefect UI in a browser (starting the local server if needed); prints the URL."""
    import webbrowser

    from pipeform import server

    try:
        info = server.ensure_server(state_dir)
    except server.ServerStartError as exc:
        die(str(exc))
    try:
        opened = webbrowser.open(info.ui_url)
    except webbrowser.Error:
        opened = False
    if opened:
        console.print(f"opened {info.ui_url} in the browser")
    else:
        console.print(f"no browser could be opened here; the Prefect UI is at {info.ui_url}")


@worker_app.command("start")
def worker_start(
    pool: str = typer.Option(..., "--pool", help="Work pool to poll (created as a process pool if missing)."),
    state_dir: str | None = STATE_DIR,
    foreground: bool = typer.Option(False, "--foreground", help="Run in this terminal until Ctrl-C."),
    run_once: bool = typer.Option(False, "--run-once", help="Poll once, run what is due, exit (foreground)."),
) -> None:
    """Start a process worker against the configured (or embedded) server, in the background
    unless --foreground or --run-once."""
    from pipeform import server, worker

    try:
        info = server.ensure_server(state_dir)
    except server.ServerStartError as exc:
        die(str(exc))
    for name in _collect_environments(info.url):
        console.print(f"[dim]removed unused environment {name}[/dim]")
    if foreground or run_once:
        raise typer.Exit(worker.run_worker(pool, info, run_once=run_once))
    state = server.state_dir(state_dir)
    try:
        pid, started = worker.start_worker(pool, info, state)
    except worker.WorkerStartError as exc:
        die(str(exc))
    verb = "started" if started else "already running"
    console.print(f"worker for pool {pool!r} {verb} (pid {pid}); log {worker.log_path(state, pool)}")


def _collect_environments(url: str) -> list[str]:
    """Per-flow environments no deployment on the server uses (an hour after their last run);
    by idle time (a week) when the server cannot be read."""
    from pipeform.cli.env_commands import server_references
    from pipeform.environments import venvs

    try:
        referenced = server_references(url)
    except Exception:  # the worker starts anyway; gc falls back to idle time
        return venvs.gc()
    return venvs.gc(referenced)


@worker_app.command("stop")
def worker_stop(
    pool: str | None = typer.Option(None, "--pool", help="Only this pool's worker."),
    state_dir: str | None = STATE_DIR,
) -> None:
    """Stop background workers."""
    from pipeform import server, worker

    stopped = worker.stop_workers(server.state_dir(state_dir), pool)
    console.print(f"stopped workers: {', '.join(stopped)}" if stopped else "no worker was running")
