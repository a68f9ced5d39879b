"""Steps 1-2 of the spec stage: files -> SourceDocuments (plain data), with every file-level
and YAML-level problem reported as a located Diagnostic.

Parsing uses libyaml through PyYAML's C loader (ruamel.yaml's round-trip loader, measured
about 18x slower on 77,000 lines, is kept for `pipeform fmt`). Positions are only needed
when something is wrong, so they are computed lazily by composing the file again.
The loader follows YAML 1.2 where 1.1 surprises people: `yes`/`no`/`on`/`off` stay strings
and dates stay strings. It refuses duplicate keys, tags that would construct objects and
alias bombs.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from .diagnostics import Diagnostic, Origin

SUFFIXES = (".yaml", ".yml")
MAX_FILE_BYTES = 1024 * 1024  # 1 MiB: larger spec files are refused (file.too-large)
MAX_EXPANDED_NODES = 100_000  # per document, counting every alias expansion (yaml.alias-bomb)
MAX_EXPANDED_CHARS = 2 * MAX_FILE_BYTES  # per document, scalar text with aliases expanded (yaml.alias-bomb)
MAX_DEPTH = 100  # nesting levels per document (yaml.too-deep)
MAX_PROJECT_BYTES = 16 * 1024 * 1024  # all the files of one project (project.too-large)
MAX_PROJECT_DOCUMENTS = 10_000  # all the documents of one project (project.too-large)

PathKey = tuple[str | int, ...]


class _Loader(yaml.CSafeLoader if hasattr(yaml, "CSafeLoader") else yaml.SafeLoader):  # type: ignore[misc]
    """Safe loader with YAML 1.2 booleans, no timestamps, duplicate keys refused, and every
    constructor failure raised as a located ConstructorError (never a bare ValueError)."""

    yaml_implicit_resolvers = {
        first: [
            (tag, rx) for tag, rx in resolvers if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")
        ]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    # Only the tags of plain JSON-like data; !!binary, !!timestamp, !!set, !!omap, !!pairs
    # would build bytes, datetimes, sets or pairs that no pipeform field takes.
    yaml_constructors = {
        tag: fn
        for tag, fn in yaml.SafeLoader.yaml_constructors.items()
        if tag is None or tag.rsplit(":", 1)[-1] in ("null", "bool", "int", "float", "str", "seq", "map")
    }

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[Any, Any]:
        if not isinstance(node, yaml.MappingNode):  # `!!map 3`, `!!map [a]`
            raise yaml.constructor.ConstructorError(
                None, None, f"expected a mapping, found a {node.id}", node.start_mark
            )
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str):  # JSON Schema, pydantic and Prefect all need string keys
                raise _KeyType(key, key_node.start_mark)
            if key in seen:
                raise _DuplicateKey(key, key_node.start_mark)
            seen.add(key)
        mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return mapping

    def _scalar(self, node: yaml.Node, build: Any, what: str) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            raise yaml.constructor.ConstructorError(None, None, f"expected {what}, found a {node.id}", node.start_mark)
        try:
            return build(self, node)
        except (ValueError, KeyError, IndexError, OverflowError) as exc:  # `!!int`, `!!float x`, 5,000 digits
            detail = str(exc).split(";")[0] if isinstance(exc, ValueError) and "digits" in str(exc) else None
            problem = f"{node.value[:40]!r} is not {what}" + (f" ({detail})" if detail else "")
            raise yaml.constructor.ConstructorError(None, None, problem, node.start_mark) from None

    def construct_yaml_int(self, node: yaml.Node) -> int:
        value: int = self._scalar(node, yaml.SafeLoader.construct_yaml_int, "an integer")
        return value

    def construct_yaml_float(self, node: yaml.Node) -> float:
        value: float = self._scalar(node, yaml.SafeLoader.construct_yaml_float, "a number")
        return value

    def construct_yaml_bool(self, node: yaml.Node) -> bool:
        value: bool = self._scalar(node, yaml.SafeLoader.construct_yaml_bool, "a boolean")
        return value


for _tag in ("int", "float", "bool"):
    _Loader.yaml_constructors[f"tag:yaml.org,2002:{_tag}"] = getattr(_Loader, f"construct_yaml_{_tag}")


_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool", _BOOL, list("tTfF"))


class _DuplicateKey(Exception):
    def __init__(self, key: Any, mark: Any):
        super().__init__(key)
        self.key, self.mark = key, mark


class _KeyType(_DuplicateKey):
    """A key that is not a string (`1: a`, `true: b`, `~: c`): quote it."""


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
        for root in yaml.compose_all(self.text, Loader=_Loader):
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
            for f in sorted(f for f in p.rglob("*") if f.suffix in SUFFIXES and f.is_file()):
                if ".pipeform" in f.relative_to(p).parts:
                    continue
                if specs and _ignored(f, specs):
                    skipped.append((f, f"excluded by {IGNORE_FILE}"))
                elif not looks_like_pipeform(f):
                    skipped.append((f, "not a pipeform document (no `apiVersion: pipeform/...`)"))
                else:
                    files.append(f)
        elif p.is_file():
            files.append(p)
        else:
            problems.append(Diagnostic("file.not-found", f"no such file or directory: {raw}", Origin(str(raw))))
    return Discovery(files, problems, skipped)


@dataclass(frozen=True)
class _Shape:
    nodes: int  # with every alias expanded
    chars: int  # scalar characters, with every alias expanded
    height: int


def _shape(root: yaml.Node, memo: dict[int, _Shape]) -> tuple[_Shape | None, yaml.Node | None]:
    """Size of a composed document with its aliases expanded, computed over the node graph
    once per node (linear, however many times a node is aliased). Iterative, so depth costs
    no Python stack. A node that contains itself (`&R [*R]`) is returned as the culprit."""
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in memo and not done:
            continue
        kids = _children(node)
        if not done:
            if id(node) in on_path:
                return None, node
            on_path.add(id(node))
            stack.append((node, True))
            for kid in kids:
                if id(kid) in on_path:
                    return None, kid
                if id(kid) not in memo:
                    stack.append((kid, False))
            continue
        on_path.discard(id(node))
        subs = [memo[id(k)] for k in kids]
        chars = len(node.value) if isinstance(node, yaml.ScalarNode) else 0
        memo[id(node)] = _Shape(
            1 + sum(x.nodes for x in subs),
            chars + sum(x.chars for x in subs),
            1 + max((x.height for x in subs), default=0),
        )
    return memo[id(root)], None


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _too_deep_at(root: yaml.Node, memo: dict[int, _Shape]) -> yaml.Node:
    """The first node past MAX_DEPTH on the deepest path: where the nesting goes too far."""
    node, depth = root, 1
    while depth <= MAX_DEPTH:
        kids = _children(node)
        if not kids:
            break
        node = max(kids, key=lambda k: memo[id(k)].height)
        depth += 1
    return node


def _tree_shape(root: yaml.Node) -> tuple[_Shape, yaml.Node | None] | None:
    """The shape of a document without aliases (a tree: the common case) in one cheap
    pass, with the first node nested too deep; None when a node is shared (aliases)."""
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, int]] = [(root, 1)]
    chars = height = 0
    too_deep = None
    while stack:
        node, depth = stack.pop()
        if id(node) in seen:
            return None
        seen.add(id(node))
        if depth > height:
            height = depth
            if depth == MAX_DEPTH + 1 and too_deep is None:
                too_deep = node
        value = node.value
        if isinstance(node, yaml.ScalarNode):
            chars += len(value)
        elif isinstance(node, yaml.MappingNode):
            for k, v in value:
                stack.append((k, depth + 1))
                stack.append((v, depth + 1))
        else:
            stack.extend((v, depth + 1) for v in value)
    return _Shape(len(seen), chars, height), too_deep


def _shape_problem(name: str, root: yaml.Node) -> Diagnostic | None:
    tree = _tree_shape(root)
    if tree is not None:
        tree_shape, deep = tree
        if tree_shape.height > MAX_DEPTH:
            message = f"document nests more than {MAX_DEPTH} levels deep"
            return Diagnostic("yaml.too-deep", message, _origin(name, (deep or root).start_mark))
        return None  # a tree is at most as big as its file: no alias bomb
    memo: dict[int, _Shape] = {}
    shape, cycle = _shape(root, memo)
    if shape is None:
        return Diagnostic(
            "yaml.recursive-alias",
            "an anchor is aliased inside itself, so the value would be infinite",
            _origin(name, cycle.start_mark if cycle is not None else None),
        )
    if shape.nodes > MAX_EXPANDED_NODES or shape.chars > MAX_EXPANDED_CHARS:
        what = f"{MAX_EXPANDED_NODES} nodes" if shape.nodes > MAX_EXPANDED_NODES else f"{MAX_EXPANDED_CHARS} characters"
        return Diagnostic(
            "yaml.alias-bomb", f"document expands to more than {what} through aliases", _origin(name, root.start_mark)
        )
    if shape.height > MAX_DEPTH:
        return Diagnostic(
            "yaml.too-deep",
            f"document nests more than {MAX_DEPTH} levels deep",
            _origin(name, _too_deep_at(root, memo).start_mark),
        )
    return None


def _origin(name: str, mark: Any) -> Origin:
    return Origin(name, mark.line + 1, mark.column + 1) if mark is not None else Origin(name, 1, 1)


def _yaml_problem(name: str, text: str, exc: yaml.YAMLError) -> Diagnostic:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = (getattr(exc, "problem", None) or str(exc)).strip()
    line = text.splitlines()[mark.line] if mark is not None and mark.line < len(text.splitlines()) else ""
    if "\t" in line[: mark.column + 1 if mark is not None else 0] or "tab" in problem:
        return Diagnostic(
            "yaml.tab-indent",
            "tab character used for indentation; YAML needs spaces",
            _origin(name, mark),
            hint="replace tabs with spaces",
        )
    if isinstance(exc, yaml.constructor.ConstructorError) and "constructor for the tag" in problem:
        tag = problem.split("tag", 1)[-1].strip(" '")
        return Diagnostic(
            "yaml.tag", f"YAML tag {tag} is not allowed: pipeform files hold plain data only", _origin(name, mark)
        )
    context = getattr(exc, "context", None)
    message = f"{context}, {problem}" if context else problem
    return Diagnostic("yaml.syntax", message, _origin(name, mark))


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
    loader = _Loader(text)
    docs: list[SourceDocument] = []
    problems: list[Diagnostic] = []
    try:
        index = 0
        while loader.check_data():
            node = loader.get_node()
            start = node.start_mark.line + 1 if node is not None else 1
            problem = _shape_problem(name, node) if node is not None else None
            if problem is not None:
                problems.append(problem)
            else:
                data = loader.construct_document(node) if node is not None else None
                if data is not None:
                    docs.append(SourceDocument(name, index, data, start, source))
            index += 1
    except _KeyType as exc:
        problems.append(
            Diagnostic(
                "yaml.key-type",
                f"key {exc.key!r} is not a string",
                _origin(name, exc.mark),
                hint=f"quote it: '{exc.key}'" if exc.key is not None else "quote it",
            )
        )
    except _DuplicateKey as exc:
        problems.append(Diagnostic("yaml.duplicate-key", f"duplicate key {exc.key!r}", _origin(name, exc.mark)))
    except yaml.YAMLError as exc:
        problems.append(_yaml_problem(name, text, exc))
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
