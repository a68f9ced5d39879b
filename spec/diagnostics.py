"""Diagnostics: located, coded problems. Returned as values, never raised one by one."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["error", "warning"]


@dataclass(frozen=True, order=True)
class Origin:
    """A place in a source file; line and column are 1-based."""

    file: str
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}" if self.line else self.file


@dataclass(frozen=True)
class Diagnostic:
    """One problem: a stable dotted code (tests assert on it), a one-line message, where."""

    code: str
    message: str
    origin: Origin | None = None
    severity: Severity = "error"
    hint: str | None = None  # e.g. "did you mean 'retries'?"
    source_line: str | None = field(default=None, compare=False)  # the offending line, for carets

    def __str__(self) -> str:
        where = f"{self.origin}: " if self.origin else ""
        hint = f" ({self.hint})" if self.hint else ""
        return f"{where}{self.severity} [{self.code}] {self.message}{hint}"


def did_you_mean(word: str, candidates: Iterable[object]) -> str | None:
    """A hint naming the closest candidate, if one is close enough."""
    close = difflib.get_close_matches(word, sorted(str(c) for c in candidates), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else None


class SpecError(Exception):
    """Raised by entry points that need a valid project; carries every diagnostic found."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = diagnostics
        super().__init__("\n".join(str(d) for d in diagnostics[:20]))
