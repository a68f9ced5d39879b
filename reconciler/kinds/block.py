"""Block documents, sensitive Variables and Environment secrets -> Prefect block documents
(`block.<type>/<name>`: names are unique per block type). Created with the server's schema
of the type (registered first from the installed class when the server lacks it), updated
in place (PATCH: same id, so references to it hold), deleted only when owned and pruned.
Secret fields are compared through salted HMACs (block_values.py), never read back; the
values written come from this machine's environment (`_secret_sources`)."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from pipeform.spec import block_types

from ..api import ServerAPI, seg
from ..changes import ResourceChange
from ..diagnostics import BLOCK_TYPE_UNKNOWN, located
from ..resources import Resource
from . import block_values as bv
from .base import ApplyContext, Body, ImportedDoc, Kind, NotImported, ObserveContext, filtered
from .common import origin, secrets_filled

if TYPE_CHECKING:
    from ..inputs import DesiredInput

PIPEFORM_PREFIX = "pipeform-"  # Secret blocks pipeform names itself (Environment secrets)


class BlockKind(Kind):
    name = "block"
    order = 2  # before the deployments and automations that reference blocks
    document = "Block"
    import_file = "blocks.yaml"

    def desired(self, inputs: DesiredInput) -> Iterable[Resource]:
        project = inputs.project
        for w in bv.wanted_blocks(project):
            data, sources = bv.resolved(w.data, inputs.secrets)
            paths = [".".join(p) for p in bv.secret_leaves(data, w.secret_fields)]
            body: Body = {"type": w.name.split("/", 1)[0], "data": data, "_secret_paths": paths}
            if sources:
                body["_secret_sources"] = {f"data.{p}": var for p, var in sources.items()}
            yield self.resource(
                w.name,
                body,
                origin=origin(project, w.origin_kind, w.origin_name),
                sensitive=tuple(f"data.{p}" for p in paths),
            )

    async def observe(self, ctx: ObserveContext, names: frozenset[str]) -> list[Resource]:
        if not names:
            return []
        docs, hashes, _ = await asyncio.gather(
            filtered(ctx.api, "/block_documents/filter", "block_documents", {n.split("/", 1)[1] for n in names}),
            filtered(ctx.api, "/variables/filter", "variables", {bv.hash_variable(n) for n in names}),
            self._check_types(ctx, {n.split("/", 1)[0] for n in names}),
        )
        by_var = {v["name"]: v["value"] for v in hashes}
        out = []
        for doc in docs:
            slug = (doc.get("block_type") or {}).get("slug", "")
            block = bv.address_name(slug, doc["name"])
            if block not in names or doc.get("is_anonymous"):
                continue
            stored = by_var.get(bv.hash_variable(block))
            data, _ = bv.observed_data(doc.get("data") or {}, stored if isinstance(stored, dict) else None)
            salt = stored.get("salt") if isinstance(stored, dict) else None
            out.append(self.resource(block, {"type": slug, "data": data, "_salt": salt}, server_id=doc["id"]))
        return out

    async def _check_types(self, ctx: ObserveContext, slugs: set[str]) -> list[Any]:
        """A type neither installed here nor on the server cannot be created: a plan error."""
        installed = block_types.installed()
        for slug in sorted(slugs - set(installed)):
            if not await ctx.api.request("GET", f"/block_types/slug/{seg(slug)}", ok=(404,)):
                message = (
                    f"block type {slug!r} is neither registered on the server nor installed here"
                    " (install the Prefect collection that provides it)"
                )
                ctx.errors.append(located(BLOCK_TYPE_UNKNOWN, message))
        return []

    def comparable(self, want: Body, have: Body) -> tuple[Body, Body]:
        paths = want.get("_secret_paths") or []
        w = {"type": want["type"], "data": bv.comparable_data(want["data"], paths, have.get("_salt"))}
        return w, {"type": have["type"], "data": have["data"]}

    # --- writes --------------------------------------------------------------------------

    async def _type_and_schema(self, ctx: ApplyContext, slug: str) -> tuple[str, str]:
        ids: tuple[str, str] = await ctx.once(f"block-type:{slug}", lambda: _ensure_type(ctx.api, slug))
        return ids

    async def _write_document(self, ctx: ApplyContext, method: str, path: str, body: Body) -> None:
        """POST/PATCH a block document, the first of an apply alone. Prefect (3.8.8,
        server/utilities/encryption.py) makes its encryption key on the first block
        document write: it reads the `ENCRYPTION_KEY` configuration row and, when missing,
        inserts a new one, without a lock. On PostgreSQL concurrent first writes race:
        all but one answer 409 (unique `uq_configuration__key`), or (by the code) one can
        overwrite the key another encrypted with, whose document then fails to decrypt. SQLite
        serialises the writes. Once one write has succeeded the key exists."""
        await ctx.alone_until_done("block-document-write", lambda: ctx.api.request(method, path, body))

    async def _write_hashes(self, api: ServerAPI, c: ResourceChange, data: dict[str, Any]) -> None:
        paths = [tuple(p.split(".")) for p in (c.after or {}).get("_secret_paths") or []]
        var = bv.hash_variable(c.name)
        if not paths:
            await api.request("DELETE", f"/variables/name/{seg(var)}", ok=(404,))
            return
        body = {"value": bv.new_hashes(data, paths), "tags": ["pipeform-secret-hash"]}
        if await api.request("GET", f"/variables/name/{seg(var)}", ok=(404,)):
            await api.request("PATCH", f"/variables/name/{seg(var)}", body)
        else:
            await api.request("POST", "/variables/", {"name": var, **body})

    async def create(self, ctx: ApplyContext, c: ResourceChange) -> None:
        b = secrets_filled(c.after)
        type_id, schema_id = await self._type_and_schema(ctx, b["type"])
        body = {
            "name": c.name.split("/", 1)[1],
            "data": b["data"],
            "block_type_id": type_id,
            "block_schema_id": schema_id,
            "is_anonymous": False,
        }
        await self._write_document(ctx, "POST", "/block_documents/", body)
        await self._write_hashes(ctx.api, c, b["data"])

    async def update(self, ctx: ApplyContext, c: ResourceChange) -> None:
        b = secrets_filled(c.after)
        _, schema_id = await self._type_and_schema(ctx, b["type"])
        patch = {"data": b["data"], "merge_existing_data": False, "block_schema_id": schema_id}
        await self._write_document(ctx, "PATCH", f"/block_documents/{c.server_id}", patch)
        await self._write_hashes(ctx.api, c, b["data"])

    async def delete(self, ctx: ApplyContext, c: ResourceChange) -> None:
        await ctx.api.request("DELETE", f"/block_documents/{c.server_id}", ok=(404,))
        await ctx.api.request("DELETE", f"/variables/name/{seg(bv.hash_variable(c.name))}", ok=(404,))

    # --- import --------------------------------------------------------------------------

    async def read_all(self, api: ServerAPI) -> dict[str, Any]:
        docs = await api.all("/block_documents/filter", {"block_documents": {"is_anonymous": {"eq_": False}}})
        return {"block_documents": docs}

    def documents(self, server: Mapping[str, Any]) -> Iterable[ImportedDoc | NotImported]:
        """Every named block; a secret field becomes `{from_env: VAR}` (its value is never
        read: the server answers without secrets)."""
        seen: set[str] = set()
        for doc in server.get("block_documents", []):
            name, slug = doc["name"], (doc.get("block_type") or {}).get("slug", "")
            if name.startswith(PIPEFORM_PREFIX):
                yield NotImported("Block", name, f"Block {name!r}: an Environment secret pipeform keeps itself")
                continue
            if name in seen:
                yield NotImported("Block", name, f"Block {name!r}: another block of that name was imported")
                continue
            seen.add(name)
            yield ImportedDoc("Block", name, {"type": slug, "data": _placeholders(slug, name, doc.get("data") or {})})


def _placeholders(slug: str, name: str, data: Any, path: str = "") -> Any:
    if isinstance(data, dict):
        return {k: _placeholders(slug, name, v, f"{path}.{k}" if path else k) for k, v in data.items()}
    if data == bv.OBFUSCATED:
        return {"from_env": bv.placeholder_var(bv.address_name(slug, name), path)}
    return data


async def _ensure_type(api: ServerAPI, slug: str) -> tuple[str, str]:
    """(block type id, block schema id) on the server: the installed class's schema when
    there is one (registered if the server lacks it), else the server's newest."""
    installed = block_types.installed().get(slug)
    cls = _block_class(installed.class_path) if installed and installed.class_path else None
    block_type = await api.request("GET", f"/block_types/slug/{seg(slug)}", ok=(404,))
    if not block_type:
        if cls is None:
            raise ValueError(f"block type {slug!r} is neither on the server nor installed here")
        fields = {"name", "slug", "logo_url", "documentation_url", "description", "code_example"}
        block_type = await api.request(
            "POST", "/block_types/", cls._to_block_type().model_dump(mode="json", include=fields)
        )
    if cls is not None:
        schema = await api.request("GET", f"/block_schemas/checksum/{cls._calculate_schema_checksum()}", ok=(404,))
        if not schema:
            create = cls._to_block_schema(block_type_id=block_type["id"])
            body = create.model_dump(mode="json", include={"fields", "block_type_id", "capabilities", "version"})
            schema = await api.request("POST", "/block_schemas/", body)
        return block_type["id"], schema["id"]
    found = await api.all("/block_schemas/filter", {"block_schemas": {"block_type_id": {"any_": [block_type["id"]]}}})
    if not found:
        raise ValueError(f"block type {slug!r} has no schema on the server")
    return block_type["id"], max(found, key=lambda s: s.get("created") or "")["id"]


def _block_class(path: str) -> Any:
    module, _, qualname = path.partition(":")
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


BLOCK = BlockKind()
