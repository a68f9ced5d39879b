"""prefect.yaml files -> pipeform documents (plain dicts) and located diagnostics.

Every field either carries over or is reported at its prefect.yaml line; nothing is
dropped silently. The documents are returned as data; `write.py` writes them out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pipeform.spec.diagnostics import Diagnostic, Origin, Severity
from pipeform.spec.flow_names import default_name, function_of, import_flow_name, resolve
from pipeform.spec.load import PathKey, SourceFile

from .deployment import Report, convert_deployment
from .templates import PLACEHOLDER, Placeholders, secret_block_name, values_ref

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: same rules as safe_load, ~10x faster
TOP_KEYS = {"name", "prefect-version", "build", "push", "pull", "deployments", "definitions"}
IMAGE_ENV = "image"  # the Environment document written for a built image


@dataclass
class Conversion:
    project: str
    documents: list[dict[str, Any]] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)  # Project values (resolved Prefect variables, image)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    env_used: set[str] = field(default_factory=set)
    secrets: set[str] = field(default_factory=set)  # env vars kept in Secret blocks (Block documents)
    deployment_defaults: dict[str, Any] = field(default_factory=dict)  # the Project's defaults.deployment

    @property
    def ok(self) -> bool:
        return not any(d.severity == "error" for d in self.diagnostics)


def _doc(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "pipeform/v1", "kind": kind, "metadata": {"name": name}, "spec": spec}


def project_name(raw: str) -> str:
    """A Project name (lower-case, digits, '.', '_', '-') from prefect.yaml's `name`."""
    name = re.sub(r"[^a-z0-9._-]+", "-", raw.lower()).strip("-._")[:100]
    return name or "converted"


def _steps(items: Any) -> list[dict[str, Any]]:
    if isinstance(items, dict) and items:
        return [items]
    return [s for s in items if isinstance(s, dict)] if isinstance(items, list) else []


def _step_ids(steps: list[dict[str, Any]]) -> dict[str, str]:
    out = {}
    for step in steps:
        for fn, args in step.items():
            if isinstance(args, dict) and args.get("id"):
                out[str(args["id"])] = str(fn)
    return out


def _image_of(steps: list[dict[str, Any]]) -> str:
    """The image a build_docker_image step names (`image_name:tag`), placeholders left as written."""
    for step in steps:
        for fn, args in step.items():
            if str(fn).endswith("build_docker_image") and isinstance(args, dict) and args.get("image_name"):
                tag = args.get("tag") or "latest"
                return f"{args['image_name']}:{tag}"
    return "REPLACE-ME/image:latest"


def convert_files(
    paths: list[Path],
    project: str | None = None,
    variables: Mapping[str, Any] | None = None,
    import_computed: bool = True,
) -> Conversion:
    out = Conversion(project or "")
    names: dict[str, str] = {}
    shared: list[dict[str, Any]] = []  # specs whose pull steps are their file's top-level ones
    for path in paths:
        _convert_file(Path(path), out, dict(variables or {}), names, import_computed, shared)
    if not out.project:
        out.project = "converted"
    _shared_pull(out, shared)
    for var in sorted(out.secrets):  # read from the applying machine's environment, kept in a Secret block
        block = {"type": "secret", "data": {"value": {"from_env": var}}}
        doc = _doc("Block", secret_block_name(out.project, var), block)
        doc["metadata"]["description"] = f"${var}, read by prefect.yaml as {{{{ ${var} }}}} where the worker reads it"
        out.documents.append(doc)
    if any(d["kind"] == "Environment" for d in out.documents):
        out.values.setdefault(IMAGE_ENV, "REPLACE-ME/image:latest")
    return out


def _shared_pull(out: Conversion, shared: list[dict[str, Any]]) -> None:
    """Top-level pull steps become the Project's deployment default once, instead of a copy
    in every deployment (when all files share the same ones)."""
    pulls = [s["pull"] for s in shared]
    if pulls and all(p == pulls[0] for p in pulls):
        out.deployment_defaults["pull"] = pulls[0]
        for spec in shared:
            del spec["pull"]


def _read(path: Path, out: Conversion) -> tuple[Any, Report] | None:
    """The file's data as Prefect reads it, and a reporter of diagnostics located in it."""
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.load(text, Loader=_LOADER)  # as Prefect reads it: yaml.safe_load (YAML 1.1, merge keys)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        out.diagnostics.append(Diagnostic("convert.read", f"cannot read {file}: {exc}", Origin(file, 1, 1)))
        return None
    source = SourceFile(file, text)

    def report(code: str, message: str, p: PathKey, severity: Severity = "warning", hint: str | None = None) -> None:
        where = source.locate(0, p, key=True)
        out.diagnostics.append(Diagnostic(code, message, where, severity, hint, source.line(where.line)))

    return data, report


def _convert_file(
    path: Path,
    out: Conversion,
    variables: dict[str, Any],
    names: dict[str, str],
    import_computed: bool,
    shared: list[dict[str, Any]],
) -> None:
    read = _read(path, out)
    if read is None:
        return
    data, report = read
    if not isinstance(data, dict):
        report("convert.read", "a prefect.yaml must be a mapping with `deployments:`", (), "error")
        return
    if not out.project and isinstance(data.get("name"), str):
        out.project = project_name(data["name"])
    for key in sorted(set(data) - TOP_KEYS):
        report("convert.ignored-key", f"{key!r} is not a prefect.yaml field; Prefect ignores it", (key,))
    actions = {k: data.get(k) for k in ("build", "push", "pull")}
    if actions["pull"] is not None:
        actions["pull"] = _steps(actions["pull"])
    file = _File(str(path), path.resolve().parent, actions, variables, report, import_computed)
    for i, dep in enumerate(data.get("deployments") or []):
        if not isinstance(dep, dict):
            report("convert.deployment", "a deployment must be a mapping", ("deployments", i), "error")
            continue
        _convert_deployment(file, dep, i, out, names, shared)


