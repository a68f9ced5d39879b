"""The spec stage's entry point: paths -> (Project | None, diagnostics).

Steps, in order (see README.md): load files, parse YAML, JSON Schema on the raw
documents, compile-time values, models, semantic checks. Every problem of every step
is collected; a document that fails a step is left out of the later ones so one
mistake is not reported five times.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pipeform import masking

from . import check_secrets, checks, deployment_defaults, entrypoints, flow_names, schema, values
from .check_base import Locate
from .diagnostics import Diagnostic, Origin, SpecError, did_you_mean
from .load import PathKey, SourceDocument, load
from .models import KINDS
from .models.deployment import DeploymentDefaults
from .models.options import Defaults
from .models.project import ProjectDocument
from .project import Project


def load_project(
    paths: Iterable[str | Path], env: str | None = None, environ: Mapping[str, str] | None = None
) -> tuple[Project | None, list[Diagnostic]]:
    """Never raises for any input: a failure of pipeform itself is an `internal.error`
    naming the file being processed (each cause found so far is fixed at its root)."""
    files = [Path(p) for p in paths]
    where = _Where(str(files[0]) if files else ".")
    diagnostics: list[Diagnostic] = []
    try:
        return _load_project(files, env, environ, diagnostics, where)
    except Exception as exc:  # the last-resort guard
        return None, [*diagnostics, internal_error(where.file, exc)]


def internal_error(file: str, exc: BaseException) -> Diagnostic:
    return Diagnostic(
        "internal.error",
        f"pipeform failed on this file ({type(exc).__name__}: {str(exc)[:200]})",
        Origin(file),
        hint="this is a bug in pipeform: please report it with the file",
    )


class _Where:
    """The file being processed, for the last-resort guard."""

    def __init__(self, file: str):
        self.file = file


def _load_project(
    paths: list[Path],
    env: str | None,
    environ: Mapping[str, str] | None,
    diagnostics: list[Diagnostic],
    where: _Where,
) -> tuple[Project | None, list[Diagnostic]]:
    sources = _read(paths, diagnostics)
    raw_ok, invalid = _schema_valid(sources, diagnostics, where)
    settings = _settings(raw_ok, sources, env, environ, diagnostics)
    documents, located, taints = _models(raw_ok, settings, diagnostics, invalid, where)

    def locate(kind: str, name: str, path: PathKey, key: bool = False) -> Origin:
        src = located.get((kind, name))
        return src.locate(path, key=key) if src else Origin("?")

    where.file = str(paths[0]) if paths else "."
    root = _root(paths, settings.source)
    documents = _checked(documents, settings.defaults.deployment, root, locate, invalid, diagnostics)
    diagnostics.extend(check_secrets.check_secrets(documents, taints, locate))
    wrong = check_secrets.from_sensitive_env(documents, taints, locate)
    diagnostics = [d for d in diagnostics if d not in wrong]
    secrets = values.secrets(settings.ctx)
    diagnostics = _masked(_with_source_lines(diagnostics, sources), secrets)
    if any(d.severity == "error" for d in diagnostics):
        return None, diagnostics
    return _project(paths, env, settings, documents, located, root), diagnostics


def _read(paths: list[Path], diagnostics: list[Diagnostic]) -> list[SourceDocument]:
    """Steps 1-2: the project's files, parsed."""
    sources: list[SourceDocument] = []
    for docs, problems in load(paths):
        sources.extend(docs)
        diagnostics.extend(problems)
    return sources


def _schema_valid(
    sources: list[SourceDocument], diagnostics: list[Diagnostic], where: _Where
) -> tuple[list[SourceDocument], set[tuple[str, str]]]:
    """Step 3: the documents the JSON Schema accepts, and the (kind, name) of those it refuses."""
    raw_ok: list[SourceDocument] = []
    invalid: set[tuple[str, str]] = set()
    for src in sources:
        where.file = src.file
        if not isinstance(src.data, dict):
            diagnostics.append(
                Diagnostic(
                    "doc.not-a-mapping",
                    f"a document must be a mapping with apiVersion, kind, metadata, spec; got {schema.type_name(src.data)}",
                    Origin(src.file, src.start_line, 1),
                )
            )
            continue
        problems = schema.check(src)
        diagnostics.extend(problems)
        if not problems:
            raw_ok.append(src)
        else:
            invalid.add(_identity(src.data))
    return raw_ok, invalid


@dataclasses.dataclass(frozen=True)
class _Settings:
    """The Project document (None when absent or refused) and what it gives the others."""

    document: ProjectDocument | None
    source: SourceDocument | None
    taint: dict[PathKey, frozenset[str]]  # the Project's strings that read sensitive variables
    values: dict[str, Any]  # compile-time values, the chosen overlay's applied
    ctx: dict[str, Any]  # what `<< >>` expressions read
    defaults: Defaults  # the overlay's, else the Project's


