"""A kubernetes WorkPool's job manifest checked against the Kubernetes OpenAPI schemas
(kubernetes-validate), with the template's placeholders filled by their defaults, the way
the worker would fill them for a run that sets no job variables."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator, Mapping
from typing import Any

from .pools import Problem, defaults_of, fill_defaults

MANIFEST_PATH = ("job_configuration", "job_manifest")
# A placeholder the worker fills at run time with a value of the right type (an image is
# always set by Prefect's worker): stands in for the check.
_RUNTIME = {"image": "prefecthq/prefect:3-latest", "name": "run", "env": [], "command": [], "labels": {}}


def manifest(template: Mapping[str, Any]) -> Any:
    job = (template.get("job_configuration") or {}).get("job_manifest")
    defaults = {**_RUNTIME, **defaults_of(template)}
    return fill_defaults(job, defaults) if job is not None else None


def check_manifest(template: Mapping[str, Any]) -> Iterator[Problem]:
    if importlib.util.find_spec("kubernetes_validate") is None:
        yield MANIFEST_PATH, "work-pool.k8s-unchecked", "kubernetes-validate is not installed: job manifest not checked"
        return
    doc = manifest(template)
    if not isinstance(doc, dict):
        return
    _drop_default_extras(doc)
    try:
        errors = _errors(doc)
    except Exception as exc:  # no schema for this apiVersion/kind, unreadable manifest
        yield MANIFEST_PATH, "work-pool.k8s-manifest", f"job manifest cannot be checked: {exc}"
        return
    for err in errors:
        path = (*MANIFEST_PATH, *err.absolute_path)
        if err.validator == "additionalProperties" and isinstance(err.instance, dict):
            known = set(err.schema.get("properties") or {})
            for extra in sorted(set(err.instance) - known):
                yield (*path, extra), "work-pool.k8s-manifest", f"job manifest: unknown field {extra!r}"
        else:
            yield path, "work-pool.k8s-manifest", f"job manifest: {err.message}"
    yield from _enums(doc)


# Values the OpenAPI schemas leave as free strings but the API server refuses otherwise
# (a Job's pods may only restart Never or OnFailure).
_ENUMS: dict[tuple[str, ...], tuple[str, ...]] = {
    ("spec", "template", "spec", "restartPolicy"): ("Never", "OnFailure"),
}
_CONTAINER_ENUMS: dict[str, tuple[str, ...]] = {"imagePullPolicy": ("Always", "IfNotPresent", "Never")}


def _enums(doc: dict[str, Any]) -> Iterator[Problem]:
    for path, allowed in _ENUMS.items():
        value: Any = doc
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if value is not None and value not in allowed:
            yield (
                (*MANIFEST_PATH, *path),
                "work-pool.k8s-manifest",
                f"job manifest: {path[-1]} must be one of {list(allowed)}, not {value!r}",
            )
    pod = ((doc.get("spec") or {}).get("template") or {}).get("spec") or {}
    for i, c in enumerate(pod.get("containers") or [] if isinstance(pod, dict) else []):
        for key, allowed in _CONTAINER_ENUMS.items():
            if isinstance(c, dict) and c.get(key) is not None and c[key] not in allowed:
                where = (*MANIFEST_PATH, "spec", "template", "spec", "containers", i, key)
                yield (
                    where,
                    "work-pool.k8s-manifest",
                    f"job manifest: {key} must be one of {list(allowed)}, not {c[key]!r}",
                )


# Fields Prefect's own default template puts where the strict schema has none (a Job's
# `parallelism`/`completions` inside the pod spec): the API server ignores them; not the
# user's doing, so not reported. Dropped only when they hold the default's value.
_DEFAULT_EXTRAS = {("spec", "template", "spec"): {"parallelism": 1, "completions": 1}}


def _drop_default_extras(doc: dict[str, Any]) -> None:
    for path, extras in _DEFAULT_EXTRAS.items():
        node: Any = doc
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict):
            for key, value in extras.items():
                if node.get(key) == value:
                    node.pop(key)


def _errors(doc: dict[str, Any]) -> list[Any]:
    """Every error (kubernetes_validate.validate stops at the first), with its own strict
    schemas for the newest Kubernetes version it ships."""
    import re

    import jsonschema
    from kubernetes_validate import utils
    from referencing import Registry, Resource

    version = utils.latest_version()
    folder = f"v{version}-local-strict"
    api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", str(doc["apiVersion"]))
    schema = utils.schema_contents(f"kubernetes-json-schema/{folder}/{str(doc['kind']).lower()}-{api}.json", version)
    defs = utils.schema_contents(f"kubernetes-json-schema/{folder}/_definitions.json", version)
    registry = Resource.from_contents(defs) @ (Resource.from_contents(schema) @ Registry())
    validator = jsonschema.Draft202012Validator(schema, registry=registry)
    return sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
