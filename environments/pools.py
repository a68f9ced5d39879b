"""Work pool templates, as a worker type ships them, without importing Prefect: the worker
types Prefect knows, each type's default base job template (Prefect's bundled
aggregate-worker-metadata.json, the same data the server's /collections view serves), a
WorkPool's effective template (default merged with its overrides), and checks of job
variables against the template's variables schema. Pure functions; problems are
(path, code, message) tuples that callers turn into located diagnostics."""

from __future__ import annotations

import difflib
import importlib.util
import json
import re
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

Problem = tuple[tuple[str | int, ...], str, str]  # (path inside the checked value, code, message)
_PLACEHOLDER = re.compile(r"\{\{\s*([\w.\-]+)\s*\}\}")


@cache
def worker_metadata() -> dict[str, dict[str, Any]]:
    """type -> worker metadata (default_base_job_configuration, ...)."""
    spec = importlib.util.find_spec("prefect")
    if spec is None or not spec.submodule_search_locations:
        return {}
    path = Path(next(iter(spec.submodule_search_locations)))
    path = path / "server" / "api" / "collections_data" / "views" / "aggregate-worker-metadata.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    out: dict[str, dict[str, Any]] = {}
    for collection in data.values():
        for worker in collection.values():
            if isinstance(worker, dict) and worker.get("type"):
                out[worker["type"]] = worker
    return out


def known_types() -> list[str]:
    return sorted(worker_metadata())


def deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, Mapping) and isinstance(out.get(k), Mapping) else v
    return out


def default_template(pool_type: str) -> dict[str, Any] | None:
    meta = worker_metadata().get(pool_type)
    return json.loads(json.dumps(meta["default_base_job_configuration"])) if meta else None


def effective_template(pool_type: str, overrides: Mapping[str, Any]) -> dict[str, Any] | None:
    base = default_template(pool_type)
    return None if base is None else deep_merge(base, overrides)


def variables_schema(template: Mapping[str, Any]) -> dict[str, Any]:
    schema = template.get("variables")
    return schema if isinstance(schema, dict) else {"type": "object", "properties": {}}


def _templated(value: Any) -> bool:
    return isinstance(value, str) and "{{" in value


def check_job_variables(schema: Mapping[str, Any], job_variables: Mapping[str, Any]) -> Iterator[Problem]:
    """Unknown variables and values of the wrong type (Prefect's worker drops the first
    silently and fails the run on the second). Values that are templates are run-time."""
    props = schema.get("properties") or {}
    for key, value in job_variables.items():
        if key not in props:
            near = difflib.get_close_matches(key, sorted(props), n=1, cutoff=0.6)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            yield (key,), "job-variables.unknown", f"the pool's job template has no variable {key!r}{hint}"
            continue
        if _templated(value):
            continue
        import jsonschema  # here: a spec without job variables never pays its import (~0.1 s)

        sub = {**props[key], "definitions": schema.get("definitions", {}), "$defs": schema.get("$defs", {})}
        try:
            error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(sub).iter_errors(value))
        except jsonschema.exceptions.SchemaError:
            continue  # the pool's own schema is broken: the server will say so
        if error is not None:
            where = (key, *error.absolute_path)
            yield where, "job-variables.type", f"job variable {key!r}: {error.message}"


def fill_defaults(value: Any, defaults: Mapping[str, Any]) -> Any:
    """A template with its placeholders replaced by the variables' defaults; a value that
    is exactly a placeholder without a default is dropped (Prefect's remove_notset)."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            filled = fill_defaults(v, defaults)
            if filled is not _UNSET:
                out[k] = filled
        return out
    if isinstance(value, list):
        return [f for f in (fill_defaults(v, defaults) for v in value) if f is not _UNSET]
    if isinstance(value, str):
        whole = _PLACEHOLDER.fullmatch(value.strip())
        if whole:
            return defaults.get(whole.group(1), _UNSET) if defaults.get(whole.group(1)) is not None else _UNSET
        return _PLACEHOLDER.sub(lambda m: str(defaults.get(m.group(1), "")), value)
    return value


_UNSET = object()


def defaults_of(template: Mapping[str, Any]) -> dict[str, Any]:
    props = variables_schema(template).get("properties") or {}
    return {k: v["default"] for k, v in props.items() if isinstance(v, dict) and "default" in v}