def _settings(
    raw_ok: list[SourceDocument],
    sources: list[SourceDocument],
    env: str | None,
    environ: Mapping[str, str] | None,
    diagnostics: list[Diagnostic],
) -> _Settings:
    """The Project document, its values with the overlay `env` chose, and the context of
    the other documents' compile-time expressions."""
    project_taint: dict[PathKey, frozenset[str]] = {}  # strings that read sensitive variables
    settings, settings_src, problems = _project_settings(raw_ok, env, environ, project_taint)
    diagnostics.extend(problems)
    project_values = dict(settings.spec.values) if settings else {}
    overlay = settings.spec.overlays.get(env) if settings and env else None
    if overlay:
        project_values.update(overlay.values)
    declared = values.declarations(settings_src.data) if settings_src else {}
    project_failed = settings is None and (settings_src is not None or any(_is_project(s) for s in sources))
    value_taint = check_secrets.value_taint(project_taint, env, overlay.values if overlay else ())
    ctx = values.context(None if project_failed else project_values, environ, declared, value_taint)
    defaults = (overlay.defaults if overlay and overlay.defaults else None) or (
        settings.spec.defaults if settings else Defaults()
    )
    return _Settings(settings, settings_src, project_taint, project_values, ctx, defaults)


def _models(
    raw_ok: list[SourceDocument],
    settings: _Settings,
    diagnostics: list[Diagnostic],
    invalid: set[tuple[str, str]],
    where: _Where,
) -> tuple[list[Any], dict[tuple[str, str], SourceDocument], dict[tuple[str, str], check_secrets.Taint]]:
    """Steps 4-5: compile-time values substituted, then the models; by (kind, name), each
    document's source and the strings that read sensitive variables. A document refused
    here joins `invalid`."""
    budget = values.Budget()
    documents: list[Any] = [settings.document] if settings.document else []
    located: dict[tuple[str, str], SourceDocument] = {}
    taints: dict[tuple[str, str], check_secrets.Taint] = {}
    if settings.document and settings.source:
        located[("Project", settings.document.metadata.name)] = settings.source
        taints[("Project", settings.document.metadata.name)] = settings.taint
    for src in raw_ok:
        if src is settings.source or src.data.get("kind") == "Project":
            continue
        where.file = src.file
        tainted: dict[PathKey, frozenset[str]] = {}
        data, problems = values.substitute(src, settings.ctx, budget, tainted=tainted)
        diagnostics.extend(problems)
        doc = None if problems or data is values.REPORTED else _model(src, data, diagnostics)
        if doc is None:
            invalid.add(_identity(src.data))
        else:
            documents.append(doc)
            located.setdefault((doc.kind, doc.metadata.name), src)
            taints.setdefault((doc.kind, doc.metadata.name), tainted)
    return documents, located, taints


def _checked(
    documents: list[Any],
    defaults: DeploymentDefaults,
    root: str,
    locate: Locate,
    invalid: set[tuple[str, str]],
    diagnostics: list[Diagnostic],
) -> list[Any]:
    """Steps 5b-7: deployment defaults merged, flow names read, entrypoints and semantics checked."""
    documents, problems = deployment_defaults.apply(documents, defaults, locate)
    diagnostics.extend(problems)
    diagnostics.extend(flow_names.annotate(documents, root, locate))
    diagnostics.extend(_entrypoint_problems(documents, root, locate))
    diagnostics.extend(checks.check_all(documents, locate, invalid))
    return documents


def _project(
    paths: list[Path],
    env: str | None,
    settings: _Settings,
    documents: list[Any],
    located: dict[tuple[str, str], SourceDocument],
    root: str,
) -> Project:
    name = settings.document.metadata.name if settings.document else (paths[0].resolve() if paths else Path.cwd()).name
    origins = {key: Origin(src.file, src.start_line, 1) for key, src in located.items()}
    locators = {ident: (lambda path, key=False, _s=src: _s.locate(path, key=key)) for ident, src in located.items()}
    sensitive = values.sensitive_env(settings.ctx)
    return Project(name, env, tuple(documents), settings.values, settings.defaults, origins, locators, root, sensitive)


def _entrypoint_problems(documents: list[Any], root: str, locate: Any) -> list[Diagnostic]:
    """A Python entrypoint stays inside the project and names a function its file defines
    (read, never run: see entrypoints.py)."""
    out = []
    for doc in documents:
        entrypoint = getattr(doc.spec, "entrypoint", None) if doc.kind == "Deployment" else None
        if entrypoint:
            found = entrypoints.resolve(root, entrypoint)
            if found.problem:
                code, message = found.problem
                where = locate("Deployment", doc.metadata.name, ("spec", "entrypoint"))
                out.append(Diagnostic(code, message, where, severity=found.severity))  # type: ignore[arg-type]
    return out


def _identity(data: dict[str, Any]) -> tuple[str, str]:
    meta = data.get("metadata")
    return str(data.get("kind")), str(meta.get("name") if isinstance(meta, dict) else None)


def _root(paths: list[Path], settings_src: SourceDocument | None) -> str:
    """The project root: the Project document's folder, else the first path (its folder if a file)."""
    if settings_src is not None:
        return str(Path(settings_src.file).resolve().parent)
    first = paths[0].resolve() if paths else Path.cwd()
    return str(first if first.is_dir() else first.parent)


