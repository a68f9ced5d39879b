"""`pipeform trigger`: start a run of a deployment on the server and (by default) wait for it."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import typer

from pipeform.cli.app import app
from pipeform.cli.common import STATE_DIR, Exit, connect, console, die, parse_params

if TYPE_CHECKING:
    from prefect.client.schemas.objects import FlowRun


@app.command("trigger")
def trigger_cmd(
    deployment: str = typer.Argument(..., help="Deployment as FLOW/DEPLOYMENT, e.g. hello/hello-every-hour."),
    param: list[str] = typer.Option([], "--param", "-p", help="Run parameter KEY=VALUE (JSON values allowed)."),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Wait for the run to end."),
    timeout: float = typer.Option(600, "--timeout", help="Seconds to wait at most."),
    state_dir: str | None = STATE_DIR,
) -> None:
    """Run a deployment through its work pool; exits 1 unless the run completes."""
    if "/" not in deployment:
        die(f"deployment must be FLOW/DEPLOYMENT, got {deployment!r}")
    params = parse_params(param)
    api_url = connect(state_dir)
    from prefect.client.schemas.objects import FlowRun
    from prefect.deployments import run_deployment
    from prefect.exceptions import ObjectNotFound

    from pipeform.ui import flow_run_page

    try:
        started = run_deployment(deployment, parameters=params or None, timeout=0)
    except ObjectNotFound:
        die(f"no deployment {deployment!r} on the server")
    # Prefect's async_dispatch types it "FlowRun or a coroutine"; outside an event loop it is the run.
    if not isinstance(started, FlowRun):
        raise TypeError(f"run_deployment returned {type(started).__name__}, not a FlowRun")
    run = started
    console.print(f"flow run [bold]{run.name}[/bold] ({run.id}): {flow_run_page(api_url, str(run.id))}")
    if not wait:
        return
    run = _wait(run, timeout)
    state = run.state
    console.print(f"flow run [bold]{run.name}[/bold]: {state.name if state else 'unknown'}")
    if state is None or not state.is_completed():
        die(f"the run did not complete (state: {state.name if state else 'unknown'})")
    raise typer.Exit(Exit.OK)


def _wait(run: FlowRun, timeout: float, poll_s: float = 2.0) -> FlowRun:
    """The run once it reached a final state, or as it is after `timeout` seconds."""
    from prefect.client.orchestration import get_client

    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while True:
            run = client.read_flow_run(run.id)
            if (run.state and run.state.is_final()) or time.monotonic() > deadline:
                return run
            time.sleep(poll_s)
