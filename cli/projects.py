"""Paths -> projects, the same way for every command: a tree holding several Project
documents is several projects, each loaded on its own (as `pipeform validate` checks them),
never one project merged from all of them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from pipeform.cli.common import Exit, console, die

if TYPE_CHECKING:
    from pipeform.spec.diagnostics import Diagnostic
    from pipeform.spec.project import Project


def load_projects(paths: list[Path], env: str | None) -> list[Project]:
    """Every project under `paths`; with an error in any of them, all errors are printed
    and the command exits 1 (nothing is compiled or sent to a server)."""
    from pipeform.cli.spec_commands import print_diagnostics
    from pipeform.spec import load_project, split_projects

    projects: list[Project] = []
    problems: list[Diagnostic] = []
    for group in split_projects(paths):
        project, diagnostics = load_project(group, env)  # never raises: internal.error at worst
        if project is None:
            problems += diagnostics
        else:
            projects.append(project)
    if problems:
        print_diagnostics(problems)
        raise typer.Exit(Exit.FAILED)
    return projects


def load_one(paths: list[Path], env: str | None, why: str) -> Project:
    """The only project under `paths` (a command acting on one project: `why` says which)."""
    projects = load_projects(paths, env)
    if len(projects) > 1:
        names = ", ".join(sorted(p.name for p in projects))
        die(f"{len(projects)} projects found ({names}); {why} takes one: pass that project's folder")
    return projects[0]


def project_with_flow(paths: list[Path], env: str | None, flow: str) -> Project:
    """The project that declares Flow `flow` (the first project when none does, so that the
    caller reports the missing flow with its hints)."""
    projects = load_projects(paths, env)
    having = [p for p in projects if flow in p.flows]
    if len(having) > 1:
        names = ", ".join(sorted(p.name for p in having))
        die(f"Flow {flow!r} is declared by {len(having)} projects ({names}); pass that project's folder")
    return having[0] if having else projects[0]


def heading(project: Project, many: bool) -> None:
    """A line naming the project, when a command goes through several."""
    if many:
        console.print(f"[bold]== project {project.name} ({project.root}) ==[/bold]")
