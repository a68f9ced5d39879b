"""convert: prefect.yaml files -> pipeform documents."""

from __future__ import annotations

import os
import time
from pathlib import Path

import typer

from pipeform.cli.app import app
from pipeform.cli.common import Exit, console, die, err_console, parse_params


def _variables(pairs: list[str]) -> dict[str, object]:
    """Prefect variables: read from the server PREFECT_API_URL points at, then --var NAME=VALUE."""
    found: dict[str, object] = {}
    url = os.environ.get("PREFECT_API_URL")
    if url:
        import httpx

        try:
            r = httpx.post(f"{url.rstrip('/')}/variables/filter", json={"limit": 200}, timeout=15)
            r.raise_for_status()
            found = {v["name"]: v["value"] for v in r.json()}
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            err_console.print(f"[yellow]warning:[/yellow] could not read Prefect variables from {url}: {exc}")
    found.update(parse_params(pairs, "--var"))
    return found


@app.command("convert")
def convert_cmd(
    files: list[Path] = typer.Argument(..., help="prefect.yaml files to convert."),
    out: Path = typer.Option(
        ..., "--out", help="Folder to write the pipeform documents into (entrypoints are relative to it)."
    ),
    project: str | None = typer.Option(None, "--project", help="Project name (default: prefect.yaml's `name`)."),
    var: list[str] = typer.Option(
        [], "--var", help="Value of a Prefect variable that prefect deploy resolves at deploy time (NAME=VALUE)."
    ),
    output: str = typer.Option("human", "--output", "-o", help="Diagnostics as human, json or github."),
    no_import: bool = typer.Option(
        False, "--no-import", help="Never import a flow module, even when its flow name is computed."
    ),
) -> None:
    """Convert prefect.yaml files into pipeform documents that create the same deployments."""
    from pipeform.cli.spec_commands import print_diagnostics
    from pipeform.convert import convert_files, write

    for f in files:
        if not f.is_file():
            die(f"no such file: {f}")
    started = time.perf_counter()
    conv = convert_files(files, project, _variables(var) if "prefect.variables." in _text(files) else {}, not no_import)
    diagnostics = sorted(
        conv.diagnostics, key=lambda d: (d.origin.file, d.origin.line, d.origin.column) if d.origin else ("", 0, 0)
    )
    print_diagnostics(diagnostics, output)
    if not conv.ok:
        err_console.print("[red]not converted[/red]: fix the errors above (nothing was written)")
        raise typer.Exit(Exit.FAILED)
    written = write(conv, out, files)
    roots = {f.resolve().parent for f in files}
    if roots != {out.resolve()}:
        err_console.print(
            f"[yellow]note:[/yellow] entrypoints are relative to the folder of prefect.yaml ({', '.join(map(str, roots))});"
            f" pipeform reads them relative to the Project document's folder ({out})"
        )
    if conv.env_used:
        err_console.print(f"environment variables the specs read when loading: {', '.join(sorted(conv.env_used))}")
    deployments = sum(d["kind"] == "Deployment" for d in conv.documents)
    console.print(
        f"converted {deployments} deployment{'s' * (deployments != 1)} into {len(written)} files in {out}"
        f" ({time.perf_counter() - started:.2f} s)"
    )
    raise typer.Exit(Exit.OK)


def _text(files: list[Path]) -> str:
    return "".join(f.read_text(encoding="utf-8", errors="replace") for f in files)
