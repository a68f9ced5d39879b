"""`pipeform fmt`: round-trip formatting with ruamel.yaml that keeps comments and key
order and makes indentation consistent (2 spaces, sequences indented under their key)."""

from __future__ import annotations

import io
from pathlib import Path

from ruamel.yaml import YAML


def _yaml() -> YAML:
    y = YAML(typ="rt")
    y.indent(mapping=2, sequence=4, offset=2)
    y.preserve_quotes = True
    y.width = 120
    return y


def format_text(text: str) -> str:
    y = _yaml()
    docs = list(y.load_all(text))
    out = io.StringIO()
    y.explicit_start = False
    y.dump_all(docs, out)
    formatted = out.getvalue()
    # ruamel drops the comment lines above a leading '---' (and the '---'): put them back.
    header = _header(text)
    return formatted if not header or formatted.startswith(header) else header + formatted


def _header(text: str) -> str:
    """Comment and blank lines up to and including a leading `---` line, else ""."""
    lines = text.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.rstrip() == "---":
            return "".join(lines[: i + 1])
        if line.strip() and not line.lstrip().startswith("#"):
            return ""
    return ""


def format_file(path: Path, check: bool) -> bool:
    """Format one file in place (or only compare with check=True). True when it changed/would change."""
    text = path.read_text(encoding="utf-8")
    formatted = format_text(text)
    if formatted == text:
        return False
    if not check:
        path.write_text(formatted, encoding="utf-8")
    return True
