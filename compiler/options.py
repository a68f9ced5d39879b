"""Options both backends pass the same way, described as plain data: the keyword
arguments of `task(...)` and `flow(...)` (task_keywords, flow_keywords), the cache policy
table, the task runner and the result storage. Each backend renders every value: build.py
makes the object (imports and calls a `Constructor`), emit writes the same thing as code.
Pure: no Prefect."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .ir import (
    BlockStorage,
    Dask,
    FlowIR,
    HookIR,
    LocalStorage,
    ProcessPool,
    Ray,
    Storage,
    TaskIR,
    TaskRunnerIR,
    ThreadPool,
)

# spec cache policy name -> attribute of prefect.cache_policies
CACHE_POLICIES = {
    "default": "DEFAULT",
    "inputs": "INPUTS",
    "task_source": "TASK_SOURCE",
    "flow_parameters": "FLOW_PARAMETERS",
    "run_id": "RUN_ID",
    "none": "NO_CACHE",
}
CACHE_POLICY_MODULE = "prefect.cache_policies"


@dataclass(frozen=True)
class HomePath:
    """A path starting with ~: expanded where the flow is built (or the module imported)."""

    path: str


@dataclass(frozen=True)
class Constructor:
    module: str
    name: str
    kwargs: tuple[tuple[str, Any], ...] = ()  # plain values or HomePath


def task_runner(runner: TaskRunnerIR) -> Constructor:
    match runner:
        case ThreadPool(max_workers=n):
            return Constructor("prefect.task_runners", "ThreadPoolTaskRunner", (("max_workers", n),))
        case ProcessPool(max_workers=n):
            return Constructor("prefect.task_runners", "ProcessPoolTaskRunner", (("max_workers", n),))
        case Dask(address=address, cluster_class=cls, cluster_kwargs=kwargs):
            kw: list[tuple[str, Any]] = [(k, v) for k, v in (("address", address), ("cluster_class", cls)) if v]
            if kwargs:
                kw.append(("cluster_kwargs", dict(kwargs)))
            return Constructor("prefect_dask", "DaskTaskRunner", tuple(kw))
        case Ray(address=address):
            return Constructor("prefect_ray", "RayTaskRunner", (("address", address),))


def result_storage(storage: Storage) -> Constructor | str:
    """A local folder becomes a LocalFileSystem; a block is passed by its slug."""
    match storage:
        case LocalStorage(basepath=path):
            base: Any = HomePath(path) if path.startswith("~") else path
            return Constructor("prefect.filesystems", "LocalFileSystem", (("basepath", base),))
        case BlockStorage(slug=slug):
            return slug


# Values of task_keywords/flow_keywords besides plain ones (str, numbers, bools, tuples for
# lists), a CacheIR (cache_policy) and a Constructor or block slug (result_storage, task_runner).


@dataclass(frozen=True)
class RetryOn:
    """retry_condition_fn: retry only when the exception's class (or a base) is named."""

    names: tuple[str, ...]


@dataclass(frozen=True)
class Duration:
    """A datetime.timedelta (cache_expiration)."""

    seconds: float


@dataclass(frozen=True)
class RunName:
    """task_run_name / flow_run_name: a template with $[ ] run-time expressions, evaluated
    when Prefect names the run (over the task's inputs, or the flow's parameters)."""

    template: str
    of_task: bool


@dataclass(frozen=True)
class Hooks:
    """on_failure / on_completion: the state hooks of one event."""

    hooks: tuple[HookIR, ...]


EVENTS = ("on_failure", "on_completion")


def _hooks(hooks: tuple[HookIR, ...]) -> dict[str, Hooks]:
    if not hooks:
        return {}
    out = {event: Hooks(tuple(h for h in hooks if h.event == event)) for event in EVENTS}
    return {event: h for event, h in out.items() if h.hooks}


def task_keywords(node: TaskIR) -> dict[str, Any]:
    """The keyword arguments of prefect.task(...) for one task, in the order emit writes
    them; unset options are left out (Prefect's defaults apply)."""
    o = node.options
    kw: dict[str, Any] = {
        "name": node.name,
        "description": node.description,
        "retries": o.retries or None,  # 0 is the spec's default: Prefect's own default applies
        "retry_delay_seconds": o.retry_delays or None,
        "retry_jitter_factor": o.retry_jitter_factor,
        "retry_condition_fn": RetryOn(o.retry_on) if o.retry_on else None,
    }
    if o.cache is not None:
        kw["cache_policy"] = o.cache
        kw["refresh_cache"] = o.cache.refresh or None
        kw["cache_expiration"] = Duration(o.cache.expiration_seconds) if o.cache.expiration_seconds else None
    for key in ("timeout_seconds", "persist_result", "log_prints", "result_serializer", "version"):
        kw[key] = getattr(o, key)
    kw["result_storage"] = result_storage(o.result_storage) if o.result_storage else None
    kw["tags"] = o.tags or None
    kw["task_run_name"] = RunName(o.run_name, of_task=True) if o.run_name else None
    kw |= _hooks(node.hooks)
    return {k: v for k, v in kw.items() if v is not None}


def flow_keywords(ir: FlowIR) -> dict[str, Any]:
    """The keyword arguments of prefect.flow(...) (tags are not among them: see build's
    _tagged_flow_class and emit's tags context)."""
    o = ir.options
    kw: dict[str, Any] = {"name": ir.name, "description": ir.description}
    for key in (
        "retries",
        "retry_delay_seconds",
        "timeout_seconds",
        "persist_result",
        "log_prints",
        "validate_parameters",
        "result_serializer",
        "version",
    ):
        kw[key] = getattr(o, key)
    kw["result_storage"] = result_storage(o.result_storage) if o.result_storage else None
    kw["flow_run_name"] = RunName(o.run_name, of_task=False) if o.run_name else None
    kw["task_runner"] = task_runner(o.task_runner) if o.task_runner else None
    kw |= _hooks(ir.hooks)
    return {k: v for k, v in kw.items() if v is not None}
