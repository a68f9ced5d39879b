"""The published JSON Schema: generated from the models, validated with jsonschema.

The schema is what editors use (yaml-language-server) and what `pipeform validate` runs
first, on the raw file, before compile-time values are substituted. So every field that
is not a plain string also accepts a string holding a `<< ... >>` expression: an editor
must not flag `replicas: << values.replicas >>`, and neither does the CLI. Types are
checked again by the models after substitution.
"""

from __future__ import annotations

import copy
import json
import marshal
import sys
from collections.abc import Callable
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal

import fastjsonschema

from pipeform import diskcache

from .diagnostics import Diagnostic
from .diagnostics import did_you_mean as _did_you_mean
from .load import PathKey, SourceDocument
from .models import KINDS
from .versions import CURRENT, VERSIONS

if TYPE_CHECKING:  # imported where used: a valid document needs neither (jsonschema costs ~0.1 s)
    import jsonschema
    from jsonschema.exceptions import ValidationError
    from pydantic import BaseModel

SCHEMA_ID = "https://pipeform.dev/schemas/pipeform-v1.schema.json"
TEMPLATE_DEF = "CompileTimeExpression"
_KEEP_OUTSIDE = ("description", "title", "default", "examples")


def generate() -> dict[str, Any]:
    """Build the v1 schema from the pydantic models (deterministic, so it can be committed)."""
    from pydantic.json_schema import models_json_schema

    mode: Literal["validation"] = "validation"
    docs = [(model, mode) for model in KINDS.values()]
    _, top = models_json_schema(docs, ref_template="#/definitions/{model}")
    # The envelope is written by hand below; the *Document models only carry the specs.
    defs: dict[str, Any] = {
        name: _accept_templates(sub) for name, sub in top["$defs"].items() if not name.endswith("Document")
    }
    defs[TEMPLATE_DEF] = {
        "type": "string",
        # A plain substring (linear to search): `<<.*>>` backtracks quadratically on a long
        # run of `<<`. An unclosed `<<` is reported by the values step (value.syntax).
        "pattern": "<<",
        "description": "A compile-time expression such as << values.replicas >>, resolved when pipeform loads the specs.",
    }
    kinds = list(KINDS)
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": SCHEMA_ID,
        "title": "pipeform/v1 document",
        "description": "One pipeform document: apiVersion, kind, metadata, spec. See `pipeform schema`.",
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": False,
        "properties": {
            "apiVersion": {"const": CURRENT, "description": "Spec language version."},
            "kind": {"enum": kinds, "description": "Document kind."},
            "metadata": {"type": "object", "description": "Name, labels, annotations, description."},
            "spec": {"type": "object", "description": "The kind's settings."},
        },
        "allOf": [
            {
                "if": {"properties": {"kind": {"const": kind}}, "required": ["kind"]},
                "then": {
                    "properties": {
                        # names follow Prefect's rule for the kind (spaces allowed in a Deployment's, ...)
                        "metadata": {"$ref": f"#/definitions/{_field_def(model, 'metadata')}"},
                        "spec": {"$ref": f"#/definitions/{_field_def(model, 'spec')}"},
                    }
                },
            }
            for kind, model in KINDS.items()
        ],
        "definitions": defs,
    }


def _field_def(document_model: type[BaseModel], field: str) -> str:
    annotation = document_model.model_fields[field].annotation
    return annotation.__name__ if annotation is not None else ""


def _plain_string(schema: dict[str, Any]) -> bool:
    return schema.get("type") == "string" and not ({"pattern", "enum", "format", "const"} & schema.keys())


def _accept_templates(schema: dict[str, Any]) -> dict[str, Any]:
    schema = copy.deepcopy(schema)
    for key in ("properties",):
        for prop, sub in schema.get(key, {}).items():
            schema[key][prop] = _wrap(sub)
    if isinstance(schema.get("additionalProperties"), dict):
        schema["additionalProperties"] = _wrap(schema["additionalProperties"])
    if isinstance(schema.get("items"), dict):
        schema["items"] = _wrap(schema["items"])
    return schema


def _wrap(sub: dict[str, Any]) -> dict[str, Any]:
    # `{}` (any value) and free strings accept templates already; a template stands for a
    # value, never for a whole object with its own fields.
    if _plain_string(sub) or not (sub.keys() - set(_KEEP_OUTSIDE)) or set(sub) - set(_KEEP_OUTSIDE) == {"$ref"}:
        return sub
    inner = {k: v for k, v in sub.items() if k not in _KEEP_OUTSIDE or k == "description"}
    inner = _accept_templates(inner) if "$ref" not in inner else inner
    outer = {k: sub[k] for k in _KEEP_OUTSIDE if k in sub}
    outer["anyOf"] = [inner, {"$ref": f"#/definitions/{TEMPLATE_DEF}"}]
    return outer


