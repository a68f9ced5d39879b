"""What every semantic check (step 6) shares: the documents by kind, where a path is, and
the stand-in for a document an earlier step refused."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .diagnostics import Origin

DocPath = tuple[str | int, ...]  # inside a document or a task
Locate = Callable[..., Origin]  # (kind, name, path, key=False) -> Origin
ByKind = dict[str, dict[str, Any]]  # kind -> name -> document (or Invalid)


class Invalid:
    """Stands for a document that failed an earlier step: references to it are not reported again."""
