"""The `pipeform` typer application. Each command lives in its own module and registers here."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="pipeform",
    help="Prefect pipelines as code: validate, compile, plan and apply YAML specs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        from pipeform import __version__  # lazy: the metadata lookup costs ~0.1 s a command

        typer.echo(f"pipeform {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """pipeform: Prefect pipelines as code."""


def _register() -> None:
    # Imported here so each command module can import `app` without a cycle.
    from pipeform.cli import (  # noqa: F401
        compile_commands,
        convert_commands,
        env_commands,
        init_commands,
        reconcile_commands,
        server_commands,
        spec_commands,
        sync_commands,
        trigger_commands,
    )


def main() -> None:
    _register()
    app()
