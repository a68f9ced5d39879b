"""validate, schema, fmt: commands of the spec stage."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from pipeform.cli.app import app
from pipeform.cli.common import Exit, console, err_console

if TYPE_CHECKING:
    from pipeform.spec.diagnostics import Diagnostic
    from pipeform.spec.render import Format


def print_diagnostics(diagnostics: Sequence[Diagnostic], output: str = "human", documents: int | None = None) -> None:
    from pipeform.spec.render import render_diagnostics

    out = console if output != "human" or not diagnostics else err_console
    render_diagnostics(diagnostics, _format(output), out, documents)


def _format(output: str) -> Format:
    """--output as render's format (anything else prints for people, as render does)."""
    return "json" if output == "json" else "github" if output == "github" else "human"


def print_skipped(paths: list[Path]) -> None:
    """Files a folder walk left out (not pipeform documents, or .pipeformignore'd)."""
    from pipeform.spec.discover import discover_all

    for f, why in discover_all(paths).skipped:
        err_console.print(f"[dim]skipped {f}: {why}[/dim]")


OUTPUT_HELP = "human, json or github (GitHub Actions annotations)."


@app.command("validate")
def validate_cmd(
    paths: list[Path] = typer.Argument(..., help="Files or folders of pipeform YAML (searched recursively)."),
    env: str | None = typer.Option(
        None, "--env", "-e", help="Overlay of the Project document to apply (dev, prod, ...)."
    ),
    output: str = typer.Option("human", "--output", "-o", help=OUTPUT_HELP),
    check_imports: bool = typer.Option(
        False, "--check-imports", help="Also import every Python callable and check its signature."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="List the YAML files skipped in folders, and why."),
) -> None:
    """Check specs: YAML, JSON Schema, models, references, graph, schedules, parameters."""
    from pipeform.spec import load_project, split_projects

    if verbose:
        print_skipped(paths)

    if output not in ("human", "json", "github"):
        err_console.print(f"[red]error:[/red] --output must be human, json or github, not {output!r}")
        raise typer.Exit(Exit.FAILED)
    if check_imports:
        from pipeform.spec.entrypoints import UNTRUSTED_ENV, untrusted

        if untrusted():
            err_console.print(f"[red]error:[/red] --check-imports imports user code; {UNTRUSTED_ENV}=1 forbids it")
            raise typer.Exit(Exit.FAILED)
    diagnostics, documents, ok = [], 0, True
    try:
        for group in split_projects(paths):  # a folder of several projects: each on its own
            project, found = load_project(group, env)
            if project is not None and check_imports:
                from pipeform.compiler.imports import check_imports as check

                found = [*found, *check(project)]
                if any(d.severity == "error" for d in found):
                    project = None
            diagnostics.extend(found)
            documents += len(project.documents) if project else 0
            ok = ok and project is not None
    except Exception as exc:  # last resort: a diagnostic in the chosen format, never a traceback
        from pipeform.spec.api import internal_error

        diagnostics.append(internal_error(str(paths[0]) if paths else ".", exc))
        ok = False
    print_diagnostics(diagnostics, output, documents if ok else None)
    raise typer.Exit(Exit.OK if ok else Exit.FAILED)


@app.command("schema")
def schema_cmd(
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the schema to this file instead of stdout."),
) -> None:
    """Print the JSON Schema of the spec language (the file editors use)."""
    from pipeform.spec import schema

    text = schema.dumps(schema.published())
    if output is None:
        console.out(text, highlight=False, end="")
    else:
        output.write_text(text, encoding="utf-8")
        err_console.print(f"wrote {output}")


@app.command("fmt")
def fmt_cmd(
    paths: list[Path] = typer.Argument(..., help="Files or folders to format."),
    check: bool = typer.Option(False, "--check", help="Change nothing; exit 1 when a file would change."),
) -> None:
    """Format YAML specs in place, keeping comments and key order."""
    from pipeform.spec.discover import discover
    from pipeform.spec.fmt import format_file
    from pipeform.spec.load import read_file

    files, problems = discover(paths)
    changed: list[Path] = []
    for f in files:
        _, file_problems = read_file(f)  # never rewrite a file that does not parse
        if file_problems:
            problems.extend(file_problems)
            continue
        if format_file(f, check):
            changed.append(f)
    if problems:
        print_diagnostics(problems)
        raise typer.Exit(Exit.FAILED)
    for f in changed:
        console.print(f"{'would reformat' if check else 'reformatted'} {f}")
    console.print(
        f"{len(files)} file{'s' * (len(files) != 1)} checked, {len(changed)} {'would change' if check else 'changed'}"
    )
    raise typer.Exit(Exit.FAILED if check and changed else Exit.OK)
