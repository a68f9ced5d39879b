"""env gc|lock and build: per-flow environments (pipeform.environments)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from pipeform.cli.app import app
from pipeform.cli.common import STATE_DIR, Exit, connect, console, die

if TYPE_CHECKING:
    from pipeform.spec.project import Project

env_app = typer.Typer(help="Per-flow environments (isolated venvs on process workers).", no_args_is_help=True)
app.add_typer(env_app, name="env")


@env_app.command("gc")
def env_gc(
    grace_hours: float = typer.Option(
        1.0, "--grace-hours", help="Keep an unreferenced environment this long after its last run."
    ),
    offline: bool = typer.Option(False, "--offline", help="Do not read the server: remove by idle time only."),
    max_idle_days: float = typer.Option(
        7.0, "--max-idle-days", help="With --offline: remove environments unused this long."
    ),
    state_dir: str | None = STATE_DIR,
) -> None:
    """Remove this machine's environments that no deployment on the server uses any more
    (after the grace period; never one a run is using)."""
    from pipeform.environments import venvs
    from pipeform.environments.paths import environments_dir

    if offline:
        removed = venvs.gc(max_idle_s=max_idle_days * 86400)
    else:
        url = connect(state_dir)
        try:
            referenced = server_references(url)
        except Exception as exc:  # ApiError, network: nothing removed without knowing what is used
            die(f"cannot read the deployments from {url}: {exc}; nothing removed (--offline removes by idle time)")
        removed = venvs.gc(referenced, grace_s=grace_hours * 3600)
    for name in removed:
        console.print(f"removed {name}")
    console.print(f"{len(removed)} environments removed from {environments_dir()}")


def server_references(url: str) -> set[str]:
    """Lock hashes the server's deployments carry (what `gc` keeps)."""
    import asyncio

    from pipeform.environments.usage import referenced_hashes
    from pipeform.reconciler.api import ServerAPI

    async def read() -> set[str]:
        async with ServerAPI(url, os.environ.get("PREFECT_API_KEY")) as api:
            return await referenced_hashes(api)

    return asyncio.run(read())


@env_app.command("lock")
def env_lock(
    paths: list[Path] = typer.Argument(..., help="Spec files or folders."),
    env: str | None = typer.Option(None, "--env", "-e", help="Overlay to apply."),
) -> None:
    """Resolve every Environment the deployments use, as plan does, and print the locks."""
    from pipeform.cli.projects import load_projects
    from pipeform.cli.spec_commands import print_diagnostics
    from pipeform.environments.deploy import lock_project
    from pipeform.spec import Diagnostic

    failed = False
    for project in load_projects(paths, env):
        locks, problems = lock_project(project)
        if problems:
            print_diagnostics([Diagnostic(c, m, project.origin(k, n, p)) for k, n, p, c, m in problems])
            failed = True
        for use in locks.by_key.values():
            plugins = f" + {', '.join(use.plugins)}" if use.plugins else ""
            console.print(f"# {project.name}: environment {use.environment or '(none)'}{plugins}: lock {use.lock.hash}")
            console.out(use.lock.text, highlight=False)
    if failed:
        raise typer.Exit(Exit.FAILED)


@app.command("build")
def build_cmd(
    paths: list[Path] = typer.Argument(..., help="Spec files or folders."),
    env: str | None = typer.Option(None, "--env", "-e", help="Overlay to apply."),
    out: Path = typer.Option(Path(".pipeform/build"), "--out", help="Where the build contexts are written."),
    push: bool = typer.Option(True, "--push/--no-push", help="Push images of Environments that name a registry."),
) -> None:
    """Build one image per Environment used on docker/kubernetes pools (tag: content hash)."""
    from pipeform.cli.projects import load_projects
    from pipeform.cli.spec_commands import print_diagnostics
    from pipeform.spec import SpecError

    for project in load_projects(paths, env):
        try:
            built = build_images(project, out, push)
        except SpecError as exc:  # located, as validate prints them
            print_diagnostics(exc.diagnostics)
            raise typer.Exit(Exit.FAILED) from None
        except Exception as exc:  # BuildError: a clear line, not a traceback
            die(str(exc))
        if not built:
            console.print(f"{project.name}: nothing built (no Environment with requirements on a container pool)")


def build_images(project: Project, out: Path, push: bool) -> list[str]:
    """Write each image's context and build it (apply --build calls this first); returns the tags."""
    from pipeform.environments import image
    from pipeform.environments.deploy import images_to_build
    from pipeform.reconciler.inputs import gather_runtime_inputs

    # Not gather_inputs: an image needs the locks, never the apply-time secrets.
    contexts = images_to_build(project, gather_runtime_inputs(project, {}))
    reason = image.docker_available() if contexts else None
    tags = []
    for use, tag, registry in contexts:
        ctx = image.write_context(project.root, use.lock, tag, out / tag.replace("/", "_").replace(":", "_"))
        if reason:
            console.print(f"[yellow]not built[/yellow] {tag}: {reason}; build context in {ctx.path}")
            continue
        image.build(ctx, push=push and registry is not None)
        console.print(f"built {tag}" + (" and pushed" if push and registry else ""))
        tags.append(tag)
    if reason and contexts:
        raise image.BuildError(f"{len(contexts)} image(s) not built: {reason}")
    return tags
