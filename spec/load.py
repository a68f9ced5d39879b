"""Step 1: files -> SourceDocuments (plain data plus a position index). No validation here."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from .diagnostics import Diagnostic, Origin

SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class SourceDocument:
    file: str
    index: int  # position of the document in its file, from 0
    data: Any  # plain dicts/lists/scalars
    tree: Any = field(compare=False, repr=False)  # ruamel round-trip tree, for positions
    text_lines: tuple[str, ...] = field(compare=False, repr=False, default=())

    def locate(self, path: tuple[str | int, ...]) -> Origin:
        """Origin of the key (for mappings) or item (for sequences) at `path`; the nearest ancestor if absent."""
        node, line, col = self.tree, *_start(self.tree)
        for key in path:
            if isinstance(node, CommentedMap) and key in node:
                line, col = node.lc.key(key)
                node = node[key]
            elif isinstance(node, CommentedSeq) and isinstance(key, int) and 0 <= key < len(node):
                line, col = node.lc.item(key)
                node = node[key]
            else:
                break
        return Origin(self.file, line + 1, col + 1)


def _start(node: Any) -> tuple[int, int]:
    lc = getattr(node, "lc", None)
    return (lc.line, lc.col) if lc is not None and lc.line is not None else (0, 0)


def discover(paths: Iterable[str | Path]) -> tuple[list[Path], list[Diagnostic]]:
    files: list[Path] = []
    problems: list[Diagnostic] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            files.extend(sorted(f for f in p.rglob("*") if f.suffix in SUFFIXES and f.is_file()))
        elif p.is_file():
            files.append(p)
        else:
            problems.append(Diagnostic("file.not-found", f"no such file or directory: {raw}", Origin(str(raw))))
    return files, problems


def _plain(node: Any) -> Any:
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, str):
        return str(node)
    return node


def read_file(path: Path) -> tuple[list[SourceDocument], list[Diagnostic]]:
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return [], [Diagnostic("file.encoding", "file is not valid UTF-8 text", Origin(name, 1, 1))]
    yaml = YAML(typ="rt")
    try:
        trees = list(yaml.load_all(text))
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        origin = Origin(name, mark.line + 1, mark.column + 1) if mark else Origin(name)
        return [], [Diagnostic("yaml.syntax", (exc.problem or str(exc)).strip(), origin)]
    lines = tuple(text.splitlines())
    docs = [SourceDocument(name, i, _plain(t), t, lines) for i, t in enumerate(trees) if t is not None]
    return docs, []


def load(paths: Iterable[str | Path]) -> Iterator[tuple[list[SourceDocument], list[Diagnostic]]]:
    files, problems = discover(paths)
    if problems:
        yield [], problems
    for f in files:
        yield read_file(f)
