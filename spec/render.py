"""Diagnostics for people (source line and caret), for programs (JSON) and for GitHub
Actions (workflow annotations). Every command that reports spec problems uses this."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, Literal

from rich.console import Console
from rich.markup import escape

from .diagnostics import Diagnostic

Format = Literal["human", "json", "github"]
HUMAN_CAP = 50  # then "... and N more"
# The value a caret underlines: an expression, a quoted string, or a plain scalar of several
# words ("Hello World - Helm"), up to a ': ', ' #', ',' or closing bracket.
_WORD = r"(?:[^\s,#\]}:]|:(?!\s))+"
_TOKEN = re.compile(rf"<<.*?>>|\$\[.*?\]|\"(?:[^\"\\]|\\.)*\"|'(?:[^']|'')*'|{_WORD}(?: +{_WORD})*|[^\s,#\]}}]+")


def summary(diagnostics: Sequence[Diagnostic], documents: int | None = None) -> str:
    errors = sum(d.severity == "error" for d in diagnostics)
    warnings = len(diagnostics) - errors
    if errors:
        return f"{errors} error{'s' * (errors != 1)}" + (
            f", {warnings} warning{'s' * (warnings != 1)}" if warnings else ""
        )
    ok = f"{documents} document{'s' * (documents != 1)} OK" if documents is not None else "OK"
    return ok + (f", {warnings} warning{'s' * (warnings != 1)}" if warnings else "")


def to_json(diagnostics: Sequence[Diagnostic]) -> list[dict[str, Any]]:
    return [
        {
            "code": d.code,
            "severity": d.severity,
            "message": d.message,
            "file": d.origin.file if d.origin else None,
            "line": d.origin.line if d.origin else None,
            "column": d.origin.column if d.origin else None,
            "hint": d.hint,
        }
        for d in diagnostics
    ]


def github(d: Diagnostic) -> str:
    def esc(text: str) -> str:
        return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")

    level = "error" if d.severity == "error" else "warning"
    where = ""
    if d.origin:
        where = f" file={esc(d.origin.file)}"
        if d.origin.line:
            where += f",line={d.origin.line},col={d.origin.column}"
    message = d.message + (f" ({d.hint})" if d.hint else "")
    return (
        f"::{level}{where},title={esc(d.code)}::{esc(message)}"
        if where
        else f"::{level} title={esc(d.code)}::{esc(message)}"
    )


def human(d: Diagnostic) -> str:
    color = "red" if d.severity == "error" else "yellow"
    head = f"[bold]{escape(str(d.origin))}[/bold]: " if d.origin else ""
    lines = [f"{head}[{color}]{d.severity}[/{color}][dim]\\[{d.code}][/dim] {escape(d.message)}"]
    if d.source_line is not None and d.origin and d.origin.line:
        number = str(d.origin.line)
        text = d.source_line.replace("\t", " ")
        col = max(d.origin.column - 1, 0)
        token = _TOKEN.match(text, col)
        width = max(len(token.group(0)) if token else 1, 1)
        lines.append(f"[dim]{number:>5} |[/dim] {escape(text)}")
        lines.append(f"[dim]{'':>5} |[/dim] {' ' * col}[{color}]{'^' * width}[/{color}]")
    if d.hint:
        lines.append(f"[dim]{'':>5} =[/dim] hint: {escape(d.hint)}")
    return "\n".join(lines)


def render_diagnostics(
    diagnostics: Sequence[Diagnostic], fmt: Format, console: Console, documents: int | None = None
) -> None:
    """Print diagnostics in the chosen format (human output is capped at HUMAN_CAP)."""
    ordered = sorted(
        diagnostics,
        key=lambda d: (
            d.severity != "error",
            str(d.origin.file) if d.origin else "",
            d.origin.line if d.origin else 0,
            d.origin.column if d.origin else 0,
        ),
    )
    if fmt == "json":
        payload = {
            "ok": not any(d.severity == "error" for d in ordered),
            "summary": summary(ordered, documents),
            "diagnostics": to_json(ordered),
        }
        console.print_json(json.dumps(payload)) if console.is_terminal else console.out(
            json.dumps(payload, indent=2), highlight=False
        )
        return
    if fmt == "github":
        for d in ordered:
            console.out(github(d), highlight=False)
        console.out(summary(ordered, documents), highlight=False)
        return
    for d in ordered[:HUMAN_CAP]:
        console.print(human(d))
    if len(ordered) > HUMAN_CAP:
        console.print(f"... and {len(ordered) - HUMAN_CAP} more")
    errors = any(d.severity == "error" for d in ordered)
    console.print(f"[{'red' if errors else 'green'}]{summary(ordered, documents)}[/]")
