"""plan, apply: commands of the reconciler stage."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import typer

from pipeform.cli.app import app
from pipeform.cli.common import Exit, connect, console, die, err_console


def _project(paths: list[Path], env: str | None):
    from pipeform.cli.spec_commands import print_diagnostics
    from pipeform.spec import load_project

    project, diagnostics = load_project(paths, env)
    if project is None:
        print_diagnostics(diagnostics)  # nothing is sent to the server when a spec has an error
        raise typer.Exit(Exit.FAILED)
    return project


def _api():
    from pipeform.reconciler.api import ServerAPI

    return ServerAPI.from_env()


@app.command("plan")
def plan_cmd(
    paths: list[Path] = typer.Argument(..., help="Spec files or folders."),
    env: str | None = typer.Option(None, "--env", "-e", help="Overlay to apply."),
    output: str = typer.Option("human", "--output", "-o", help="human or json."),
    out: Path | None = typer.Option(None, "--out", help="Save the plan (JSON) for `pipeform apply PLAN.json`."),
    detailed_exitcode: bool = typer.Option(
        False, "--detailed-exitcode", help="Exit 0: no changes, 1: error, 2: changes."
    ),
    prune: bool = typer.Option(False, "--prune", help="Also plan deleting owned objects that left the specs."),
    allow_empty: bool = typer.Option(False, "--allow-empty", help="With --prune, allow deleting every owned object."),
    adopt: bool = typer.Option(False, "--adopt", help="Take over existing objects of the same name."),
    target: list[str] = typer.Option([], "--target", help="Only this address (repeatable), e.g. deployment.flow/name."),
    state_dir: str | None = typer.Option(None, "--state-dir", help="Embedded server state directory."),
) -> None:
    """Show what apply would change on the server."""
    from pipeform.reconciler.engine import plan_project
    from pipeform.reconciler.model import plan_to_json
    from pipeform.reconciler.render import plan_text

    project = _project(paths, env)
    connect(state_dir)

    async def go():
        async with _api() as api:
            return await plan_project(
                api, project, prune=prune, allow_empty=allow_empty, adopt=adopt, targets=tuple(target)
            )

    plan, _ = _run(go())
    data = plan_to_json(plan)
    if out:
        out.write_text(json.dumps(data, indent=2))
    if output == "json":
        console.out(json.dumps(data, indent=2), highlight=False)
    else:
        console.print(plan_text(plan))
    if plan.errors:
        raise typer.Exit(Exit.FAILED)
    raise typer.Exit(Exit.CHANGES if detailed_exitcode and plan.pending else Exit.OK)


@app.command("apply")
def apply_cmd(
    paths: list[Path] = typer.Argument(..., help="Spec files or folders, or one saved plan (.json)."),
    env: str | None = typer.Option(None, "--env", "-e", help="Overlay to apply."),
    auto_approve: bool = typer.Option(False, "--auto-approve", help="Apply without asking (CI)."),
    prune: bool = typer.Option(False, "--prune", help="Delete owned objects that left the specs."),
    allow_empty: bool = typer.Option(False, "--allow-empty", help="With --prune, allow deleting every owned object."),
    adopt: bool = typer.Option(False, "--adopt", help="Take over existing objects of the same name."),
    target: list[str] = typer.Option([], "--target", help="Only this address (repeatable)."),
    lock_timeout: float = typer.Option(0.0, "--lock-timeout", help="Seconds to wait for another apply's lock."),
    state_dir: str | None = typer.Option(None, "--state-dir", help="Embedded server state directory."),
) -> None:
    """Make the server match the specs: plan, confirm, apply under a lock."""
    from pipeform.reconciler.lock import LockedError
    from pipeform.reconciler.render import outcome_line, plan_text

    saved = len(paths) == 1 and paths[0].suffix == ".json"
    project = None if saved else _project(paths, env)
    connect(state_dir)

    def confirm(plan) -> bool:
        console.print(plan_text(plan))
        if auto_approve:
            return True
        if not sys.stdin.isatty():
            err_console.print("[red]error:[/red] not a terminal; pass --auto-approve to apply without asking")
            return False
        return typer.confirm("Apply these changes?", default=False)

    def progress(o) -> None:
        console.print(outcome_line(o))

    async def go():
        async with _api() as api:
            if saved:
                return await _apply_saved(api, paths[0], lock_timeout, confirm, progress)
            from pipeform.reconciler.engine import apply_project

            return await apply_project(
                api,
                project,
                confirm=confirm,
                prune=prune,
                allow_empty=allow_empty,
                adopt=adopt,
                targets=tuple(target),
                lock_timeout=lock_timeout,
                progress=progress,
            )

    try:
        plan, outcomes = _run(go())
    except LockedError as exc:
        die(str(exc))
    if plan.errors:
        console.print(plan_text(plan))
        raise typer.Exit(Exit.FAILED)
    if outcomes is None:
        die("nothing applied")
    if not outcomes:
        console.print(plan_text(plan) if not plan.pending else "[green]No changes.[/green]")
        raise typer.Exit(Exit.OK)
    failed = [o for o in outcomes if not o.ok]
    done = len(outcomes) - len(failed)
    color = "red" if failed else "green"
    console.print(f"[{color}]Apply complete: {done} changed, {len(failed)} failed.[/{color}]")
    for o in failed:
        err_console.print(f"  [red]failed[/red] {o.address}: {o.error}")
    raise typer.Exit(Exit.FAILED if failed else Exit.OK)


async def _apply_saved(api, path: Path, lock_timeout: float, confirm, progress):
    from pipeform.reconciler.apply import apply_plan
    from pipeform.reconciler.lock import acquire
    from pipeform.reconciler.model import fingerprint, plan_from_json
    from pipeform.reconciler.observe import observe

    try:
        plan = plan_from_json(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError) as exc:
        die(f"{path}: not a pipeform plan ({exc})")
    if plan.server.rstrip("/") != api.url:
        die(f"this plan was made for {plan.server}, not {api.url}")
    if not plan.pending:
        return plan, ()
    lease = await acquire(api, plan.project, lock_timeout)
    try:
        actual = await observe(api, plan.project, plan.env)
        if fingerprint(list(actual.resources)) != plan.actual_fingerprint:
            die("the server changed since this plan was saved; run `pipeform plan` again")
        if not confirm(plan):
            return plan, None
        return plan, await apply_plan(api, plan, actual.inventory, progress)
    finally:
        await lease.release()


def _run(coro):
    from pipeform.reconciler.api import ApiError

    try:
        return asyncio.run(coro)
    except ApiError as exc:
        die(f"the Prefect server refused a request: {exc}")
    except OSError as exc:
        die(f"cannot reach the Prefect server: {exc}")
