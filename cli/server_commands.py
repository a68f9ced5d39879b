"""server start|stop|status and worker start|stop: the embedded default backend."""

from __future__ import annotations

import typer

from pipeform.cli.app import app
from pipeform.cli.common import Exit, console, die

server_app = typer.Typer(help="The embedded local Prefect server (SQLite, under .pipeform/).", no_args_is_help=True)
worker_app = typer.Typer(help="Local Prefect process workers for the embedded server.", no_args_is_help=True)
app.add_typer(server_app, name="server")
app.add_typer(worker_app, name="worker")

STATE_HELP = "State directory (default .pipeform or $PIPEFORM_STATE_DIR)."


@server_app.command("start")
def server_start(state_dir: str | None = typer.Option(None, "--state-dir", help=STATE_HELP)) -> None:
    """Start the local server, or reuse the one already running."""
    import os

    from pipeform import server

    if os.environ.get("PREFECT_API_URL"):
        die("PREFECT_API_URL is set: pipeform uses that server and starts none")
    try:
        info = server.ensure_server(state_dir)
    except RuntimeError as exc:
        die(str(exc))
    console.print(f"Prefect server running: API {info.url}  UI {info.ui_url}  (pid {info.pid})")


@server_app.command("stop")
def server_stop(state_dir: str | None = typer.Option(None, "--state-dir", help=STATE_HELP)) -> None:
    """Stop the local server (and its workers)."""
    from pipeform import server, worker

    worker.stop_workers(server.state_dir(state_dir))
    info = server.stop_server(state_dir)
    console.print(f"stopped the server at {info.url}" if info else "no local server was recorded")


@server_app.command("status")
def server_status(state_dir: str | None = typer.Option(None, "--state-dir", help=STATE_HELP)) -> None:
    """Is the local server running? Exit 1 when not."""
    from pipeform import server

    info = server.read_recorded(server.state_dir(state_dir))
    if info is None or not server.is_healthy(info.url):
        console.print("no local Prefect server is running")
        raise typer.Exit(Exit.FAILED)
    console.print(f"running: API {info.url}  UI {info.ui_url}  (pid {info.pid})")


@worker_app.command("start")
def worker_start(
    pool: str = typer.Option(..., "--pool", help="Work pool to poll."),
    state_dir: str | None = typer.Option(None, "--state-dir", help=STATE_HELP),
) -> None:
    """Start a process worker in the background against the configured (or embedded) server."""
    import os

    from pipeform import server, worker

    info = server.ensure_server(state_dir)
    pid = worker.start_worker(pool, info, server.state_dir(state_dir))
    console.print(
        f"worker for pool {pool!r} running (pid {pid}); logs in {server.state_dir(state_dir)}/worker-{pool}.log"
    )
    _ = os


@worker_app.command("stop")
def worker_stop(
    pool: str | None = typer.Option(None, "--pool", help="Only this pool's worker."),
    state_dir: str | None = typer.Option(None, "--state-dir", help=STATE_HELP),
) -> None:
    """Stop background workers."""
    from pipeform import server, worker

    stopped = worker.stop_workers(server.state_dir(state_dir), pool)
    console.print(f"stopped: {', '.join(stopped)}" if stopped else "no worker was running")
