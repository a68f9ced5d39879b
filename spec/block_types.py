"""What a block type accepts, known offline: the block classes installed here (Prefect's own
and those of collections such as prefect-aws, found through the `prefect.collections`
entry points Prefect itself loads), summarised as frozen `BlockType` values.

The summary (fields schema, secret fields, capabilities) is kept in pipeform's disk cache
keyed by the installed versions, so `validate` imports Prefect only the first time. The
reconciler compares the same shape with the server's `/block_schemas` at plan time and
registers a type the server does not know from the installed class."""

from __future__ import annotations

import fnmatch
import importlib.metadata
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from pipeform import diskcache


@dataclass(frozen=True)
class BlockType:
    slug: str
    schema: dict[str, Any] = field(compare=False)  # Prefect's block schema `fields` (JSON Schema)
    secret_fields: tuple[str, ...] = ()  # dotted paths; '*' matches any key (Prefect's notation)
    capabilities: tuple[str, ...] = ()  # "notify" (send-notification), "call" (call-webhook), "read-path", ...
    class_path: str = ""  # module:qualname, to register the type on a server that lacks it


def _collections() -> tuple[tuple[str, str], ...]:
    """(entry point, distribution version) of every installed Prefect collection."""
    out = []
    for ep in importlib.metadata.entry_points(group="prefect.collections"):
        dist = getattr(ep, "dist", None)
        out.append((ep.name, dist.version if dist else "?"))
    return tuple(sorted(out))


def _from_classes() -> dict[str, dict[str, Any]]:
    """Every registered block class, summarised (imports Prefect and the collections)."""
    import prefect.blocks.notifications
    import prefect.blocks.system
    import prefect.blocks.webhook
    import prefect.filesystems  # noqa: F401
    from prefect.blocks.core import Block
    from prefect.plugins import load_prefect_collections
    from prefect.utilities.dispatch import get_registry_for_type

    load_prefect_collections()
    out: dict[str, dict[str, Any]] = {}
    for slug, cls in sorted((get_registry_for_type(Block) or {}).items()):
        try:
            schema = cls.model_json_schema()
            caps = sorted(cls.get_block_capabilities())
        except Exception:  # a collection's broken block class must not break validate
            continue
        out[slug] = {
            "schema": schema,
            "secret_fields": list(dict.fromkeys(schema.get("secret_fields") or [])),
            "capabilities": caps,
            "class_path": f"{cls.__module__}:{cls.__qualname__}",
        }
    return out


@lru_cache(maxsize=1)
def installed() -> dict[str, BlockType]:
    key = (diskcache.versions("prefect", "pydantic"), _collections())
    raw = diskcache.get("block-types", key)
    if not isinstance(raw, dict):
        raw = _from_classes()
        diskcache.put("block-types", key, raw)
    return {
        slug: BlockType(slug, v["schema"], tuple(v["secret_fields"]), tuple(v["capabilities"]), v["class_path"])
        for slug, v in raw.items()
    }


def from_server_schema(slug: str, block_schema: dict[str, Any]) -> BlockType:
    """A BlockType from the server's block schema (GET /block_schemas/...)."""
    fields = block_schema.get("fields") or {}
    return BlockType(
        slug,
        fields,
        tuple(dict.fromkeys(fields.get("secret_fields") or [])),
        tuple(sorted(block_schema.get("capabilities") or [])),
    )


def is_secret(path: tuple[str, ...], secret_fields: tuple[str, ...]) -> bool:
    """Whether a data path is (or lies inside) a secret field ('secrets.*' covers secrets.x)."""
    dotted = ".".join(path)
    for pattern in secret_fields:
        parts = pattern.split(".")
        if len(path) >= len(parts) and fnmatch.fnmatchcase(".".join(path[: len(parts)]), pattern):
            return True
        if dotted == pattern:
            return True
    return False


def secret_paths(data: Any, secret_fields: tuple[str, ...], path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every leaf path of `data` that is secret (the whole field when a secret field is a mapping)."""
    if path and is_secret(path, secret_fields):
        return [path]
    if isinstance(data, dict):
        return [p for k, v in data.items() for p in secret_paths(v, secret_fields, (*path, str(k)))]
    return []


def data_errors(block_type: BlockType, data: dict[str, Any]) -> list[tuple[tuple[Any, ...], str]]:
    """(path inside data, message) for every way `data` does not fit the block type's schema."""
    import jsonschema

    schema = {k: v for k, v in block_type.schema.items() if k not in ("block_schema_references", "secret_fields")}
    schema.setdefault("additionalProperties", False)  # a misspelt field would be silently dropped by Prefect
    validator = jsonschema.Draft202012Validator(schema)
    out = []
    for err in sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path))):
        path = tuple(err.absolute_path)
        if err.validator == "additionalProperties":
            extra = sorted(set(err.instance) - set(err.schema.get("properties") or {}))
            known = sorted(err.schema.get("properties") or {})
            out.append(
                ((*path, extra[0]) if extra else path, f"unknown field {extra[0]!r} (fields: {', '.join(known)})")
            )
            continue
        out.append((path, _short(err)))
    return out


def _short(err: Any) -> str:
    """jsonschema's message without echoing the value (it may be a secret)."""
    if err.validator == "required":
        return str(err.message)
    if err.validator in ("type", "anyOf", "oneOf"):
        wanted = err.schema.get("type") or [s.get("type") for s in err.schema.get(err.validator, []) if "type" in s]
        return f"wrong type (expected {wanted})" if wanted else "value does not match the field's schema"
    if err.validator == "enum":
        return f"must be one of {err.schema['enum']}"
    return f"value refused by the field's schema ({err.validator})"
