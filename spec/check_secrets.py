"""`secret.plain-text`: a declared-sensitive `<< env.X >>` may only land where pipeform
keeps secrets, a Secret block: a Block document's secret field (of its installed type) or a
`sensitive: true` Variable's value (stored as a Secret block). Anywhere else (a
Deployment's parameters or job variables, a plain Variable, an Environment's `env` string,
an Automation's action, a Flow, a name) the server, the flow run's logs or the files the
worker reads would hold the value in plain text.

Decided at validate time, from what the expressions read (values.substitute records per
string the sensitive variables its expressions read, through `values.X` too), so a
pull request is refused without the secret set; `pipeform.reconciler.secret_scan` is the
backstop at plan time, on the values themselves."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from . import block_types
from .check_blocks import literal_secret
from .diagnostics import Diagnostic
from .load import PathKey

CODE = "secret.plain-text"
Taint = Mapping[PathKey, frozenset[str]]  # path in a document -> sensitive variables its string read


def hint(names: Iterable[str]) -> str:
    """Where a secret goes instead (shared with the plan-time scan)."""
    var = sorted(names)[0]
    return (
        f"keep it in a Secret block (kind: Block, type: secret, data: {{value: {{from_env: {var}}}}}) and read it"
        f" in a Flow as $[ secrets.NAME ] (a Python flow: Secret.load), or give it to the flow run's environment"
        f" with an Environment's env: {{NAME: {{from_env: {var}}}}}"
    )


def _named(names: Iterable[str]) -> str:
    return ", ".join(f"<< env.{n} >>" for n in sorted(names))


def _dotted(path: PathKey) -> str:
    return ".".join(str(p) for p in path)


def value_taint(project: Taint, overlay: str | None, overlay_keys: Iterable[str]) -> dict[str, frozenset[str]]:
    """Project value name -> the sensitive variables it was computed from (the overlay's
    values replace the base ones of the same name)."""
    out: dict[str, frozenset[str]] = {}
    for path, names in project.items():
        if path[:2] == ("spec", "values") and len(path) > 2:
            out[str(path[2])] = out.get(str(path[2]), frozenset()) | names
    for key in overlay_keys:
        out.pop(key, None)
    for path, names in project.items():
        if path[:2] == ("spec", "overlays") and path[2:4] == (overlay, "values") and len(path) > 4:
            out[str(path[4])] = out.get(str(path[4]), frozenset()) | names
    return out


def _in_values(path: PathKey) -> bool:
    return path[:2] == ("spec", "values") or (path[:2] == ("spec", "overlays") and path[3:4] == ("values",))


def secret_destination(doc: Any, path: PathKey) -> bool:
    """Whether the string at `path` of a document is kept in a Secret block."""
    if doc.kind == "Variable":
        return bool(doc.spec.sensitive) and path[:2] == ("spec", "value")
    if doc.kind == "Block" and path[:2] == ("spec", "data") and len(path) > 2:
        found = block_types.installed().get(doc.spec.type)
        return found is not None and block_types.is_secret(tuple(str(p) for p in path[2:]), found.secret_fields)
    return False


def check_secrets(
    documents: Iterable[Any], taints: Mapping[tuple[str, str], Taint], locate: Any
) -> Iterator[Diagnostic]:
    """One `secret.plain-text` per string that reads a sensitive variable outside a secret
    field (a Project's own values are checked where they are used)."""
    for doc in documents:
        ident = (doc.kind, doc.metadata.name)
        for path, names in sorted(taints.get(ident, {}).items(), key=lambda x: _dotted(x[0])):
            if (doc.kind == "Project" and _in_values(path)) or secret_destination(doc, path):
                continue
            where = f"{_dotted(path)}, which is not a secret field"
            if doc.kind == "Block":
                where += f" of block type {doc.spec.type!r}"
            message = (
                f"{_named(names)} is declared sensitive but {doc.kind} {doc.metadata.name!r} uses it in {where}:"
                " its value would be stored in plain text (secrets live only in Secret blocks)"
            )
            if doc.kind == "Block" and block_types.installed().get(doc.spec.type) is None:
                message += f"; block type {doc.spec.type!r} is not installed here, so its secret fields are unknown"
            yield Diagnostic(CODE, message, locate(*ident, path), hint=hint(names))


def from_sensitive_env(
    documents: Iterable[Any], taints: Mapping[tuple[str, str], Taint], locate: Any
) -> set[Diagnostic]:
    """The `block.literal-secret` warnings that are wrong: the secret field's value came from
    a sensitive `<< env.X >>` (read from the environment, not written in git)."""
    out: set[Diagnostic] = set()
    for doc in documents:
        if doc.kind != "Block":
            continue
        for path in taints.get((doc.kind, doc.metadata.name), {}):
            if path[:2] == ("spec", "data") and secret_destination(doc, path):
                field = tuple(str(p) for p in path[2:])
                out.add(literal_secret(field, locate("Block", doc.metadata.name, ("spec", "type"))))
    return out
