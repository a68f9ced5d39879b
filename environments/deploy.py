"""What a deployment's Environment becomes on its pool: the side-effect step (locking every
Environment the deployments use, uv at plan time) and the pure mapping to job variables.

Process pools: a locked Environment runs through `python -m pipeform.environments.launch`
(the `command` job variable), which builds or reuses the venv of the lock carried in the
run's env and runs Prefect's engine inside it. Container pools (docker, kubernetes, ...):
the Environment's `image`, else the image `pipeform build` makes for the lock
(image.image_tag). Resources go to the pool type's own variables (profiles.py).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .image import image_tag
from .launch import HASH_VAR, LOCK_VAR, NAME_VAR
from .lock import RUNNER_PLUGINS, Lock, LockError, LockInput, lock
from .pools import Problem
from .profiles import resource_job_variables

LAUNCH_COMMAND = "python -m pipeform.environments.launch"
CONTAINER_TYPES = frozenset(
    {"docker", "kubernetes", "ecs", "cloud-run", "cloud-run-v2", "azure-container-instance", "vertex-ai"}
)


@dataclass(frozen=True)
class EnvironmentUse:
    """One locked runtime: an Environment (or none) plus the task-runner plugins its flows need."""

    environment: str | None
    plugins: tuple[str, ...]
    lock: Lock


@dataclass(frozen=True)
class Locks:
    """Every (Environment, plugins) pair the deployments use, locked."""

    by_key: Mapping[tuple[str | None, tuple[str, ...]], EnvironmentUse] = field(default_factory=dict)

    def get(self, environment: str | None, plugins: tuple[str, ...]) -> EnvironmentUse | None:
        return self.by_key.get((environment, plugins))


def flow_plugins(project: Any, flow_name: str | None) -> tuple[str, ...]:
    """Packages the task runners of a Flow (and the subflows it calls) need."""
    out: set[str] = set()
    seen: set[str] = set()
    todo = [flow_name] if flow_name else []
    default = project.defaults.flow.task_runner
    while todo:
        name = todo.pop()
        if name in seen or name not in project.flows:
            continue
        seen.add(name)
        spec = project.flows[name].spec
        runner = spec.task_runner or default
        if runner is not None and runner.type in RUNNER_PLUGINS:
            out.add(RUNNER_PLUGINS[runner.type])
        todo += [t.subflow.flow for t in spec.tasks if t.subflow is not None]
    return tuple(sorted(out))


def lock_input(project: Any, env_doc: Any, plugins: tuple[str, ...]) -> LockInput | None:
    """What to lock for a deployment, or None when it runs in the worker's own environment."""
    spec = env_doc.spec if env_doc is not None else None
    reqs = tuple(spec.python_requirements) if spec else ()
    file_name = spec.requirements_file if spec else None
    python, platform = (spec.python, spec.python_platform) if spec else (None, None)
    if not reqs and not file_name and not plugins and not python and not platform:
        return None  # a target Python alone still gets a lock: the worker must check it
    text = None
    if file_name:
        root = os.path.realpath(project.root)
        path = os.path.realpath(os.path.join(root, file_name))
        if os.path.commonpath([root, path]) != root:  # a symlink out of the project (the model refuses '..')
            raise OSError(f"{file_name!r} resolves to {path}, outside the project folder {root}: not read")
        with open(path, encoding="utf-8") as f:  # OSError: reported by the caller, located
            text = f.read()
    return LockInput(reqs, file_name, text, plugins, python, platform)


DocProblem = tuple[
    str, str, tuple[str | int, ...], str, str
]  # (kind, document name, path, code, message): located by the caller


def lock_project(project: Any) -> tuple[Locks, list[DocProblem]]:
    """Lock what the project's deployments use. Returns (locks, problems) where a problem is
    (kind, name, path, code, message) to be located by the caller."""
    out: dict[tuple[str | None, tuple[str, ...]], EnvironmentUse] = {}
    problems: list[DocProblem] = []
    for dep in project.deployments.values():
        s = dep.spec
        env_doc = project.environments.get(s.environment) if s.environment else None
        plugins = flow_plugins(project, s.flow)
        key = (s.environment, plugins)
        if key in out or any(p[:2] == _where(s, env_doc)[:2] for p in problems):
            continue
        kind, name, path = _where(s, env_doc)
        try:
            req = lock_input(project, env_doc, plugins)
            if req is not None:
                out[key] = EnvironmentUse(s.environment, plugins, lock(req))
        except OSError as exc:
            problems.append(("Environment", name, ("spec", "requirements_file"), "environment.file", str(exc)))
        except LockError as exc:
            problems.append((kind, name, path, "environment.unresolvable", f"{exc}:\n{exc.detail}"))
    return Locks(out), problems


def _where(spec: Any, env_doc: Any) -> tuple[str, str, tuple[str, ...]]:
    if env_doc is not None:
        field_ = (
            "requirements_file"
            if env_doc.spec.requirements_file and not env_doc.spec.python_requirements
            else "python_requirements"
        )
        return "Environment", env_doc.metadata.name, ("spec", field_)
    return "Flow", spec.flow or "", ("spec", "task_runner")


