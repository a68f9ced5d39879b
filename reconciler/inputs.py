"""Everything desired_state needs from outside the specs, gathered in one place before it
runs: the project's git commit, the values of the environment variables its Environments
name as secrets, the parameter schemas of its Python entrypoints (read from files,
kept in pipeform's disk cache, computed by Prefect when not cached), and the locks of its
Environments (pipeform.environments: uv at plan time, cached). desired_state is then
a pure function of a `DesiredInput`.
"""

from __future__ import annotations

import ast
import builtins
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from pipeform import diskcache
from pipeform.environments.deploy import PoolInputs
from pipeform.environments.deploy import gather as gather_runtimes
from pipeform.spec import entrypoints
from pipeform.spec.diagnostics import Diagnostic, SpecError
from pipeform.spec.flow_names import find_def
from pipeform.spec.project import Project

from .kinds.block_values import secret_variables


@dataclass(frozen=True)
class GitInfo:
    sha: str
    prefix: str  # the project folder relative to the repository root ("" at the root)
    dirty: bool  # uncommitted or untracked files under the project folder

    @property
    def version_suffix(self) -> str:
        """`.git.<sha12>` (plus `.dirty` when the files differ from that commit)."""
        return f".git.{self.sha[:12]}" + (".dirty" if self.dirty else "")


@dataclass(frozen=True)
class DesiredInput:
    project: Project
    git: GitInfo | None  # the project's repository, None outside git
    secrets: Mapping[str, str]  # environment variable -> value, for every `from_env` apply reads (never empty)
    entrypoint_schemas: Mapping[str, dict[str, Any]]  # Python entrypoint -> its parameter schema
    # Environments' locks, pools known only from the server, the code hash of built images.
    runtimes: PoolInputs = field(default_factory=PoolInputs)

    def entrypoint_schema(self, entrypoint: str) -> dict[str, Any]:
        """A copy: bodies are compared and written, never shared."""
        return json.loads(json.dumps(self.entrypoint_schemas[entrypoint]))  # type: ignore[no-any-return]


def gather_inputs(project: Project, server_pools: Mapping[str, Mapping[str, Any]] | None = None) -> DesiredInput:
    """The side effects of desired state, all here: git, the environment, files, the cache,
    and the Environments' locks (uv; `server_pools`: the server's copy of referenced pools
    the project does not declare, read by the engine). Raises SpecError (located) when an
    Environment cannot be locked or a job variable does not fit its server-only pool."""
    secrets: dict[str, str] = {}
    schemas: dict[str, dict[str, Any]] = {}
    unset: list[Diagnostic] = []
    for var, kind, name, path in secret_variables(project):
        if os.environ.get(var):
            secrets[var] = os.environ[var]
        elif not any(d.message.startswith(f"${var} ") for d in unset):
            message = (
                f"${var} is not set (or empty): apply reads this secret from the environment, never an empty value"
            )
            unset.append(Diagnostic("env.unset", message, project.origin(kind, name, path)))
    if unset:
        raise SpecError(unset)
    for doc in project.deployments.values():
        s = doc.spec
        if not s.flow and s.entrypoint not in schemas:
            schemas[s.entrypoint] = _entrypoint_schema(project.root, s.entrypoint)
    runtimes = gather_runtime_inputs(project, server_pools or {})
    return DesiredInput(project, git_info(project.root), MappingProxyType(secrets), MappingProxyType(schemas), runtimes)


def gather_runtime_inputs(project: Project, server_pools: Mapping[str, Mapping[str, Any]]) -> PoolInputs:
    """Only the Environments' locks and code hash: what `pipeform build` needs. No secret
    is read (an image never holds one: secrets reach runs through Secret blocks), so build,
    like validate, works without the apply-time environment. Raises SpecError (located)."""
    runtimes, problems = gather_runtimes(project, server_pools)
    if problems:
        raise SpecError(
            [
                Diagnostic(code, msg, project.origin(kind, name, path, key=code.endswith("unknown")))
                for kind, name, path, code, msg in problems
            ]
        )
    return runtimes


