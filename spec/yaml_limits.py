"""Limits on one YAML file and its documents, the defence against hostile input: file
size, alias expansion (alias bombs, an anchor aliased inside itself) and nesting depth."""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from .diagnostics import Diagnostic
from .yaml_loader import mark_origin

MAX_FILE_BYTES = 1024 * 1024  # 1 MiB: larger spec files are refused (file.too-large)
MAX_EXPANDED_NODES = 100_000  # per document, counting every alias expansion (yaml.alias-bomb)
MAX_EXPANDED_CHARS = 2 * MAX_FILE_BYTES  # per document, scalar text with aliases expanded (yaml.alias-bomb)
MAX_DEPTH = 100  # nesting levels per document (yaml.too-deep)


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


def shape_problem(name: str, root: yaml.Node) -> Diagnostic | None:
    tree = _tree_shape(root)
    if tree is not None:
        tree_shape, deep = tree
        if tree_shape.height > MAX_DEPTH:
            message = f"document nests more than {MAX_DEPTH} levels deep"
            return Diagnostic("yaml.too-deep", message, mark_origin(name, (deep or root).start_mark))
        return None  # a tree is at most as big as its file: no alias bomb
    memo: dict[int, _Shape] = {}
    shape, cycle = _shape(root, memo)
    if shape is None:
        return Diagnostic(
            "yaml.recursive-alias",
            "an anchor is aliased inside itself, so the value would be infinite",
            mark_origin(name, cycle.start_mark if cycle is not None else None),
        )
    if shape.nodes > MAX_EXPANDED_NODES or shape.chars > MAX_EXPANDED_CHARS:
        what = f"{MAX_EXPANDED_NODES} nodes" if shape.nodes > MAX_EXPANDED_NODES else f"{MAX_EXPANDED_CHARS} characters"
        return Diagnostic(
            "yaml.alias-bomb",
            f"document expands to more than {what} through aliases",
            mark_origin(name, root.start_mark),
        )
    if shape.height > MAX_DEPTH:
        return Diagnostic(
            "yaml.too-deep",
            f"document nests more than {MAX_DEPTH} levels deep",
            mark_origin(name, _too_deep_at(root, memo).start_mark),
        )
    return None
