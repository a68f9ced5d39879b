"""The block kind's values (pure): what the specs ask for and the comparable form of both sides.

Desired blocks come from three places: Block documents; `sensitive: true` Variables (a
Secret block of the variable's name); and the `{from_env: VAR}` values of the Environments
deployments use (one Secret block per project, overlay and variable, that job variables
reference as `{{ prefect.blocks.secret.NAME }}`).

Secrets are never read back: the server returns secret fields obfuscated, and pipeform
keeps a salted HMAC of each secret field in a Prefect variable
`pipeform-secret-hash-<type>_<name>` (a hash, not the value). The comparable form puts
`hmac:<hex>` at every secret path on both sides (the desired value hashed with the stored
salt), so a changed secret shows as a change without anyone reading it; a block whose
hashes are missing (made by hand, adopted) counts as changed once."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pipeform.spec import block_types
from pipeform.spec.models.block import (
    env_secret_name,
    from_env_name,
    from_env_paths,
    is_local_path,
    local_storage_name,
    variable_secret_name,
)
from pipeform.spec.project import Project

HASH_PREFIX = "pipeform-secret-hash-"
OBFUSCATED = "********"  # what the server returns for a secret field without include_secrets
UNKNOWN = "hmac:unknown"


def address_name(slug: str, name: str) -> str:
    return f"{slug}/{name}"


def hash_variable(block: str) -> str:
    """The variable holding a block's secret hashes (`slug/name`: neither has '_')."""
    return HASH_PREFIX + block.replace("/", "_")


@dataclass(frozen=True)
class WantedBlock:
    name: str  # slug/name
    data: dict[str, Any]  # `{from_env}` left in place (resolved by `resolved`)
    origin_kind: str
    origin_name: str
    secret_fields: tuple[str, ...]  # of the block type (installed class), plus every from_env path


def wanted_blocks(project: Project) -> list[WantedBlock]:
    out: list[WantedBlock] = []
    installed = block_types.installed() if project.of_kind("Block") else {}
    for name, doc in project.of_kind("Block").items():
        bt = installed.get(doc.spec.type)
        fields = (bt.secret_fields if bt else ()) + tuple(".".join(p) for p in from_env_paths(doc.spec.data))
        out.append(WantedBlock(address_name(doc.spec.type, name), dict(doc.spec.data), "Block", name, fields))
    for name, doc in project.variables.items():
        if doc.spec.sensitive:
            block = address_name("secret", variable_secret_name(name))
            out.append(WantedBlock(block, {"value": doc.spec.value}, "Variable", name, ("value",)))
    for path, (kind, doc_name) in sorted(local_storage_paths(project).items()):
        block = address_name("local-file-system", local_storage_name(project.name, path))
        out.append(WantedBlock(block, {"basepath": path}, kind, doc_name, ()))
    seen: set[str] = set()
    for dep in project.deployments.values():
        env_name = dep.spec.environment
        if not env_name:
            continue
        for value in project.environments[env_name].spec.env.values():
            if isinstance(value, str) or value.from_env in seen:
                continue
            seen.add(value.from_env)
            block = address_name("secret", env_secret_name(project.name, project.env, value.from_env))
            out.append(WantedBlock(block, {"value": {"from_env": value.from_env}}, "Environment", env_name, ("value",)))
    return out


def local_storage_paths(project: Project) -> dict[str, tuple[str, str]]:
    """Every local `result_storage` path (project defaults, flows, tasks) -> the document
    that first names it."""
    found: dict[str, tuple[str, str]] = {}
    for part in (project.defaults.flow, project.defaults.task):  # overlay applied
        if part.result_storage and is_local_path(part.result_storage):
            found.setdefault(part.result_storage, ("Project", project.name))
    for fname, flow in project.flows.items():
        for value in (flow.spec.result_storage, *(t.result_storage for t in flow.spec.tasks)):
            if value and is_local_path(value):
                found.setdefault(value, ("Flow", fname))
    return found


def block_template(project: Project, ref: str | None) -> str | None:
    """A block reference (a Block document's name, TYPE/NAME or TYPE.NAME) as the TYPE.NAME
    of Prefect's `{{ prefect.blocks.TYPE.NAME }}` templates."""
    if ref is None:
        return None
    if "/" in ref or "." in ref:
        return ref.replace("/", ".", 1)
    doc = project.of_kind("Block").get(ref)
    return f"{doc.spec.type}.{ref}" if doc else ref


