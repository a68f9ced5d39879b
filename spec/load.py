"""Steps 1-2 of the spec stage: files -> SourceDocuments (plain data), with every file-level
and YAML-level problem reported as a located Diagnostic.

Parsing uses libyaml through PyYAML's C loader (ruamel.yaml's round-trip loader, measured
about 18x slower on 77,000 lines, is kept for `pipeform fmt`). Positions are only needed
when something is wrong, so they are computed lazily by composing the file again.
The loader follows YAML 1.2 where 1.1 surprises people: `yes`/`no`/`on`/`off` stay strings
and dates stay strings. It refuses duplicate keys, tags that would construct objects and
alias bombs.

Which files are read: `discover.py`; the loader's rules: `yaml_loader.py`; the size,
alias and depth limits of a file and its documents: `yaml_limits.py`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from .diagnostics import Diagnostic, Origin
from .discover import discover
from .yaml_limits import MAX_DEPTH, MAX_FILE_BYTES, shape_problem
from .yaml_loader import DuplicateKey, KeyType, Loader, mark_origin, yaml_problem

MAX_PROJECT_BYTES = 16 * 1024 * 1024  # all the files of one project (project.too-large)
MAX_PROJECT_DOCUMENTS = 10_000  # all the documents of one project (project.too-large)

PathKey = tuple[str | int, ...]


@dataclass(frozen=True)
class SourceDocument:
    file: str
    index: int  # position of the document in its file, from 0
    data: Any  # plain dicts/lists/scalars
    start_line: int  # 1-based line where the document starts
    source: SourceFile = field(compare=False, repr=False)

    def locate(self, path: PathKey, *, key: bool = False) -> Origin:
        """Origin of the value at `path` (or of its key with key=True); the nearest ancestor when absent."""
        return self.source.locate(self.index, path, key=key)


@dataclass(frozen=True)
class SourceFile:
    file: str
    text: str = field(repr=False)

    @cached_property
    def lines(self) -> list[str]:
        return self.text.splitlines()

    @cached_property
    def _index(self) -> list[dict[PathKey, tuple[tuple[int, int], tuple[int, int]]]]:
        """Per document: path -> ((key line, col), (value line, col)), 0-based."""
        out = []
        for root in yaml.compose_all(self.text, Loader=Loader):
            table: dict[PathKey, tuple[tuple[int, int], tuple[int, int]]] = {}
            _walk(root, (), _mark(root), table, depth=0)
            out.append(table)
        return out

    def locate(self, doc_index: int, path: PathKey, *, key: bool = False) -> Origin:
        try:
            table = self._index[doc_index]
        except (IndexError, yaml.YAMLError):
            return Origin(self.file, 1, 1)
        for cut in range(len(path), -1, -1):
            hit = table.get(tuple(path[:cut]))
            if hit is not None:
                line, col = hit[0] if (key or cut < len(path)) else hit[1]
                return Origin(self.file, line + 1, col + 1)
        return Origin(self.file, 1, 1)

    def line(self, number: int) -> str | None:
        return self.lines[number - 1] if 0 < number <= len(self.lines) else None


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line, node.start_mark.column


def _walk(node: yaml.Node, path: PathKey, key_pos: tuple[int, int], table: dict[PathKey, Any], depth: int) -> None:
    if path in table or depth > MAX_DEPTH:  # aliases revisit nodes; very deep trees are refused elsewhere
        return
    table[path] = (key_pos, _mark(node))
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            _walk(v, (*path, str(k.value)), _mark(k), table, depth + 1)
    elif isinstance(node, yaml.SequenceNode):
        for i, v in enumerate(node.value):
            _walk(v, (*path, i), _mark(v), table, depth + 1)


def read_file(path: Path) -> tuple[list[SourceDocument], list[Diagnostic]]:
    name = str(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            return [], [
                Diagnostic(
                    "file.too-large", f"file is {size} bytes; the limit is {MAX_FILE_BYTES} (1 MiB)", Origin(name)
                )
            ]
        raw = path.read_bytes()
    except OSError as exc:
        return [], [Diagnostic("file.unreadable", f"cannot read file: {exc.strerror}", Origin(name))]
    if b"\x00" in raw:
        return [], [Diagnostic("file.binary", "file is binary, not YAML text", Origin(name, 1, 1))]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return [], [
            Diagnostic("file.encoding", f"file is not valid UTF-8 (byte 0x{raw[exc.start]:02x})", Origin(name, line, 1))
        ]
    if not text.strip() or all(not ln.strip() or ln.lstrip().startswith("#") for ln in text.splitlines()):
        return [], [Diagnostic("file.empty", "file holds no YAML document", Origin(name, 1, 1))]
    return parse_text(name, text)


def parse_text(name: str, text: str) -> tuple[list[SourceDocument], list[Diagnostic]]:
    source = SourceFile(name, text)
    loader = Loader(text)
    docs: list[SourceDocument] = []
    problems: list[Diagnostic] = []
    try:
        index = 0
        while loader.check_data():
            node = loader.get_node()
            start = node.start_mark.line + 1 if node is not None else 1
            problem = shape_problem(name, node) if node is not None else None
            if problem is not None:
                problems.append(problem)
            else:
                data = loader.construct_document(node) if node is not None else None
                if data is not None:
                    docs.append(SourceDocument(name, index, data, start, source))
            index += 1
    except KeyType as exc:
        problems.append(
            Diagnostic(
                "yaml.key-type",
                f"key {exc.key!r} is not a string",
                mark_origin(name, exc.mark),
                hint=f"quote it: '{exc.key}'" if exc.key is not None else "quote it",
            )
        )
    except DuplicateKey as exc:
        problems.append(Diagnostic("yaml.duplicate-key", f"duplicate key {exc.key!r}", mark_origin(name, exc.mark)))
    except yaml.YAMLError as exc:
        problems.append(yaml_problem(name, text, exc))
    except RecursionError:  # the shape check bounds depth first; this is the last line of defence
        problems.append(Diagnostic("yaml.too-deep", "document nests too deeply", Origin(name, 1, 1)))
    finally:
        loader.dispose()
    return docs, problems


def load(paths: Iterable[str | Path]) -> Iterator[tuple[list[SourceDocument], list[Diagnostic]]]:
    """Every file of a project, up to MAX_PROJECT_BYTES and MAX_PROJECT_DOCUMENTS in total
    (the per-file limits alone would let 10,000 files of 1 MiB through)."""
    files, problems = discover(paths)
    if problems:
        yield [], problems
    total_bytes = total_docs = 0
    for f in files:
        with contextlib.suppress(OSError):  # an unreadable file is reported by read_file
            total_bytes += f.stat().st_size
        if total_bytes > MAX_PROJECT_BYTES:
            yield [], [_project_limit(f"{MAX_PROJECT_BYTES // (1024 * 1024)} MiB of YAML", Origin(str(f)))]
            return
        docs, problems = read_file(f)
        total_docs += len(docs)
        if total_docs > MAX_PROJECT_DOCUMENTS:
            keep = len(docs) - (total_docs - MAX_PROJECT_DOCUMENTS)
            where = Origin(str(f), docs[keep].start_line, 1)
            yield docs[:keep], [*problems, _project_limit(f"{MAX_PROJECT_DOCUMENTS} documents", where)]
            return
        yield docs, problems


def _project_limit(what: str, where: Origin) -> Diagnostic:
    return Diagnostic(
        "project.too-large",
        f"the project holds more than {what}; files from here on are not read",
        where,
        hint="split it into several projects (a folder with its own Project document)",
    )
