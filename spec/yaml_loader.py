"""PyYAML's safe loader made stricter for untrusted specs: YAML 1.2 booleans (`yes`, `on`
stay strings), no timestamps, only the tags of plain data, string keys, no duplicate keys,
and every constructor failure a located error; and YAMLErrors turned into Diagnostics.
libyaml (the C loader) is used when PyYAML has it."""

from __future__ import annotations

import re
from typing import Any

import yaml

from .diagnostics import Diagnostic, Origin


class Loader(yaml.CSafeLoader if hasattr(yaml, "CSafeLoader") else yaml.SafeLoader):  # type: ignore[misc]
    """Safe loader with YAML 1.2 booleans, no timestamps, duplicate keys refused, and every
    constructor failure raised as a located ConstructorError (never a bare ValueError)."""

    yaml_implicit_resolvers = {
        first: [
            (tag, rx) for tag, rx in resolvers if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")
        ]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    # Only the tags of plain JSON-like data; !!binary, !!timestamp, !!set, !!omap, !!pairs
    # would build bytes, datetimes, sets or pairs that no pipeform field takes.
    yaml_constructors = {
        tag: fn
        for tag, fn in yaml.SafeLoader.yaml_constructors.items()
        if tag is None or tag.rsplit(":", 1)[-1] in ("null", "bool", "int", "float", "str", "seq", "map")
    }

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[Any, Any]:
        if not isinstance(node, yaml.MappingNode):  # `!!map 3`, `!!map [a]`
            raise yaml.constructor.ConstructorError(
                None, None, f"expected a mapping, found a {node.id}", node.start_mark
            )
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str):  # JSON Schema, pydantic and Prefect all need string keys
                raise KeyType(key, key_node.start_mark)
            if key in seen:
                raise DuplicateKey(key, key_node.start_mark)
            seen.add(key)
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping

    def _scalar(self, node: yaml.Node, build: Any, what: str) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            raise yaml.constructor.ConstructorError(None, None, f"expected {what}, found a {node.id}", node.start_mark)
        try:
            return build(self, node)
        except (ValueError, KeyError, IndexError, OverflowError) as exc:  # `!!int`, `!!float x`, 5,000 digits
            detail = str(exc).split(";")[0] if isinstance(exc, ValueError) and "digits" in str(exc) else None
            problem = f"{node.value[:40]!r} is not {what}" + (f" ({detail})" if detail else "")
            raise yaml.constructor.ConstructorError(None, None, problem, node.start_mark) from None

    def construct_yaml_int(self, node: yaml.Node) -> int:
        value: int = self._scalar(node, yaml.SafeLoader.construct_yaml_int, "an integer")
        return value

    def construct_yaml_float(self, node: yaml.Node) -> float:
        value: float = self._scalar(node, yaml.SafeLoader.construct_yaml_float, "a number")
        return value

    def construct_yaml_bool(self, node: yaml.Node) -> bool:
        value: bool = self._scalar(node, yaml.SafeLoader.construct_yaml_bool, "a boolean")
        return value


for _tag in ("int", "float", "bool"):
    Loader.yaml_constructors[f"tag:yaml.org,2002:{_tag}"] = getattr(Loader, f"construct_yaml_{_tag}")


_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
Loader.add_implicit_resolver("tag:yaml.org,2002:bool", _BOOL, list("tTfF"))


class DuplicateKey(Exception):
    """A key given twice in one mapping (YAML allows it; pipeform refuses it)."""

    def __init__(self, key: Any, mark: Any):
        super().__init__(key)
        self.key, self.mark = key, mark


class KeyType(DuplicateKey):
    """A key that is not a string (`1: a`, `true: b`, `~: c`): quote it."""


def mark_origin(name: str, mark: Any) -> Origin:
    """A YAML mark (0-based line and column) as an Origin; the file's start without one."""
    return Origin(name, mark.line + 1, mark.column + 1) if mark is not None else Origin(name, 1, 1)


def yaml_problem(name: str, text: str, exc: yaml.YAMLError) -> Diagnostic:
    """A YAML error as a located Diagnostic: a tab in the indentation, a refused tag, or syntax."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = (getattr(exc, "problem", None) or str(exc)).strip()
    line = text.splitlines()[mark.line] if mark is not None and mark.line < len(text.splitlines()) else ""
    if "\t" in line[: mark.column + 1 if mark is not None else 0] or "tab" in problem:
        return Diagnostic(
            "yaml.tab-indent",
            "tab character used for indentation; YAML needs spaces",
            mark_origin(name, mark),
            hint="replace tabs with spaces",
        )
    if isinstance(exc, yaml.constructor.ConstructorError) and "constructor for the tag" in problem:
        tag = problem.split("tag", 1)[-1].strip(" '")
        return Diagnostic(
            "yaml.tag", f"YAML tag {tag} is not allowed: pipeform files hold plain data only", mark_origin(name, mark)
        )
    context = getattr(exc, "context", None)
    message = f"{context}, {problem}" if context else problem
    return Diagnostic("yaml.syntax", message, mark_origin(name, mark))