def git_info(root: str) -> GitInfo | None:
    """HEAD, the project's place in its repository and whether its files differ from HEAD;
    None outside a git repository."""

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", "-C", root, *args], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout if out.returncode == 0 else None

    head = git("rev-parse", "HEAD", "--show-prefix")
    if head is None:
        return None
    sha, _, prefix = head.partition("\n")
    status = git("status", "--porcelain", "--", ".")
    return GitInfo(sha.strip(), prefix.strip().rstrip("/"), status is None or bool(status.strip()))


_schemas: dict[tuple[str, str, str, bool], tuple[dict[str, Any], tuple[str, ...]]] = {}
# Where a signature's names may come from for its schema to depend on nothing but the file
# (and these packages' versions, part of the disk cache key).
_FIXED_MODULES = frozenset(sys.stdlib_module_names) | {"prefect", "pydantic", "typing_extensions"}


def _entrypoint_schema(root: str, entrypoint: str) -> dict[str, Any]:
    """Parameter schema of an existing Python flow, as `prefect deploy` sends it, read from
    source without running it (pipeform.spec.entrypoints; the file's top level runs only
    when allowed and needed). Computed once per file content and function, however many
    deployments use it; and kept on disk (pipeform.diskcache) when the function's signature
    names only builtins, the standard library, prefect or pydantic, so that a later run
    needs neither the computation nor Prefect's import (about 1 s)."""
    found = entrypoints.resolve(root, entrypoint)
    if found.path is None:  # outside the project or missing: said as such, not as a server error
        raise entrypoints.EntrypointError(found.problem[1] if found.problem else entrypoint)
    with open(found.path, "rb") as f:
        source = f.read()
    allow = entrypoints.exec_allowed()
    key = (found.path, found.function, hashlib.sha256(source).hexdigest(), allow)
    if key not in _schemas:
        disk = (key[2], found.function, diskcache.versions("prefect", "pydantic"), sys.version)
        fixed = _self_contained(source, found.function)
        cached = diskcache.get("schemas", disk) if fixed else None
        notes: tuple[str, ...] = ()
        if not isinstance(cached, dict):
            result = entrypoints.parameter_schema(root, entrypoint, allow_exec=allow)
            cached, notes = result.schema, result.notes
            if fixed and result.exact:
                diskcache.put("schemas", disk, cached)
        _schemas[key] = cached, notes
    cached, notes = _schemas[key]
    entrypoints.note(*notes)  # said on every plan, cached or not
    return cached


def _self_contained(source: bytes, func: str) -> bool:
    """Whether the schema of `func` depends only on this file: every name in its annotations
    is a builtin or imported (at top level, as Prefect's loader sees it) from the standard
    library, prefect or pydantic, and every default is a literal. Anything else (a class
    defined here or in a local module, a string annotation, `import *`, a computed default)
    is not cached on disk."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return False
    fixed: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            fixed |= {a.asname or a.name.split(".")[0] for a in node.names if a.name.split(".")[0] in _FIXED_MODULES}
        elif isinstance(node, ast.ImportFrom):
            if any(a.name == "*" for a in node.names):
                return False
            if node.level == 0 and (node.module or "").split(".")[0] in _FIXED_MODULES:
                fixed |= {a.asname or a.name for a in node.names}
    fn = find_def(tree, func)
    if fn is None:
        return False
    a = fn.args
    params = [*a.posonlyargs, *a.args, *a.kwonlyargs, *(x for x in (a.vararg, a.kwarg) if x)]
    annotations = [p.annotation for p in params if p.annotation is not None]
    values = [*a.defaults, *(d for d in a.kw_defaults if d is not None)]
    for sub in (n for root in annotations for n in ast.walk(root)):
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            return False  # a forward reference, resolved against who knows what
    for sub in (n for root in annotations for n in ast.walk(root)):
        if isinstance(sub, ast.Name) and sub.id not in fixed and not hasattr(builtins, sub.id):
            return False
    try:
        for value in values:
            ast.literal_eval(value)  # a default computed at load time (os.environ[...]) may vary
    except (ValueError, TypeError, SyntaxError, RecursionError):
        return False
    return True
