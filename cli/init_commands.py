"""`pipeform init [DIR]`: scaffold a project that validates and applies as it is."""

from __future__ import annotations

from pathlib import Path

import typer

from pipeform.cli.app import app
from pipeform.cli.common import console, die


@app.command("init")
def init_cmd(
    directory: Path = typer.Argument(Path("."), help="Folder to create the project in (default: here)."),
    name: str | None = typer.Option(None, "--name", help="Project name (default: from the folder name)."),
    force: bool = typer.Option(False, "--force", help="Overwrite files that exist."),
) -> None:
    """Create pipelines/ (Project, work pool, Flow, Deployment), editor settings, the GitHub
    workflow and the pre-commit config."""
    from pipeform.scaffold import project_name, scaffold

    directory = directory.resolve()
    name = name or project_name(directory.name)
    try:
        files = scaffold(name)
    except ValueError as exc:
        die(str(exc))
    existing = [p for p in files if (directory / p).exists()]
    if existing and not force:  # never overwrite silently
        die(f"{', '.join(existing)} already exist in {directory}; pass --force to overwrite")
    for rel, text in files.items():
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        console.print(f"  created {rel}")
    console.print(
        "\nNext:\n"
        f"  pipeform validate {directory / 'pipelines'}\n"
        f"  pipeform apply {directory / 'pipelines'}\n"
        f"  pipeform worker start --pool {name}-pool\n"
        "  pipeform trigger hello/daily"
    )