def dumps(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def write_committed(path: str) -> None:
    """Regenerate the committed file: python -m pipeform.spec.schema schemas/pipeform-v1.schema.json"""
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(dumps(generate()))


if __name__ == "__main__":
    import sys

    write_committed(sys.argv[1])


@cache
def published(api_version: str = CURRENT) -> dict[str, Any]:
    """The committed schema file shipped inside the package (pipeform.schemas)."""
    name = VERSIONS[api_version].schema_file
    schema: dict[str, Any] = json.loads(resources.files("pipeform.schemas").joinpath(name).read_text(encoding="utf-8"))
    return schema


@cache
def _validators(api_version: str) -> tuple[jsonschema.Draft7Validator, dict[str, jsonschema.Draft7Validator]]:
    """A validator for the envelope and one per kind's metadata and spec (same file, same definitions)."""
    import jsonschema

    schema = published(api_version)
    envelope = {k: v for k, v in schema.items() if k != "allOf"}
    per_kind = {}
    for rule in schema["allOf"]:
        kind = rule["if"]["properties"]["kind"]["const"]
        per_kind[kind] = jsonschema.Draft7Validator(
            {"properties": rule["then"]["properties"], "definitions": schema["definitions"]}
        )
    return jsonschema.Draft7Validator(envelope), per_kind


@cache
def _fast(api_version: str) -> Callable[[Any], Any]:
    """The same schema compiled to Python by fastjsonschema: about 10x quicker for the
    common case of a valid document. It stops at the first error, so invalid documents
    are validated again with jsonschema to report every error with its position."""
    # Generating and compiling that Python takes about 0.5 s per process: the compiled code
    # is kept in pipeform's disk cache, keyed by the schema and the versions that make it.
    schema = published(api_version)
    key = (json.dumps(schema, sort_keys=True), diskcache.versions("fastjsonschema"), sys.version)
    blob = diskcache.get_bytes("validators", key)
    if blob:
        try:
            name, code = marshal.loads(blob)
            namespace: dict[str, Any] = {}
            exec(code, namespace)
            cached: Callable[[Any], Any] = namespace[name]
            return cached
        except Exception:  # a damaged entry: build it again
            pass
    from fastjsonschema.ref_resolver import RefResolver

    schema = copy.deepcopy(schema)  # fastjsonschema rewrites `$ref`s in place: keep the shared schema intact
    name = RefResolver.from_schema(schema, store={}).get_scope_name()
    code = fastjsonschema.compile_to_code(schema, use_default=False)  # never write into the data
    code = compile(code, "<pipeform schema>", "exec")
    diskcache.put_bytes("validators", key, marshal.dumps((name, code)))
    namespace = {}
    exec(code, namespace)
    validate: Callable[[Any], Any] = namespace[name]
    return validate


def check(doc: SourceDocument) -> list[Diagnostic]:
    """Validate one raw document. Equivalent to validating it against the whole published
    schema (the if/then rules select exactly the kind's spec schema), but faster and with
    errors that name the kind."""
    data = doc.data
    api = data.get("apiVersion")
    if not isinstance(api, str) or api not in VERSIONS:
        known = ", ".join(VERSIONS)
        hint = _did_you_mean(str(api), VERSIONS)
        return [
            Diagnostic(
                "doc.api-version",
                f"unknown apiVersion {api!r}; this pipeform knows {known}",
                doc.locate(("apiVersion",)),
                hint=hint,
            )
        ]
    try:
        _fast(api)(data)
        return []
    except fastjsonschema.JsonSchemaException:
        pass
    envelope, per_kind = _validators(api)
    kind = data.get("kind")
    out = [d for e in envelope.iter_errors(data) for d in _diagnostics(doc, e, ())]
    if isinstance(kind, str) and kind in per_kind:  # the envelope reports a metadata or spec that is not a mapping
        parts = {k: data[k] for k in ("metadata", "spec") if isinstance(data.get(k), dict)}
        out.extend(d for e in per_kind[kind].iter_errors(parts) for d in _diagnostics(doc, e, ()))
    return sorted(out, key=lambda d: (d.origin.line, d.origin.column) if d.origin else (0, 0))


def _expand(error: ValidationError) -> list[ValidationError]:
    """The errors worth reporting for one jsonschema error.

    An anyOf/oneOf error hides the real problems in its branches. Pick the branch the
    value was meant for (one whose type matches, never the compile-time template branch)
    and report every error in it; when no branch's type matches, report one type error.
    """
    if error.validator not in ("anyOf", "oneOf") or not error.context:
        return [error]
    branches: dict[int, list[ValidationError]] = {}
    for e in error.context:
        branches.setdefault(e.relative_schema_path[0], []).append(e)
    options = error.validator_value
    disc = error.schema.get("discriminator") if isinstance(error.schema, dict) else None
    if disc and isinstance(error.instance, dict):  # a typed variant (Automation actions): its `type` picks the branch
        prop, mapping = disc["propertyName"], disc.get("mapping", {})
        target = mapping.get(error.instance.get(prop)) if isinstance(error.instance.get(prop), str) else None
        if target is None:
            missing = prop not in error.instance
            from jsonschema.exceptions import ValidationError

            return [
                ValidationError(
                    f"{prop!r} is a required property" if missing else "not a known variant",
                    validator="required" if missing else "enum",
                    validator_value=[prop] if missing else sorted(mapping),
                    instance=error.instance if missing else error.instance.get(prop),
                    path=list(error.absolute_path) if missing else [*error.absolute_path, prop],
                    schema=error.schema,
                )
            ]
        index = next((i for i, o in enumerate(options) if o.get("$ref") == target), None)
        if index is not None:
            return [x for e in branches.get(index, []) for x in _expand(e)] or [error]
    candidates = []
    for index, errs in sorted(branches.items()):
        if options[index].get("$ref", "").endswith(TEMPLATE_DEF):
            continue
        if any(e.validator == "type" and not e.relative_path for e in errs):
            continue
        candidates.append(errs)
    if not candidates:
        wanted = sorted({t for o in options for t in _types_of(o)} - {"CompileTimeExpression"})
        error.validator, error.validator_value = "type", wanted or ["a valid value"]
        return [error]
    return [x for e in candidates[0] for x in _expand(e)]


def _types_of(option: dict[str, Any]) -> list[str]:
    if "type" in option:
        return option["type"] if isinstance(option["type"], list) else [option["type"]]
    if "$ref" in option:
        name = option["$ref"].rsplit("/", 1)[-1]
        return ["string"] if name == TEMPLATE_DEF else ["object"]
    if "anyOf" in option:
        return [t for o in option["anyOf"] for t in _types_of(o)]
    return []


def _diagnostics(doc: SourceDocument, error: ValidationError, prefix: PathKey) -> list[Diagnostic]:
    out = []
    for e in _expand(error):
        if e.validator == "additionalProperties" and isinstance(e.instance, dict):
            out.extend(_unknown_fields(doc, e, (*prefix, *e.absolute_path)))
        else:
            out.append(_diagnostic(doc, e, prefix))
    return out


# Fields pipeform once accepted, or that prefect.yaml has, and where they live instead.
MOVED: dict[str, str] = {}


def where_text(path: PathKey) -> str:
    """A path as people write it: spec.schedules[0].cron."""
    out = ""
    for step in path:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else str(step))
    return out