def _project_settings(
    sources: list[SourceDocument],
    env: str | None,
    environ: Mapping[str, str] | None,
    tainted: dict[PathKey, frozenset[str]],
) -> tuple[ProjectDocument | None, SourceDocument | None, list[Diagnostic]]:
    problems: list[Diagnostic] = []
    found = [s for s in sources if s.data.get("kind") == "Project"]
    settings = settings_src = None
    if found:
        settings_src = found[0]
        ctx = values.context({}, environ, values.declarations(settings_src.data))
        data, problems = values.substitute(settings_src, ctx, poison=True, tainted=tainted)
        # A failing value is reported once, here; documents using it are left out silently.
        if not problems or not _poisoned_outside_values(data):
            settings = _model(settings_src, data, problems)
    if env and settings is not None:
        overlays = settings.spec.overlays if settings else {}
        if env not in overlays:
            where = settings_src.locate(("spec", "overlays"), key=True) if settings_src else None
            problems.append(
                Diagnostic(
                    "project.unknown-env",
                    f"no overlay named {env!r}",
                    where,
                    hint=did_you_mean(env, overlays) or f"overlays: {', '.join(overlays) or 'none'}",
                )
            )
    return settings, settings_src, problems


def _is_project(src: SourceDocument) -> bool:
    return isinstance(src.data, dict) and src.data.get("kind") == "Project"


def _poisoned_outside_values(data: Any, path: PathKey = ()) -> bool:
    in_values = path[:2] == ("spec", "values") or (path[:2] == ("spec", "overlays") and path[3:4] == ("values",))
    if isinstance(data, values.Poisoned):
        return not in_values
    if isinstance(data, dict):
        return any(_poisoned_outside_values(v, (*path, k)) for k, v in data.items())
    if isinstance(data, list):
        return any(_poisoned_outside_values(v, (*path, i)) for i, v in enumerate(data))
    return False


def _masked(diagnostics: list[Diagnostic], secrets: frozenset[str]) -> list[Diagnostic]:
    """Every declared sensitive value masked in every message, hint and source line."""
    if not secrets:
        return diagnostics
    out = []
    for d in diagnostics:
        line = masking.scrub(d.source_line, secrets) if d.source_line else d.source_line
        hint = masking.scrub(d.hint, secrets) if d.hint else d.hint
        out.append(dataclasses.replace(d, message=masking.scrub(d.message, secrets), hint=hint, source_line=line))
    return out


def _model(src: SourceDocument, data: dict[str, Any], diagnostics: list[Diagnostic]) -> Any | None:
    model = KINDS[data["kind"]]
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            path = _data_path(data, err["loc"])
            message = err["msg"].removeprefix("Value error, ")
            diagnostics.append(Diagnostic("model.invalid", message, src.locate(path)))
        return None


def _data_path(data: Any, loc: tuple[str | int, ...]) -> PathKey:
    """pydantic's loc, keeping only the steps that exist in the data (union tags are dropped)."""
    path: list[Any] = []
    node: Any = data
    for step in loc:
        if isinstance(node, dict) and step in node:  # noqa: SIM114  (each branch narrows node for mypy)
            node = node[step]
        elif isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node):
            node = node[step]
        else:
            continue
        path.append(step)
    return tuple(path)


def _with_source_lines(diagnostics: list[Diagnostic], sources: list[SourceDocument]) -> list[Diagnostic]:
    files: dict[str, list[str] | None] = {s.file: s.source.lines for s in sources}
    out = []
    for d in diagnostics:
        if d.origin and d.origin.line and d.source_line is None and d.code not in ("file.binary", "file.encoding"):
            if d.origin.file not in files:
                files[d.origin.file] = _read_lines(d.origin.file)
            lines = files[d.origin.file]
            if lines and d.origin.line <= len(lines):
                d = Diagnostic(d.code, d.message, d.origin, d.severity, d.hint, lines[d.origin.line - 1])
        out.append(d)
    return out


def _read_lines(file: str) -> list[str] | None:
    try:
        return Path(file).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None


def split_projects(paths: Iterable[str | Path]) -> list[list[Path]]:
    """Group spec files by project: a folder holding a Project document starts a project
    that covers everything below it (down to the next such folder). `pipeform validate
    examples/` thus checks each example as its own project."""
    from .discover import discover

    files, _ = discover(paths)
    roots: set[Path] = set()
    for f in files:
        text = f.read_text(encoding="utf-8", errors="replace") if f.stat().st_size < 1_048_576 else ""
        if "kind: Project" in text:
            roots.add(f.parent.resolve())
    if len(roots) <= 1:
        return [list(paths)]  # type: ignore[arg-type]
    groups: dict[Path | None, list[Path]] = {}
    for f in files:
        owner = next((p for p in [f.parent.resolve(), *f.parent.resolve().parents] if p in roots), None)
        groups.setdefault(owner, []).append(f)
    return [groups[k] for k in sorted(groups, key=lambda k: str(k))]


def load_project_or_raise(paths: Iterable[str | Path], env: str | None = None) -> Project:
    project, diagnostics = load_project(list(paths), env)
    if project is None:
        raise SpecError([d for d in diagnostics if d.severity == "error"])
    return project
