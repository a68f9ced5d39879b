"""Server objects -> pipeform spec documents (`pipeform import`), so a team can adopt
pipeform for what it already has. Pure once the server's JSON is read (read_server). Each
kind reads its objects (`Kind.read_all`) and writes its documents (`Kind.documents`).

Left out, with a note: pipeform's own bookkeeping (inventory, locks), server-internal
limits (tag:*, deployment:*), deployments made by pipeform from Flow documents (their
specs exist already), names the spec language does not accept, and automations whose
trigger or actions it cannot express (compound/sequence triggers, block-based actions).
A deployment's trigger automations are written as its `triggers` (kinds/trigger_import.py),
not as Automation documents.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .api import ServerAPI
from .kinds import REGISTRY, ImportedDoc

IMPORTABLE: tuple[str, ...] = tuple(dict.fromkeys(k.document for k in REGISTRY if k.document))
# The file each document kind is written to, in registry order.
IMPORT_FILES: dict[str, str] = {k.document: k.import_file for k in REGISTRY if k.document and k.import_file}


@dataclass(frozen=True)
class Imported:
    documents: tuple[dict[str, Any], ...]
    skipped: tuple[str, ...]  # "kind name: why"


async def read_server(api: ServerAPI) -> dict[str, Any]:
    server: dict[str, Any] = {}
    for kind in REGISTRY:
        server.update(await kind.read_all(api))
    return server


def _doc(kind: str, name: str, spec: dict[str, Any], description: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if description:
        meta["description"] = description
    return {"apiVersion": "pipeform/v1", "kind": kind, "metadata": meta, "spec": spec}


def to_documents(server: dict[str, Any], kinds: tuple[str, ...] = IMPORTABLE, name: str | None = None) -> Imported:
    docs: list[dict[str, Any]] = []
    skipped: list[str] = []
    for kind in REGISTRY:
        valid = re.compile(kind.name_pattern)
        for item in kind.documents(server):
            if item.document not in kinds or (name and item.name != name):
                continue
            if not isinstance(item, ImportedDoc):
                if item.instead is None:
                    skipped.append(item.why)
                elif item.instead not in kinds or name:  # else written by that kind: nothing to say
                    skipped.append(f"{item.why}; import that {item.instead} to write it")
            elif not valid.match(item.name):
                skipped.append(
                    f"{item.document} {item.name!r}: not a name the spec language accepts ({kind.name_rule})"
                )
            else:
                docs.append(_doc(item.document, item.name, item.spec, item.description))
    return Imported(tuple(docs), tuple(skipped))
