"""Step 1 of the spec stage: which files a project reads. Files named on the command line
always; in a folder, the pipeform documents not excluded by a `.pipeformignore`."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .diagnostics import Diagnostic, Origin
from .yaml_limits import MAX_FILE_BYTES

SUFFIXES = (".yaml", ".yml")


def discover(paths: Iterable[str | Path]) -> tuple[list[Path], list[Diagnostic]]:
    found = discover_all(paths)
    return found.files, found.problems


@dataclass(frozen=True)
class Discovery:
    files: list[Path]  # files to read, in order
    problems: list[Diagnostic]
    skipped: list[tuple[Path, str]]  # (file, why) left out of a folder walk (shown with --verbose)


IGNORE_FILE = ".pipeformignore"
# A file found in a folder walk is read only when it looks like a pipeform document: an
# apiVersion naming pipeform, or no apiVersion at all but a pipeform kind at the top level
# (so a document missing its apiVersion is still reported). Text-based, so a broken file
# that says it is pipeform is still read and reported; a GitHub workflow, dbt_project.yml,
# docker-compose.yml or a Kubernetes manifest (`apiVersion: apps/v1`) is skipped.
_PIPEFORM_API = re.compile(r"""^apiVersion:\s*["']?pipeform/""", re.MULTILINE)
_ANY_API = re.compile(r"^apiVersion:", re.MULTILINE)
_PIPEFORM_KIND = re.compile(
    r"""^kind:\s*["']?(Project|Flow|Deployment|WorkPool|ConcurrencyLimit|Variable|Environment|Automation|Block)["']?\s*$""",
    re.MULTILINE,
)


def looks_like_pipeform(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            head = fh.read(MAX_FILE_BYTES + 1).decode("utf-8", errors="replace")
    except OSError:
        return True  # let read_file report it
    if _PIPEFORM_API.search(head):
        return True
    return not _ANY_API.search(head) and bool(_PIPEFORM_KIND.search(head))


def _ignore_specs(root: Path) -> list[tuple[Path, Any]]:
    """Every .pipeformignore under `root` (gitignore syntax, relative to its own folder)."""
    specs = []
    for f in sorted(root.rglob(IGNORE_FILE)):
        if f.is_file():
            import pathspec  # only when there is an ignore file (its import costs ~30 ms)

            lines = f.read_text(encoding="utf-8", errors="replace").splitlines()
            specs.append((f.parent, pathspec.GitIgnoreSpec.from_lines(lines)))
    return specs


def _ignored(path: Path, specs: list[tuple[Path, Any]]) -> bool:
    for base, spec in specs:
        try:
            rel = path.relative_to(base)
        except ValueError:
            continue
        if spec.match_file(rel.as_posix()):
            return True
    return False


def discover_all(paths: Iterable[str | Path]) -> Discovery:
    """Files named on the command line are always read; in a folder, only pipeform
    documents not excluded by a .pipeformignore."""
    files: list[Path] = []
    problems: list[Diagnostic] = []
    skipped: list[tuple[Path, str]] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            specs = _ignore_specs(p)
            inside = p.resolve()
            for f in sorted(f for f in p.rglob("*") if f.suffix in SUFFIXES and f.is_file()):
                if ".pipeform" in f.relative_to(p).parts:
                    continue
                if specs and _ignored(f, specs):
                    skipped.append((f, f"excluded by {IGNORE_FILE}"))
                elif f.is_symlink() and not f.resolve().is_relative_to(inside):
                    # a link in a (pull request's) tree must not read the machine's files
                    why = f"{f} is a symbolic link to {f.resolve()}, outside {p}: not read"
                    problems.append(Diagnostic("file.outside", why, Origin(str(f))))
                elif not looks_like_pipeform(f):
                    skipped.append((f, "not a pipeform document (no `apiVersion: pipeform/...`)"))
                else:
                    files.append(f)
        elif p.is_file():
            files.append(p)
        else:
            problems.append(Diagnostic("file.not-found", f"no such file or directory: {raw}", Origin(str(raw))))
    return Discovery(files, problems, skipped)
