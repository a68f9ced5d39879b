"""The plan-time backstop of `secret.plain-text` (spec/check_secrets.py decides it at
validate time from what expressions read): no desired resource may hold the value of a
secret environment variable (a declared-sensitive `spec.env` variable, or a `{from_env}`
one) in a string outside its `Resource.sensitive` paths, in any spelling a server or a URL
could carry it (`pipeform.masking.forms`). Catches what only the values show (a secret
that reached a field through a path the expressions did not record). Pure; desired_state
raises the result as a SpecError, so plan, apply and sync's targeted heal all stop before
anything is observed or written."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from pipeform import masking
from pipeform.spec.check_secrets import CODE, hint, secret_destination
from pipeform.spec.diagnostics import Diagnostic, Origin
from pipeform.spec.project import Project

from .diagnostics import origin_of
from .resources import Resource


def _strings(value: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], str]]:
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from _strings(v, (*path, str(k)))
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            yield from _strings(v, (*path, str(i)))


def _inside(path: str, sensitive: Iterable[str]) -> bool:
    return any(path == s or path.startswith(s + ".") for s in sensitive)


# Shorter secrets refuse a field only when they are its whole value: as substrings they would
# stop ordinary text (a secret `dev` in `development`). Masking still hides them everywhere.
SUBSTRING_MIN = 8


def _matches(text: str, spellings: Iterable[str]) -> bool:
    return any(f == text or (len(f) >= SUBSTRING_MIN and f in text) for f in spellings)


def _holds(text: str, forms: Mapping[str, set[str]]) -> list[str]:
    return sorted(name for name, spellings in forms.items() if _matches(text, spellings))


def _where(project: Project, forms: set[str], declared_at: str | None) -> Origin | None:
    """The spec value holding the secret (a document's string outside its secret fields),
    preferring the resource's own document; else the document itself."""
    found: Origin | None = None
    for doc in project.documents:
        data = doc.model_dump(mode="json", by_alias=True)
        for path, text in _strings(data):
            if _matches(text, forms) and not secret_destination(doc, path):
                at = project.origin(doc.kind, doc.metadata.name, path)
                start = project.origin(doc.kind, doc.metadata.name)
                if start is not None and str(start) == declared_at:
                    return at
                found = found or at
    return found or origin_of(declared_at)


def plain_text_secrets(resources: Iterable[Resource], secrets: Mapping[str, str], project: Project) -> list[Diagnostic]:
    """One `secret.plain-text` per resource field holding a secret (`secrets`: variable ->
    value). Messages name the variable and mask every secret."""
    forms = {name: masking.forms(value) for name, value in secrets.items() if len(value) >= masking.MIN_LENGTH}
    if not forms:
        return []
    out: list[Diagnostic] = []
    for r in resources:
        for path, text in _strings(r.body):
            names = _holds(text, forms)  # the text first: the path is built only on a hit
            if not names:
                continue
            dotted = ".".join(path)
            if _inside(dotted, r.sensitive):
                continue
            message = (
                f"{r.address} would hold the value of secret environment variable {', '.join(names)} in"
                f" {dotted}, which is not a secret field: the server would store it in plain text"
                " (secrets live only in Secret blocks)"
            )
            origin = _where(project, set().union(*(forms[n] for n in names)), r.origin)
            out.append(Diagnostic(CODE, masking.scrub(message, secrets.values()), origin, hint=hint(names)))
    return out
