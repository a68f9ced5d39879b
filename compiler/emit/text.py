"""Code text for the emitter: calls, literals and docstrings laid out the way `ruff format`
leaves them (ruff cannot run while emitting), identifiers and module names. Pure."""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from typing import Any

WIDTH = 120


@dataclass
class Group:
    """A bracketed list: flat when it fits the line, else one item per line with a trailing comma."""

    head: str  # "name(" or "[" or "{"
    items: list[list[Any]]  # each item: chunks (str or Group) written one after another
    close: str


def flat(chunks: Any) -> str:
    if isinstance(chunks, str):
        return chunks
    if isinstance(chunks, Group):
        return chunks.head + ", ".join([_flat_chunks(i) for i in chunks.items]) + chunks.close
    return _flat_chunks(chunks)


def _flat_chunks(chunks: list[Any]) -> str:
    # Strings (most chunks) joined as they are: emit lays out every statement through here.
    return "".join([c if isinstance(c, str) else flat(c) for c in chunks])


def layout(chunks: list[Any], indent: int, trail: str = "", rel: int = 0) -> str:
    """One statement's chunks written at column `indent` (continuation lines are indented
    relative to the statement's first line): flat if it fits, else the last Group explodes."""
    text = flat(chunks)
    if indent + len(text) + len(trail) <= WIDTH or not any(isinstance(c, Group) for c in chunks):
        return text
    last = max(i for i, c in enumerate(chunks) if isinstance(c, Group))
    group: Group = chunks[last]
    pad = " " * (rel + 4)
    inner = "".join(pad + layout(item, indent + 4, ",", rel + 4) + ",\n" for item in group.items)
    return flat(chunks[:last]) + group.head + "\n" + inner + " " * rel + group.close + flat(chunks[last + 1 :])


def indented(text: str, by: int = 4) -> str:
    return "\n".join(" " * by + line if line else line for line in text.split("\n"))


def call(head: str, *args: Any, **kwargs: Any) -> Group:
    items = [[a] for a in args] + [[f"{k}=", v] for k, v in kwargs.items()]
    return Group(head + "(", items, ")")


def string(text: str) -> str:
    """A string literal as ruff format writes it: double quotes unless single quotes escape less."""
    r = repr(text)
    if r[0] == '"' or text.count('"') > text.count("'"):
        return r  # repr chose double quotes itself, or single quotes escape less
    return '"' + r[1:-1].replace("\\'", "'").replace('"', '\\"') + '"'


HOLE = "\u27e6\u27e7"  # a placeholder for an expression inside a string literal


def interpolate(parts: list[tuple[bool, str]], prefix: str = "f") -> str:
    """(is_code, text) parts -> f"..." (prefix "" gives a str.format template)."""
    pieces = string("".join(t.replace("{", "{{").replace("}", "}}") if not c else HOLE for c, t in parts)).split(HOLE)
    codes = [t for c, t in parts if c]
    return prefix + pieces[0] + "".join("{" + c + "}" + p for c, p in zip(codes, pieces[1:], strict=True))


def literal(value: Any) -> Any:
    """A JSON-like value (no expressions) as code chunks."""
    if isinstance(value, str):
        return string(value)
    if isinstance(value, dict):
        return Group("{", [[string(str(k)), ": ", literal(v)] for k, v in value.items()], "}") if value else "{}"
    if isinstance(value, list | tuple):
        return Group("[", [[literal(v)] for v in value], "]") if value else "[]"
    return repr(value)


_NON_WORD = re.compile(r"\W")


def identifier(name: str) -> str:
    out = name if name.isascii() and name.isidentifier() else _NON_WORD.sub("_", name)
    out = "flow_" + out if out[:1].isdigit() else out
    return out + "_" if keyword.iskeyword(out) else out


def module_name(flow_name: str) -> str:
    """The emitted module (and flow function) name of a flow."""
    return identifier(flow_name)


def docstring(text: str, indent: str = "") -> str:
    """A docstring as ruff format leaves it (escaped, indented, no trailing blanks)."""
    lines = [line.rstrip() for line in text.replace("\\", "\\\\").replace('"""', '\\"""').strip().splitlines()]
    body = "\n".join(indent + line if line else "" for line in lines).strip()
    if body.endswith('"'):
        body += " "
    return f'{indent}"""{body}"""' if len(lines) == 1 else f'{indent}"""{body}\n{indent}"""'
