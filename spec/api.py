"""The spec stage's entry point: paths -> (Project | None, diagnostics)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from pydantic import ValidationError

from .diagnostics import Diagnostic, SpecError
from .load import SourceDocument, load
from .models import DOCUMENT_ADAPTER
from .models.options import Defaults
from .project import Project


def load_project(paths: Iterable[str | Path], env: str | None = None) -> tuple[Project | None, list[Diagnostic]]:
    diagnostics: list[Diagnostic] = []
    sources: list[SourceDocument] = []
    for docs, problems in load(paths):
        sources.extend(docs)
        diagnostics.extend(problems)
    documents, origins, locators = [], {}, {}
    for src in sources:
        try:
            doc = DOCUMENT_ADAPTER.validate_python(src.data)
        except ValidationError as exc:
            for err in exc.errors():
                path = tuple(
                    p for p in err["loc"] if p not in (src.data.get("kind") if isinstance(src.data, dict) else None,)
                )
                diagnostics.append(Diagnostic("schema.invalid", err["msg"], src.locate(path)))
            continue
        key = (doc.kind, doc.metadata.name)
        documents.append(doc)
        origins[key] = src.locate(())
        locators[key] = src.locate
    if diagnostics:
        return None, diagnostics
    settings = next((d for d in documents if d.kind == "Project"), None)
    overlay = settings.spec.overlays.get(env) if settings and env else None
    values = {**(settings.spec.values if settings else {}), **(overlay.values if overlay else {})}
    defaults = (overlay and overlay.defaults) or (settings.spec.defaults if settings else Defaults())
    name = settings.metadata.name if settings else Path(next(iter(paths), ".")).resolve().name
    return Project(name, env, tuple(documents), values, defaults, origins, locators), []


def load_project_or_raise(paths: Iterable[str | Path], env: str | None = None) -> Project:
    paths = list(paths)
    project, diagnostics = load_project(paths, env)
    if project is None:
        raise SpecError(diagnostics)
    return project
