"""Options both backends construct the same way, described as plain data: the cache
policy table, the task runner and the result storage. build.py imports and calls each
`Constructor`; emit writes the same call as code. Pure: no Prefect."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .ir import BlockStorage, Dask, LocalStorage, ProcessPool, Ray, Storage, TaskRunnerIR, ThreadPool

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
