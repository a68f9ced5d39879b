"""plan, apply, diff, import: commands of the reconciler stage."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from pipeform.cli.app import app
from pipeform.cli.common import STATE_DIR, Exit, connect, console, die, err_console
from pipeform.cli.projects import heading, load_one, load_projects

if TYPE_CHECKING:  # the stages are imported when a command runs (the CLI starts without them)
    from pipeform.reconciler.api import ServerAPI
    from pipeform.reconciler.apply import Outcome
    from pipeform.reconciler.changes import ResourceChange
    from pipeform.reconciler.importer import Imported
    from pipeform.reconciler.plan import Plan
    from pipeform.spec.project import Project

T = TypeVar("T")

ENV = typer.Option(None, "--env", "-e", help="Overlay to apply.")
TARGET = typer.Option([], "--target", help="Only this address (repeatable), e.g. deployment.flow/name.")


UNTRUSTED_HELP = "Guarantee that no user code runs (also PIPEFORM_UNTRUSTED=1): for specs from pull requests."


def _exec_policy(allow_exec: bool, untrusted: bool) -> None:
    import os

    from pipeform.spec import entrypoints

    if untrusted:
        os.environ[entrypoints.UNTRUSTED_ENV] = "1"  # also for anything this process starts
    if allow_exec and untrusted:
        die("--allow-exec and --untrusted contradict each other")
    entrypoints.set_exec_policy(allow_exec and not entrypoints.untrusted())


def _print_notes() -> None:
    from pipeform.spec import entrypoints

    for note in entrypoints.take_notes():
        err_console.print(f"[yellow]note:[/yellow] {note}")


def _api() -> ServerAPI:
    from pipeform.reconciler.api import ServerAPI

    return ServerAPI.from_env()


def _run(coro: Coroutine[Any, Any, T]) -> T:
    from pipeform.reconciler.api import ApiError
    from pipeform.reconciler.engine import StaleError
    from pipeform.reconciler.lock import LockedError
    from pipeform.spec.diagnostics import SpecError
    from pipeform.spec.entrypoints import EntrypointError

    try:
        return asyncio.run(coro)
    except SpecError as exc:  # found while gathering inputs (an unset from_env, an Environment that cannot be locked)
        from pipeform.cli.spec_commands import print_diagnostics

        print_diagnostics(exc.diagnostics)
        raise typer.Exit(Exit.FAILED) from None
    except (LockedError, StaleError) as exc:
        die(str(exc))
    except ApiError as exc:
        die(f"the Prefect server refused a request: {exc}")
    except EntrypointError as exc:  # before OSError: a missing file is not a network problem
        die(str(exc))
    except OSError as exc:
        die(f"cannot reach the Prefect server: {exc}")


@app.command("plan")
def plan_cmd(
    paths: list[Path] = typer.Argument(..., help="Spec files or folders."),
    env: str | None = ENV,
    output: str = typer.Option(
        "human", "--output", "-o", help="human, json, markdown (for a pull request) or github (annotations)."
    ),
    out: Path | None = typer.Option(None, "--out", help="Save the plan (JSON) for `pipeform apply PLAN.json`."),
    detailed_exitcode: bool = typer.Option(
        False, "--detailed-exitcode", help="Exit 0: no changes, 1: error, 2: changes."
    ),
    prune: bool = typer.Option(False, "--prune", help="Also plan deleting owned objects that left the specs."),
    allow_empty: bool = typer.Option(False, "--allow-empty", help="With --prune, allow deleting every owned object."),
    adopt: bool = typer.Option(False, "--adopt", help="Take over existing objects of the same name."),
    target: list[str] = TARGET,
    allow_exec: bool = typer.Option(
        False,
        "--allow-exec",
        help="Run a Python entrypoint's top level when its parameter types cannot be read statically.",
    ),
    untrusted: bool = typer.Option(False, "--untrusted", help=UNTRUSTED_HELP),
    state_dir: str | None = STATE_DIR,
) -> None:
    """Show what apply would change on the server (secrets masked)."""
    if output not in ("human", "json", "markdown", "github"):
        die(f"--output must be human, json, markdown or github, not {output!r}")
    _exec_policy(allow_exec, untrusted)
    connect(state_dir)
    one = out is not None or output != "human"  # one saved plan / one document per run
    projects = [load_one(paths, env, "--out or --output json/markdown/github")] if one else load_projects(paths, env)
    from pipeform.reconciler.engine import plan_project
    from pipeform.reconciler.render import plan_text

    async def go(project: Project) -> tuple[Plan, frozenset[str]]:
        async with _api() as api:
            return await plan_project(
                api, project, prune=prune, allow_empty=allow_empty, adopt=adopt, targets=tuple(target)
            )

    from pipeform.masking import scrub

    failed = changes = False
    for project in projects:
        heading(project, len(projects) > 1)
        plan, _ = _run(go(project))
        _print_notes()
        text = json.dumps(plan.to_json(), indent=2)
        if out:
            if scrub(text, project.secrets) != text:  # masked, it would apply "(sensitive)"; plain, it leaks
                die("the plan holds the value of a sensitive environment variable (spec.env); it is not saved")
            out.write_text(text)
        if output == "json":
            console.out(scrub(text, project.secrets), highlight=False)
        elif output in ("markdown", "github"):
            _print_for_ci(plan, output, project.secrets)
        else:
            console.print(scrub(plan_text(plan), project.secrets))
        failed, changes = failed or bool(plan.errors), changes or bool(plan.pending)
    if failed:
        raise typer.Exit(Exit.FAILED)
    raise typer.Exit(Exit.CHANGES if detailed_exitcode and changes else Exit.OK)


def _print_for_ci(plan: Plan, output: str, secrets: frozenset[str]) -> None:
    """Markdown, or GitHub annotations plus the Markdown in the job summary ($GITHUB_STEP_SUMMARY)."""
    import os

    from pipeform.masking import scrub
    from pipeform.reconciler.render_markdown import plan_github, plan_markdown

    if output == "markdown":
        sys.stdout.write(scrub(plan_markdown(plan), secrets))
        return
    for line in plan_github(plan):
        sys.stdout.write(scrub(line, secrets) + "\n")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as fh:
            fh.write(scrub(plan_markdown(plan), secrets) + "\n")


@app.command("apply")
def apply_cmd(
    paths: list[Path] = typer.Argument(..., help="Spec files or folders, or one saved plan (.json)."),
    env: str | None = ENV,
    auto_approve: bool = typer.Option(False, "--auto-approve", help="Apply without asking (CI)."),
    prune: bool = typer.Option(False, "--prune", help="Delete owned objects that left the specs."),
    allow_empty: bool = typer.Option(False, "--allow-empty", help="With --prune, allow deleting every owned object."),
    adopt: bool = typer.Option(False, "--adopt", help="Take over existing objects of the same name."),
    target: list[str] = TARGET,
    lock_timeout: float = typer.Option(0.0, "--lock-timeout", help="Seconds to wait for another apply's lock."),
    untrusted: bool = typer.Option(False, "--untrusted", help=UNTRUSTED_HELP),
    build: bool = typer.Option(False, "--build", help="First build the Environments' images (`pipeform build`)."),
    state_dir: str | None = STATE_DIR,
) -> None:
    """Make the server match the specs: plan, confirm, apply under a lock."""
    _exec_policy(True, untrusted)
    connect(state_dir)
    saved = len(paths) == 1 and paths[0].suffix == ".json"
    projects: list[Project | None] = [None] if saved else [*load_projects(paths, env)]
    opts: dict[str, Any] = {"prune": prune, "allow_empty": allow_empty, "adopt": adopt, "targets": tuple(target)}
    codes: list[int] = []
    for project in projects:
        if project is not None:
            heading(project, len(projects) > 1)
        if build and project is not None:
            from pipeform.cli.env_commands import build_images

            try:
                build_images(project, Path(".pipeform/build"), push=True)
            except Exception as exc:  # BuildError, SpecError: one clear line, nothing applied
                die(str(exc))
        codes.append(_apply_one(project, paths[0] if saved else None, opts, auto_approve, lock_timeout))
    raise typer.Exit(max(codes))


def _apply_one(
    project: Project | None, saved: Path | None, opts: dict[str, Any], auto_approve: bool, lock_timeout: float
) -> int:
    """Apply one project's specs (or one saved plan); returns the exit code."""
    from pipeform.masking import scrub
    from pipeform.reconciler import engine
    from pipeform.reconciler.render import outcome_line, plan_text

    secrets = project.secrets if project else frozenset()

    def show(plan: Plan) -> str:
        return scrub(plan_text(plan), secrets)  # declared sensitive env values never printed

    def confirm(plan: Plan) -> bool:
        console.print(show(plan))
        if auto_approve:
            return True
        if not sys.stdin.isatty():
            err_console.print("[red]error:[/red] not a terminal; pass --auto-approve to apply without asking")
            return False
        confirmed: bool = typer.confirm("Apply these changes?", default=False)
        return confirmed

    def progress(o: Outcome) -> None:
        console.print(outcome_line(o))

    async def go() -> tuple[Plan, tuple[Outcome, ...] | None]:
        async with _api() as api:
            if saved is not None:
                plan = _load_plan(saved, api.url)
                return plan, await engine.apply_saved_plan(
                    api, plan, confirm=confirm, lock_timeout=lock_timeout, progress=progress
                )
            assert project is not None  # without a saved plan, apply_cmd passes a project
            return await engine.apply_project(
                api, project, confirm=confirm, lock_timeout=lock_timeout, progress=progress, **opts
            )

    plan, outcomes = _run(go())
    if plan.errors:
        console.print(show(plan))
        return Exit.FAILED
    if outcomes is None:
        err_console.print("[red]error:[/red] nothing applied")
        return Exit.FAILED
    if not outcomes:
        console.print(show(plan) if not plan.pending else "[green]No changes.[/green]")
        return Exit.OK
    failed = [o for o in outcomes if not o.ok]
    color = "red" if failed else "green"
    console.print(f"[{color}]Apply complete: {len(outcomes) - len(failed)} changed, {len(failed)} failed.[/{color}]")
    for o in failed:
        err_console.print(f"  [red]failed[/red] {o.address}: {scrub(str(o.error), secrets)}")
    _print_pages(outcomes)
    return Exit.FAILED if failed else Exit.OK


