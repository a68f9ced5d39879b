"""run, compile, graph: commands of the compiler stage."""

from __future__ import annotations

from pathlib import Path

import typer

from pipeform.cli.app import app
from pipeform.cli.common import STATE_DIR, Exit, connect, console, die, err_console, parse_params
from pipeform.cli.projects import load_projects, project_with_flow


@app.command("run")
def run_cmd(
    flow: str = typer.Argument(..., help="Name of a Flow document."),
    path: Path = typer.Argument(Path("."), help="Spec file or folder."),
    param: list[str] = typer.Option([], "--param", "-p", help="Parameter KEY=VALUE (JSON values allowed)."),
    env: str | None = typer.Option(None, "--env", "-e", help="Overlay to apply."),
    state_dir: str | None = STATE_DIR,
) -> None:
    """Run a flow in-process against the configured Prefect API (or the embedded server)."""
    project = project_with_flow([path], env, flow)
    if flow not in project.flows:
        from pipeform.spec.diagnostics import did_you_mean as hint

        die(f"no Flow named {flow!r}" + (f" ({hint(flow, project.flows)})" if hint(flow, project.flows) else ""))
    params = parse_params(param)
    connect(state_dir)
    from pipeform.compiler import compile_flow

    try:
        compiled = compile_flow(project, flow)
    except (ImportError, AttributeError) as exc:
        die(f"cannot import a task's callable: {exc}")
    try:
        # The flow's return value as Prefect holds it in memory, not `state.result()`: when the
        # answer to the final set_state is lost (a client timeout on a busy SQLite server, a
        # dropped connection), Prefect's client sends it again, the server rejects the duplicate
        # and returns its stored state, which has no data for an unpersisted result.
        result = compiled(**params)
    except Exception as exc:  # the flow run failed, crashed, was cancelled or paused
        err_console.print(f"[red]flow run did not complete[/red]: {type(exc).__name__}: {exc}")
        raise typer.Exit(Exit.FAILED) from None
    console.print(f"[green]flow run completed[/green]; result: {result!r}")


@app.command("compile")
def compile_cmd(
    outdir: Path = typer.Argument(..., help="Folder to write the modules to (created if missing)."),
    paths: list[Path] | None = typer.Argument(None, help="Spec files or folders (default: the current folder)."),
    emit: str = typer.Option(..., "--emit", help="What to write; `python`: one module of plain Prefect code per flow."),
    env: str | None = typer.Option(None, "--env", "-e", help="Overlay to apply."),
) -> None:
    """Write one readable Python module per Flow document (`<flow_name>.py`, plain @flow/@task code)."""
    from pipeform.cli.spec_commands import print_diagnostics
    from pipeform.compiler import CompileError, lower
    from pipeform.compiler.emit import emit_python, module_name

    if emit != "python":
        die(f"--emit {emit!r} is not a target pipeform can write; targets: python")
    projects = load_projects(paths or [Path(".")], env)
    # One project: its modules in OUTDIR. Several (a tree of projects): OUTDIR/<project>/ each,
    # so that a subflow's `from child import child` finds its own project's module.
    folders = {p.name: outdir / p.name if len(projects) > 1 else outdir for p in projects}
    modules: dict[Path, tuple[str, str]] = {}  # file -> (flow name, source)
    problems = []
    for project in projects:
        for name in sorted(project.flows):
            file = folders[project.name] / (module_name(name) + ".py")
            if file in modules:
                die(f"flows {modules[file][0]!r} and {name!r} would both be written to {file}; rename one")
            try:
                modules[file] = (name, emit_python(lower(project, name), project.origin))
            except CompileError as exc:
                problems += exc.diagnostics
    if problems:  # all or nothing: a subflow's module may be missing otherwise
        print_diagnostics(problems)
        raise typer.Exit(Exit.FAILED)
    for file, (name, source) in modules.items():
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(source)
        console.print(f"wrote {file} (flow {name!r})")


@app.command("graph")
def graph_cmd(
    flow: str = typer.Argument(..., help="Name of a Flow document."),
    path: Path = typer.Argument(Path("."), help="Spec file or folder."),
    fmt: str = typer.Option("mermaid", "--format", "-f", help="mermaid, dot, svg or png."),
    output: Path | None = typer.Option(None, "--output", "-o", help="File to write (svg and png need it)."),
) -> None:
    """Print a flow's task graph (Mermaid by default) or render it with graphviz."""
    from pipeform.compiler import lower
    from pipeform.compiler.graph import dot, mermaid

    project = project_with_flow([path], None, flow)
    if flow not in project.flows:
        die(f"no Flow named {flow!r}")
    ir = lower(project, flow)
    if fmt in ("mermaid", "dot"):
        text = mermaid(ir) if fmt == "mermaid" else dot(ir)
        if output:
            output.write_text(text)
        else:
            console.out(text, highlight=False, end="")
        return
    if fmt not in ("svg", "png") or output is None:
        die("--format svg/png needs --output FILE; text formats are mermaid and dot")
    import shutil
    import subprocess

    if shutil.which("dot") is None:
        die("rendering svg/png needs Graphviz's `dot` (apt-get install graphviz)")
    subprocess.run(["dot", f"-T{fmt}", "-o", str(output)], input=dot(ir), text=True, check=True)
    err_console.print(f"wrote {output}")