def env_references(project: Project, env_spec: Any) -> dict[str, str]:
    """Environment variable -> the job-variable template of its Secret block."""
    return {
        key: "{{ prefect.blocks.secret." + env_secret_name(project.name, project.env, value.from_env) + " }}"
        for key, value in env_spec.env.items()
        if not isinstance(value, str)
    }


def secret_variables(project: Project) -> Iterable[tuple[str, str, str, tuple[Any, ...]]]:
    """(VAR, document kind, document name, path) of every `{from_env: VAR}` that apply reads."""
    for name, doc in project.of_kind("Block").items():
        for path in from_env_paths(doc.spec.data):
            value: Any = doc.spec.data
            for k in path:
                value = value[k]
            yield from_env_name(value) or "", "Block", name, ("spec", "data", *path)
    for name, doc in project.variables.items():
        if doc.spec.sensitive and from_env_name(doc.spec.value):
            yield from_env_name(doc.spec.value) or "", "Variable", name, ("spec", "value")
    for dep in project.deployments.values():
        if dep.spec.environment:
            for key, value in project.environments[dep.spec.environment].spec.env.items():
                if not isinstance(value, str):
                    yield value.from_env, "Environment", dep.spec.environment, ("spec", "env", key)


def resolved(data: Any, secrets: Mapping[str, str], path: str = "") -> tuple[Any, dict[str, str]]:
    """Data with `{from_env}` replaced by the value, and `_secret_sources` (path -> VAR)."""
    var = from_env_name(data)
    if var:
        return secrets[var], {path: var}
    if isinstance(data, dict):
        out, sources = {}, {}
        for k, v in data.items():
            out[k], found = resolved(v, secrets, f"{path}.{k}" if path else str(k))
            sources.update(found)
        return out, sources
    return data, {}


def secret_leaves(data: Any, fields: tuple[str, ...]) -> list[tuple[str, ...]]:
    return block_types.secret_paths(data, fields)


def _get(data: Any, path: tuple[str, ...]) -> Any:
    for k in path:
        data = data.get(k) if isinstance(data, dict) else None
    return data


def _set(data: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for k in path[:-1]:
        data = data.setdefault(k, {})
    data[path[-1]] = value


def digest(salt: str, value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":"))
    return "hmac:" + hmac.new(salt.encode(), text.encode(), hashlib.sha256).hexdigest()


def new_hashes(data: dict[str, Any], paths: Iterable[tuple[str, ...]]) -> dict[str, Any]:
    """What the hash variable holds after a write: a fresh salt and one HMAC per secret path."""
    salt = os.urandom(16).hex()
    return {"salt": salt, "fields": {".".join(p): digest(salt, _get(data, p)) for p in paths}}


def observed_data(data: dict[str, Any], hashes: Mapping[str, Any] | None) -> tuple[dict[str, Any], list[str]]:
    """The server's (obfuscated) data with each secret field replaced by its stored HMAC
    (UNKNOWN when none is stored), and the secret paths found."""
    fields = (hashes or {}).get("fields") or {}
    out = json.loads(json.dumps(data))
    paths: list[str] = []

    def walk(node: Any, path: tuple[str, ...]) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, (*path, str(k)))
        elif node == OBFUSCATED and path:
            dotted = ".".join(path)
            paths.append(dotted)
            _set(out, path, fields.get(dotted, UNKNOWN))

    walk(data, ())
    return out, paths


def comparable_data(want: dict[str, Any], secret_paths: Iterable[str], salt: str | None) -> dict[str, Any]:
    """Desired data with each secret value replaced by its HMAC under the server side's salt."""
    out: dict[str, Any] = json.loads(json.dumps(want))
    for dotted in secret_paths:
        path = tuple(dotted.split("."))
        if _get(want, path) is not None:
            _set(out, path, digest(salt, _get(want, path)) if salt else "hmac:new")
    return out


def placeholder_var(block: str, path: str) -> str:
    """The variable `pipeform import` names for a secret it cannot (and must not) read."""
    name = block.split("/", 1)[1]
    base = name if path == "value" else f"{name}-{path}"
    return "".join(c if c.isalnum() else "_" for c in base.upper())