def _print_pages(outcomes: tuple[Outcome, ...]) -> None:
    """Where each written deployment is in the Prefect UI."""
    from pipeform.ui import deployment_pages, written_deployments

    async def go() -> list[tuple[str, str]]:
        async with _api() as api:
            return await deployment_pages(api, written_deployments(outcomes))

    for name, url in _run(go()):
        console.print(f"  deployment {name}: {url}")


def _load_plan(path: Path, server: str) -> Plan:
    from pipeform.reconciler.plan import Plan

    try:
        plan = Plan.from_json(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        die(f"{path}: not a pipeform plan ({exc})")
    if plan.server.rstrip("/") != server.rstrip("/"):
        die(f"this plan was made for {plan.server}, not {server}")
    return plan


@app.command("diff")
def diff_cmd(
    paths: list[Path] = typer.Argument(..., help="Spec files or folders."),
    env: str | None = ENV,
    target: list[str] = TARGET,
    detailed_exitcode: bool = typer.Option(False, "--detailed-exitcode", help="Exit 0: no drift, 1: error, 2: drift."),
    state_dir: str | None = STATE_DIR,
) -> None:
    """Show drift: objects pipeform owns that were changed or deleted on the server, or left the specs."""
    connect(state_dir)
    projects = load_projects(paths, env)
    from pipeform.reconciler import engine
    from pipeform.reconciler.render import drift_text

    async def go(project: Project) -> tuple[ResourceChange, ...]:
        async with _api() as api:
            return await engine.drift(api, project, tuple(target))

    from pipeform.masking import scrub

    drifted = False
    for project in projects:
        heading(project, len(projects) > 1)
        changes = _run(go(project))
        console.print(scrub(drift_text(changes), project.secrets))  # declared sensitive env values masked
        drifted = drifted or bool(changes)
    raise typer.Exit(Exit.CHANGES if detailed_exitcode and drifted else Exit.OK)


@app.command("import")
def import_cmd(
    outdir: Path = typer.Argument(..., help="Folder to write the YAML specs into."),
    kind: list[str] = typer.Option(
        [],
        "--kind",
        help="Only these kinds (repeatable): WorkPool, ConcurrencyLimit, Variable, Block, Deployment, Automation.",
    ),
    name: str | None = typer.Option(None, "--name", help="Only the object of this name."),
    state_dir: str | None = STATE_DIR,
) -> None:
    """Write specs for existing server objects, to adopt them (`pipeform apply --adopt`)."""
    connect(state_dir)
    from pipeform.reconciler import importer

    kinds = tuple(kind) or importer.IMPORTABLE
    unknown = [k for k in kinds if k not in importer.IMPORTABLE]
    if unknown:
        die(f"cannot import kind {unknown[0]!r}; importable: {', '.join(importer.IMPORTABLE)}")

    async def go() -> Imported:
        async with _api() as api:
            return importer.to_documents(await importer.read_server(api), kinds, name)

    result = _run(go())
    written = _write_documents(outdir, result.documents)
    for note in result.skipped:
        err_console.print(f"[yellow]skipped[/yellow] {note}")
    console.print(f"Imported {len(result.documents)} objects into {len(written)} files under {outdir}.")
    if not result.documents:
        raise typer.Exit(Exit.FAILED if name else Exit.OK)


def _write_documents(outdir: Path, documents: Sequence[dict[str, Any]]) -> list[Path]:
    import yaml

    from pipeform.reconciler.importer import IMPORT_FILES as files

    outdir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for kind, file in files.items():
        docs = [d for d in documents if d["kind"] == kind]
        if not docs:
            continue
        text = "---\n".join(yaml.safe_dump(d, sort_keys=False, allow_unicode=True) for d in docs)
        (outdir / file).write_text(text)
        written.append(outdir / file)
    return written
