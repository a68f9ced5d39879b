"""Semantic checks of blocks and secrets: a Block document's data against its type's schema
(installed block classes, `block_types.py`), every reference to a block (automation
notifications, result storage, git credentials, pull-step templates) and the run-time roots
`secrets`, `variables` and `blocks`. A reference to something not declared here is a
warning (it must exist on the server); a bare name must be a document."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from . import block_types
from .check_base import Invalid
from .check_expressions import runtime_expressions, task_references
from .diagnostics import Diagnostic, Origin
from .models.automation import BLOCK_ACTIONS
from .models.block import from_env_name, from_env_paths, is_local_path, variable_secret_name

Locate = Callable[..., Origin]
# What an action needs of its block (Prefect's block capabilities).
ACTION_CAPABILITY = {"send-notification": "notify", "call-webhook": "type:webhook"}
_TEMPLATE = re.compile(r"\{\{\s*prefect\.blocks\.([a-z0-9-]+)\.([a-z0-9-]+)")


def _hint(word: str, candidates: Any) -> str | None:
    from .diagnostics import did_you_mean as hint

    return hint(word, candidates)


def _valid(by_kind: dict[str, dict[str, Any]], kind: str) -> dict[str, Any]:
    return {n: d for n, d in by_kind.get(kind, {}).items() if not isinstance(d, Invalid)}


def _placeholders(value: Any) -> Any:
    """Data with every `{from_env: VAR}` replaced by a string (what the block will get)."""
    if from_env_name(value):
        return "from-env"
    if isinstance(value, dict):
        return {k: _placeholders(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_placeholders(v) for v in value]
    return value


def literal_secret(path: tuple[str, ...], origin: Origin) -> Diagnostic:
    """A secret field written in the spec (check_secrets.py drops it when the value came from
    a sensitive `<< env.X >>`: then it is not in git)."""
    return Diagnostic(
        "block.literal-secret",
        f"secret field {'.'.join(path)!r} is written in the spec; use {{from_env: VAR}} to keep it out of git",
        origin,
        severity="warning",
    )


def check_blocks(by_kind: dict[str, dict[str, Any]], locate: Locate) -> Iterator[Diagnostic]:
    blocks = _valid(by_kind, "Block")
    installed = block_types.installed() if blocks else {}
    for name, doc in blocks.items():

        def at(*path: Any, _n: str = name) -> Origin:
            return locate("Block", _n, ("spec", *path))

        bt = installed.get(doc.spec.type)
        if bt is None:
            yield Diagnostic(
                "block.unknown-type",
                f"block type {doc.spec.type!r} is not installed here; plan checks it against the server",
                at("type"),
                severity="warning",
                hint=_hint(doc.spec.type, installed),
            )
            continue
        for path, message in block_types.data_errors(bt, _placeholders(doc.spec.data)):
            yield Diagnostic("block.invalid-data", f"{doc.spec.type} block: {message}", at("data", *path))
        for path in from_env_paths(doc.spec.data):
            if not block_types.is_secret(path, bt.secret_fields):
                secret = ", ".join(bt.secret_fields) or "none"
                yield Diagnostic(
                    "block.from-env-not-secret",
                    f"{'.'.join(map(str, path))!r} is not a secret field of {doc.spec.type} blocks (secret fields:"
                    f" {secret}): Prefect would store the value in plain text; put it in a secret field or a Secret block",
                    at("data", *path),
                )
        for path in block_types.secret_paths(doc.spec.data, bt.secret_fields):
            value = _get(doc.spec.data, path)
            if value is not None and not from_env_name(value) and not _all_from_env(value):
                yield literal_secret(path, at("type"))  # not the value's line: validate never prints a secret
    for vname, var in _valid(by_kind, "Variable").items():
        secret = variable_secret_name(vname)
        if var.spec.sensitive and secret in blocks:
            yield Diagnostic(
                "name.duplicate",
                f"sensitive Variable {vname!r} is stored as Secret block {secret!r}, which a Block document also declares",
                locate("Variable", vname, ("spec", "sensitive")),
            )


def _get(data: Any, path: tuple[str, ...]) -> Any:
    for k in path:
        data = data.get(k) if isinstance(data, dict) else None
    return data


def _all_from_env(value: Any) -> bool:
    return isinstance(value, dict) and bool(value) and all(from_env_name(v) for v in value.values())


# --- references ------------------------------------------------------------------------


def block_ref(
    ref: str, by_kind: dict[str, dict[str, Any]], where: Origin, what: str, need: str | None = None
) -> Iterator[Diagnostic]:
    """A reference to a block: a Block document's name, or 'TYPE/NAME' (also 'TYPE.NAME') of
    a block that may only exist on the server. `need`: a capability ("notify") or "type:SLUG"."""
    blocks = by_kind.get("Block", {})
    slug, _, name = ref.replace(".", "/", 1).partition("/") if ("/" in ref or "." in ref) else ("", "", ref)
    if name not in blocks:
        if not slug:
            message = (
                f"{what} {ref!r} is not a Block document (use 'TYPE/NAME' for a block that only exists on the server)"
            )
            yield Diagnostic("ref.unknown-block", message, where, hint=_hint(ref, blocks))
        else:
            message = f"{what} {ref!r} is not declared here; it must already exist on the server"
            yield Diagnostic("ref.unknown-block", message, where, severity="warning", hint=_hint(name, blocks))
        return
    doc = _valid(by_kind, "Block").get(name)
    if doc is None:
        return  # an invalid document, reported already
    if slug and doc.spec.type != slug:
        yield Diagnostic(
            "ref.block-type", f"{what} {ref!r}: Block document {name!r} is a {doc.spec.type!r} block", where
        )
    elif need and need.startswith("type:") and doc.spec.type != need[5:]:
        yield Diagnostic("ref.block-type", f"{what} {ref!r}: needs a {need[5:]!r} block, not {doc.spec.type!r}", where)
    elif need and not need.startswith("type:"):
        bt = block_types.installed().get(doc.spec.type)
        if bt is not None and need not in bt.capabilities:
            message = f"{what} {ref!r}: a {doc.spec.type!r} block cannot be used here (needs the {need!r} capability)"
            yield Diagnostic("ref.block-type", message, where)


def check_block_refs(by_kind: dict[str, dict[str, Any]], locate: Locate) -> Iterator[Diagnostic]:
    """Automation notifications, result storage (project defaults, flows, tasks), git
    credentials and `{{ prefect.blocks.TYPE.NAME }}` templates in pull steps."""
    for aname, auto in _valid(by_kind, "Automation").items():
        for field in ("actions", "actions_on_trigger", "actions_on_resolve"):
            for i, a in enumerate(getattr(auto.spec, field)):
                if a.type in BLOCK_ACTIONS:
                    where = locate("Automation", aname, ("spec", field, i, "block"))
                    yield from block_ref(a.block, by_kind, where, f"{a.type} block", ACTION_CAPABILITY[a.type])

                def at(k: str, _a: str = aname, _f: str = field, _i: int = i) -> Origin:
                    return locate("Automation", _a, ("spec", _f, _i, k))

                yield from _action_target(a, by_kind, at)
    for pname, proj in _valid(by_kind, "Project").items():
        for part in ("flow", "task"):
            value = getattr(proj.spec.defaults, part).result_storage
            where = locate("Project", pname, ("spec", "defaults", part, "result_storage"))
            yield from _storage_ref(value, by_kind, where)
    for fname, flow in _valid(by_kind, "Flow").items():
        yield from _storage_ref(flow.spec.result_storage, by_kind, locate("Flow", fname, ("spec", "result_storage")))
        for i, t in enumerate(flow.spec.tasks):
            where = locate("Flow", fname, ("spec", "tasks", i, "result_storage"))
            yield from _storage_ref(t.result_storage, by_kind, where)
    for dname, dep in _valid(by_kind, "Deployment").items():
        git = dep.spec.source.git if dep.spec.source is not None else None
        if git is not None and git.credentials_block:
            where = locate("Deployment", dname, ("spec", "source", "git", "credentials_block"))
            yield from block_ref(git.credentials_block, by_kind, where, "credentials block")
            yield from _git_credentials(git, by_kind, where)
        for i, step in enumerate(dep.spec.pull or []):
            for slug, name in _TEMPLATE.findall(repr(step)):
                where = locate("Deployment", dname, ("spec", "pull", i))
                yield from block_ref(f"{slug}/{name}", by_kind, where, "pull step block")


def _git_credentials(git: Any, by_kind: dict[str, dict[str, Any]], where: Origin) -> Iterator[Diagnostic]:
    """What Prefect's git_clone would silently not use, or fail on (3.8.8,
    runner/storage.py GitRepository): credentials go into https:// URLs only (an http://
    or ssh URL is cloned without them), and a Secret block is passed as `access_token`,
    which must be a string (a JSON object value cannot be formatted into the URL)."""
    if not git.repository.startswith("https://"):
        scheme = git.repository.split("://")[0] if "://" in git.repository else "ssh"
        message = (
            "credentials_block needs an https:// repository: Prefect's git_clone leaves the credentials"
            f" out of {scheme} URLs (ssh uses the worker's keys)"
        )
        yield Diagnostic("ref.git-credentials", message, where)
    doc = _valid(by_kind, "Block").get(git.credentials_block.replace(".", "/", 1).rpartition("/")[2])
    value = doc.spec.data.get("value") if doc is not None and doc.spec.type == "secret" else None
    if isinstance(value, dict | list) and not from_env_name(value):
        message = "a Secret block used as credentials_block holds the token as a string (git_clone's access_token)"
        yield Diagnostic("ref.git-credentials", message, where)


def _action_target(
    action: Any, by_kind: dict[str, dict[str, Any]], at: Callable[[str], Origin]
) -> Iterator[Diagnostic]:
    """A work pool, work queue or automation an action names: declared here, or a warning."""
    pools = by_kind.get("WorkPool", {})
    queues = {f"{n}/{q.name}" for n, d in _valid(by_kind, "WorkPool").items() for q in d.spec.queues}
    queues |= {f"{n}/default" for n in pools}
    for key, known, what in (
        ("work_pool", pools, "work pool"),
        ("work_queue", queues, "work queue"),
        ("automation", by_kind.get("Automation", {}), "automation"),
    ):
        ref = getattr(action, key, None)
        if ref is None:
            continue
        if key == "work_queue" and "/" not in ref:
            yield Diagnostic("ref.unknown-queue", f"a work queue is named 'POOL/QUEUE', not {ref!r}", at(key))
        elif ref not in known and not (key == "work_queue" and ref.split("/")[0] in pools and ref not in queues):
            yield Diagnostic(
                f"ref.unknown-{key.replace('_', '-')}",
                f"{what} {ref!r} is not declared here; it must already exist on the server",
                at(key),
                severity="warning",
                hint=_hint(ref, known),
            )
        elif ref not in known:
            yield Diagnostic(
                "ref.unknown-queue",
                f"work pool {ref.split('/')[0]!r} declares no queue {ref!r}",
                at(key),
                hint=_hint(ref, queues),
            )


def _storage_ref(value: str | None, by_kind: dict[str, dict[str, Any]], where: Origin) -> Iterator[Diagnostic]:
    if value is None or is_local_path(value):
        return
    yield from block_ref(value, by_kind, where, "result_storage", "write-path")


# --- run-time roots ----------------------------------------------------------------------

RESOURCE_ROOTS = ("secrets", "variables", "blocks")


def flow_resource_refs(
    spec: Any, by_kind: dict[str, dict[str, Any]], at: Callable[..., Origin]
) -> Iterator[Diagnostic]:
    """Every `secrets.`, `variables.`, `blocks.` read of a flow's tasks and `returns`."""
    from . import expressions as ex

    found = [((("tasks", i, *path)), expr) for i, t in enumerate(spec.tasks) for path, expr in task_references(t)]
    if isinstance(spec.returns, str | dict | list):
        found += list(runtime_expressions(spec.returns, ("returns",)))
    for path, expr in found:
        if isinstance(expr, ex.ExpressionSyntaxError):
            continue  # reported by check_flow
        try:
            refs = ex.references(expr.source)
        except ex.TemplateError:
            continue
        for ref in refs:
            if ref[0] in RESOURCE_ROOTS:
                yield from runtime_ref(ref, by_kind, at(*path))


