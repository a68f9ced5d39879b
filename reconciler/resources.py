"""Resources: one server object in a comparable form, the same shape on both sides
(desired from the specs, actual from the server).

Addresses are `<kind>.<name>`: work_pool.default, work_queue.default/critical,
global_limit.warehouse, tag_limit.db, variable.bucket, deployment.<flow>/<deployment>,
schedule.<flow>/<deployment>/<slug>, automation.<name>. A name with characters beyond
letters, digits and `. _ - / :` (Prefect names may hold spaces) is shown quoted,
`deployment."Hello World/Hello World - Helm"`, and `--target` takes either spelling.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pipeform import masking

MASK = masking.MASK


class FrozenBody(dict[str, Any]):
    """A resource's body, read-only once built (a dict still, for json and comparisons).
    Only its top level is guarded: nested values are never written to either."""

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError("a Resource body is immutable; build a new Resource")

    __setitem__ = __delitem__ = setdefault = pop = popitem = clear = update = _refuse
    __ior__ = _refuse

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenBody, (dict(self),))


_PLAIN = re.compile(r"^[A-Za-z0-9._/:-]+$")


def shown(address: str) -> str:
    """The address as plans print it: the name quoted when it holds spaces or other characters."""
    kind, dot, name = address.partition(".")
    return address if not dot or _PLAIN.match(name) else f"{kind}.{json.dumps(name, ensure_ascii=False)}"


def unquote(target: str) -> str:
    """A --target as typed (`deployment."a b/c"`, `deployment.'a b/c'` or unquoted) -> the address."""
    kind, dot, name = target.partition(".")
    if dot and len(name) >= 2 and name[0] == name[-1] and name[0] in "\"'":
        with contextlib.suppress(ValueError):
            name = json.loads(name) if name[0] == '"' else name[1:-1]
    return f"{kind}{dot}{name}"


@dataclass(frozen=True)
class Resource:
    address: str
    kind: str
    name: str
    body: dict[str, Any]  # normalized, comparable fields (plus a few write-only ones, see normalize.NOT_COMPARED)
    origin: str | None = None  # file:line:col of the declaring document (desired side only)
    sensitive: tuple[str, ...] = ()  # dotted paths inside body whose values are secret
    server_id: str | None = None  # actual side only
    parent: str | None = None  # address of the object this one lives in (a queue's pool, a schedule's deployment)

    def __post_init__(self) -> None:
        if not isinstance(self.body, FrozenBody):
            object.__setattr__(self, "body", FrozenBody(self.body))


def canonical(value: Any) -> str:
    """JSON text that ignores key order and int/float spelling (1 == 1.0)."""

    def norm(v: Any) -> Any:
        if isinstance(v, dict):
            return {str(k): norm(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [norm(x) for x in v]
        if isinstance(v, float) and v.is_integer():
            return int(v)
        return v

    return json.dumps(norm(value), sort_keys=True, separators=(",", ":"), default=str)


def fingerprint(resources: Iterable[Resource], addresses: Iterable[str] | None = None) -> str:
    """Hash of the observed state a plan was made from. Restricted to `addresses` (those the
    plan talks about) so unrelated changes on a shared server do not make a saved plan stale."""
    keep = set(addresses) if addresses is not None else None
    rows = sorted(((r.address, r.body) for r in resources if keep is None or r.address in keep), key=lambda x: x[0])
    return hashlib.sha256(canonical(rows).encode()).hexdigest()[:16]


def touches(path: str, sensitive: Iterable[str]) -> bool:
    """Whether a dotted path is, contains or lies inside a sensitive path."""
    return any(path == s or path.startswith(s + ".") or s.startswith(path + ".") or not path for s in sensitive)


def masked(body: dict[str, Any] | None, sensitive: tuple[str, ...]) -> dict[str, Any] | None:
    """A copy of body with every sensitive path replaced by MASK."""
    if body is None or not sensitive:
        return body
    out: dict[str, Any] = json.loads(json.dumps(body, default=str))
    for path in sensitive:
        node: Any = out
        keys = path.split(".")
        for k in keys[:-1]:
            node = node.get(k) if isinstance(node, dict) else None
            if node is None:
                break
        if isinstance(node, dict) and keys[-1] in node:
            node[keys[-1]] = MASK
    return out


def secret_values(body: dict[str, Any] | None, sensitive: tuple[str, ...]) -> list[str]:
    """The secret strings inside body, to scrub them from error messages."""
    out: list[str] = []
    for path in sensitive:
        node: Any = body
        for k in path.split("."):
            node = node.get(k) if isinstance(node, dict) else None
        if node not in (None, "", MASK):
            out.append(node if isinstance(node, str) else json.dumps(node))
    return out


def scrub(text: str, secrets: Iterable[str]) -> str:
    return masking.scrub(text, secrets)  # every escaped and encoded form too


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """`over` on top of `base`, mappings merged key by key at every depth."""
    out = dict(base)
    for k, v in over.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out