def environment_job_variables(
    env_doc: Any,
    use: EnvironmentUse | None,
    pool_type: str | None,
    variables: Mapping[str, Any] | None,
    code: str = "",
) -> tuple[dict[str, Any], list[Problem]]:
    """Job variables from an Environment (env values already resolved by the caller) and its lock."""
    jv: dict[str, Any] = dict(env_doc.spec.job_variables) if env_doc is not None else {}
    problems: list[Problem] = []
    container = pool_type in CONTAINER_TYPES
    if use is not None and not container:  # process (or an unknown pool: the embedded default)
        jv["command"] = LAUNCH_COMMAND
        jv["env"] = {
            **jv.get("env", {}),
            NAME_VAR: use.environment or "",
            HASH_VAR: use.lock.hash,
            LOCK_VAR: use.lock.text,
        }
    if container:
        image = env_doc.spec.image if env_doc is not None else None
        if image is None and use is not None:
            image = image_tag(use.environment, use.lock, env_doc.spec.registry if env_doc is not None else None, code)
        if image:
            jv["image"] = image
    if env_doc is not None and env_doc.spec.resources is not None:
        extra, problems = resource_job_variables(pool_type, env_doc.spec.resources.model_dump(), variables)
        jv.update(extra)
    return jv, problems


@dataclass(frozen=True)
class PoolInputs:
    """Everything desired state needs from outside the specs for runtimes: locks, the
    server's copy of pools the project does not declare (name -> {type, base_job_template}),
    and the project code's hash (tag of built images)."""

    locks: Locks = field(default_factory=Locks)
    server_pools: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    code: str = ""


def pool_template(project: Any, pool_name: str | None, inputs: PoolInputs) -> tuple[str | None, dict[str, Any] | None]:
    """(type, effective base job template) of a deployment's pool: declared here, else as
    the server has it, else unknown (None, None: a pool a process worker will create)."""
    from .pools import effective_template

    if pool_name is None:
        return None, None
    doc = project.work_pools.get(pool_name)
    if doc is not None:
        return doc.spec.type, effective_template(doc.spec.type, doc.spec.base_job_template)
    server = inputs.server_pools.get(pool_name)
    if server:
        return server.get("type"), dict(server.get("base_job_template") or {})
    return None, None


def gather(project: Any, server_pools: Mapping[str, Mapping[str, Any]]) -> tuple[PoolInputs, list[DocProblem]]:
    """The side-effect step: lock every runtime the deployments use (uv), hash the code,
    and check deployments against pools known only from the server. Returns the inputs and
    the problems (any problem: nothing may be written)."""
    from .image import code_hash
    from .profiles import pool_problems

    locks, problems = lock_project(project)
    inputs = PoolInputs(locks, server_pools, code_hash(project.root) if locks.by_key else "")
    for name, dep in project.deployments.items():
        pool = dep.spec.work_pool.name if dep.spec.work_pool else None
        env_doc = project.environments.get(dep.spec.environment) if dep.spec.environment else None
        if pool is None or pool in project.work_pools:
            continue  # declared pools were checked by validate
        if pool not in server_pools:
            if env_doc is not None and env_doc.spec.resources is not None:
                msg = f"work pool {pool!r} is neither declared nor on the server: its type, hence the variables for these resources, is unknown"
                problems.append(
                    ("Environment", env_doc.metadata.name, ("spec", "resources"), "resources.unsupported", msg)
                )
            continue
        pool_type, template = pool_template(project, pool, inputs)
        for (path, code, msg), kind, doc_name, base in pool_problems(
            pool_type, template or {}, name, dep.spec, env_doc
        ):
            problems.append(
                (kind, doc_name, (*base, *path), code, f"{msg} (pool {pool!r} on the server, type {pool_type})")
            )
    return inputs, problems


def deployment_runtime(
    project: Any, dep_name: str, inputs: PoolInputs
) -> tuple[EnvironmentUse | None, dict[str, Any], str | None]:
    """(locked runtime or None, job variables from the Environment's runtime, working
    directory inside a pipeform-built image or None) of one deployment."""
    from .image import PROJECT_DIR

    s = project.deployments[dep_name].spec
    env_doc = project.environments.get(s.environment) if s.environment else None
    use = inputs.locks.get(s.environment, flow_plugins(project, s.flow))
    pool_type, template = pool_template(project, s.work_pool.name if s.work_pool else None, inputs)
    variables = (template or {}).get("variables") if template is not None else None
    jv, _ = environment_job_variables(env_doc, use, pool_type, variables, inputs.code)
    built = pool_type in CONTAINER_TYPES and use is not None and not (env_doc is not None and env_doc.spec.image)
    return use, jv, PROJECT_DIR if built else None


def images_to_build(project: Any, inputs: PoolInputs) -> list[tuple[EnvironmentUse, str, str | None]]:
    """(runtime, tag, registry) of every image deployments on container pools need built
    (an Environment with a prebuilt `image` needs none), once per tag."""
    out: dict[str, tuple[EnvironmentUse, str, str | None]] = {}
    for name, dep in project.deployments.items():
        use, jv, built_dir = deployment_runtime(project, name, inputs)
        if use is not None and built_dir is not None:
            env_doc = project.environments.get(dep.spec.environment) if dep.spec.environment else None
            out.setdefault(jv["image"], (use, jv["image"], env_doc.spec.registry if env_doc is not None else None))
    return list(out.values())