@dataclass(frozen=True)
class _File:
    """What every deployment of one prefect.yaml shares while it is converted."""

    name: str
    root: Path  # the folder entrypoints are read from
    actions: dict[str, Any]  # the file's top-level build/push/pull
    variables: dict[str, Any]
    report: Report
    import_computed: bool


def _convert_deployment(
    file: _File, dep: dict[str, Any], i: int, out: Conversion, names: dict[str, str], shared: list[dict[str, Any]]
) -> None:
    report, actions = file.report, file.actions
    build = _steps(dep["build"] if "build" in dep else actions["build"])
    push = _steps(dep["push"] if "push" in dep else actions["push"])
    out.project = out.project or "converted"
    ph = Placeholders(
        file.variables, _step_ids(build + push), report, secret_block=lambda var: secret_block_name(out.project, var)
    )
    got = convert_deployment(dep, i, actions, ph, report)
    if got is None:
        return
    name = dep["name"]
    if name in names:
        report(
            "convert.duplicate",
            f"a deployment named {name!r} was converted already ({names[name]})",
            ("deployments", i, "name"),
            "error",
        )
        return
    names[name] = f"{file.name}, deployment {i}"
    spec = got.spec
    _flow_name(spec, file.root, ("deployments", i), report, file.import_computed)
    _build_and_push(dep, spec, build, push, ph, ("deployments", i), report, out)
    out.env_used |= ph.env_used
    out.secrets |= ph.secrets_used
    for var in ph.values_used:
        out.values[var] = file.variables[var]
    out.documents.append(_doc("Deployment", name, spec))
    if got.shared_pull:
        shared.append(spec)


def _flow_name(spec: dict[str, Any], root: Path, base: PathKey, report: Report, import_computed: bool) -> None:
    """prefect deploy names the flow as the imported flow is named (its `flow_name` key is
    overwritten); pipeform reads the same name from the source (spec/flow_names.py)."""
    entrypoint = spec["entrypoint"]
    declared = spec.get("flow_name")
    found = resolve(root, entrypoint)
    func = function_of(entrypoint)
    if found.how == "computed" and import_computed:
        name, error = import_flow_name(root, entrypoint)
        if name is not None:
            report(
                "convert.flow-name-imported",
                f"the flow name is computed ({found.detail}): imported {entrypoint} to learn it: {name!r}",
                (*base, "entrypoint"),
            )
            spec["flow_name"] = name
            return
        report(
            "convert.flow-name",
            f"the flow name is computed and importing failed: {error}",
            (*base, "entrypoint"),
            "error",
            "set flow_name in the converted Deployment",
        )
        return
    if found.name is not None:
        if declared and declared != found.name:
            report(
                "convert.flow-name",
                f"flow_name {declared!r} is ignored by prefect deploy, which names the flow {found.name!r} "
                f"(line {found.line} of the entrypoint); converted with {found.name!r}",
                (*base, "flow_name"),
            )
        spec.pop("flow_name", None)  # pipeform reads the same name from the source
        return
    if found.how in ("missing", "unreadable"):
        guess = declared or default_name(func)
        report(
            "convert.flow-source",
            f"cannot read the entrypoint's source ({found.detail}); the flow name is taken to be {guess!r}"
            + (" (this deployment's flow_name)" if declared else " (Prefect's default for the function)"),
            (*base, "entrypoint"),
            hint="convert next to the flow code so flow names are read from it",
        )
        if declared and declared == default_name(func):
            spec.pop("flow_name", None)
        return
    report(
        "convert.flow-name",
        f"{entrypoint}: {found.detail}; prefect deploy would fail to load it",
        (*base, "entrypoint"),
    )


def _build_and_push(
    dep: dict[str, Any],
    spec: dict[str, Any],
    build: list[dict[str, Any]],
    push: list[dict[str, Any]],
    ph: Placeholders,
    base: PathKey,
    report: Report,
    out: Conversion,
) -> None:
    """Build and push steps cannot run inside apply: said once per deployment, with the
    replacement (an Environment image built in CI) applied where the image was used."""
    if not build and not push:
        return
    steps = [str(fn).rsplit(".", 1)[-1] for s in build + push for fn in s]
    raw_image = ((dep.get("work_pool") or {}).get("job_variables") or {}).get("image")
    image_from_step = isinstance(raw_image, str) and any(
        n.split(".", 1)[0] in ph.step_ids for _, n in PLACEHOLDER.findall(raw_image)
    )
    if image_from_step:
        spec["environment"] = IMAGE_ENV
        if not any(d["kind"] == "Environment" for d in out.documents):
            out.documents.append(_doc("Environment", IMAGE_ENV, {"image": f"<< {values_ref(IMAGE_ENV)} >>"}))
            out.values[IMAGE_ENV] = _image_of(build)
        replacement = (
            f"job_variables.image came from a build step: converted to Environment {IMAGE_ENV!r} whose image is "
            f"<< values.{IMAGE_ENV} >>; build and push the image in CI and set that value"
        )
    else:
        replacement = "run them in CI before `pipeform apply` (code in git: use `source`/pull steps)"
    report(
        "convert.build-steps",
        f"build/push steps ({', '.join(dict.fromkeys(steps))}) do not run in pipeform apply; {replacement}",
        (*base, "name"),
    )