def _unknown_fields(doc: SourceDocument, error: ValidationError, path: PathKey) -> list[Diagnostic]:
    """One diagnostic per unknown key, each at its own key."""
    allowed = set(error.schema.get("properties", {}))
    where = "the document" if not path else where_text(path)
    return [
        Diagnostic(
            "schema.unknown-field",
            f"unknown field {key!r} in {where}",
            doc.locate((*path, key), key=True),
            hint=MOVED.get(key) if path and path[-1] == "spec" and key in MOVED else _did_you_mean(key, allowed),
        )
        for key in error.instance
        if key not in allowed
    ]


def _diagnostic(doc: SourceDocument, error: ValidationError, prefix: PathKey) -> Diagnostic:
    path = (*prefix, *error.absolute_path)
    v = error.validator
    if v == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        return Diagnostic("schema.required", f"missing required field {missing!r}", doc.locate(path, key=True))
    if path == ("kind",) and v == "enum":
        return Diagnostic(
            "doc.unknown-kind",
            f"unknown kind {error.instance!r}; kinds are {', '.join(KINDS)}",
            doc.locate(path),
            hint=_did_you_mean(str(error.instance), KINDS),
        )
    if v in ("enum", "const"):
        options = error.validator_value if v == "enum" else [error.validator_value]
        return Diagnostic(
            "schema.enum",
            f"{error.instance!r} is not one of {', '.join(map(repr, options))}",
            doc.locate(path),
            hint=_did_you_mean(str(error.instance), options),
        )
    if v == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        return Diagnostic(
            "schema.type",
            f"expected {expected}, got {type_name(error.instance)} {_short(error.instance)}",
            doc.locate(path),
        )
    if v == "pattern":
        what = error.schema.get("description") or f"a string matching {error.validator_value}"
        return Diagnostic(
            "schema.pattern",
            f"{_short(error.instance)} is not valid here: expected {what[:1].lower()}{what[1:]}",
            doc.locate(path),
        )
    return Diagnostic("schema.invalid", _short_message(error.message), doc.locate(path))


def type_name(value: Any) -> str:
    return {
        dict: "object",
        list: "array",
        str: "string",
        bool: "boolean",
        int: "integer",
        float: "number",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def _short_message(message: str) -> str:
    return message if len(message) <= 160 else message[:157] + "..."