def runtime_ref(ref: tuple[str, ...], by_kind: dict[str, dict[str, Any]], where: Origin) -> Iterator[Diagnostic]:
    """`secrets.NAME`, `variables.NAME`, `blocks.TYPE.NAME` against the declared documents."""
    root = ref[0]
    if root == "blocks":
        if len(ref) < 3:
            yield Diagnostic("expr.invalid-ref", "a block is read as $[ blocks.TYPE.NAME ]", where)
            return
        yield from block_ref(f"{ref[1]}/{ref[2]}", by_kind, where, "block")
        return
    if len(ref) < 2:
        yield Diagnostic("expr.invalid-ref", f"{root} is read by name: $[ {root}.NAME ]", where)
        return
    name = ref[1]
    variables = _valid(by_kind, "Variable")
    if root == "variables":
        if name not in by_kind.get("Variable", {}):
            yield Diagnostic(
                "ref.unknown-variable",
                f"Variable {name!r} is not declared here; it must exist on the server when the flow runs",
                where,
                severity="warning",
                hint=_hint(name, variables),
            )
        return
    sensitive = {variable_secret_name(n) for n, v in variables.items() if v.spec.sensitive}
    secrets = {n for n, d in _valid(by_kind, "Block").items() if d.spec.type == "secret"}
    if name in secrets or name in sensitive:
        return
    other = _valid(by_kind, "Block").get(name)
    if other is not None:
        yield Diagnostic(
            "ref.block-type", f"Block document {name!r} is a {other.spec.type!r} block, not a secret", where
        )
    elif name not in by_kind.get("Block", {}):
        yield Diagnostic(
            "ref.unknown-secret",
            f"Secret {name!r} is not declared here (a Block of type secret or a sensitive Variable);"
            " it must exist on the server when the flow runs",
            where,
            severity="warning",
            hint=_hint(name, secrets | sensitive),
        )
