"""The intermediate representation: a flow as a DAG of tasks, every reference resolved,
plain frozen data (no Prefect), each node keeping where it was written."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from pipeform.spec.models.flow import Parameter

# (kind, document name, path inside it): Project.origin(*ref) locates it
SourceRef = tuple[str, str, tuple[str | int, ...]]
Pairs = tuple[tuple[str, Any], ...]  # keyword -> JSON-like value that may hold $[ ] strings


# -- what a task does (one class per action; dispatched with `match`) ------------------------


@dataclass(frozen=True, slots=True)
class PythonCall:
    kind: ClassVar[str] = "python"  # as the spec names it (labels, messages)
    path: str  # 'package.module:attr'


@dataclass(frozen=True, slots=True)
class ShellCommand:
    kind: ClassVar[str] = "shell"  # as the spec names it (labels, messages)
    command: str
    env: Pairs = ()
    cwd: str | None = None
    capture: str = "stdout"  # none | stdout | lines | json
    stream: bool = True


@dataclass(frozen=True, slots=True)
class SubflowCall:
    kind: ClassVar[str] = "subflow"  # as the spec names it (labels, messages)
    flow: str  # a Flow document of the same project


@dataclass(frozen=True, slots=True)
class DeploymentRun:
    kind: ClassVar[str] = "deployment"  # as the spec names it (labels, messages)
    name: str  # 'flow-name/deployment-name'
    wait: bool = True
    timeout_seconds: float | None = None
    job_variables: Pairs = ()


@dataclass(frozen=True, slots=True)
class ApprovalField:
    type: str  # string | integer | number | boolean
    description: str | None = None
    default: Any = None


@dataclass(frozen=True, slots=True)
class Approval:
    kind: ClassVar[str] = "approval"  # as the spec names it (labels, messages)
    message: str | None
    timeout_seconds: float
    inputs: tuple[tuple[str, ApprovalField], ...] = ()


Action = PythonCall | ShellCommand | SubflowCall | DeploymentRun | Approval


# -- options --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LocalStorage:
    basepath: str  # as written: absolute, relative or ~


@dataclass(frozen=True, slots=True)
class BlockStorage:
    slug: str  # 'block-type/block-name'


Storage = LocalStorage | BlockStorage


@dataclass(frozen=True, slots=True)
class CacheIR:
    policies: tuple[str, ...]  # cache policy names (options.CACHE_POLICIES), combined with +
    exclude_inputs: tuple[str, ...] = ()
    expiration_seconds: float | None = None
    refresh: bool = False
    key_storage: str | None = None


@dataclass(frozen=True, slots=True)
class RunOptionsIR:
    """Options tasks and flows both take, under the same names (options.task_keywords/flow_keywords)."""

    timeout_seconds: float | None = None
    persist_result: bool | None = None
    result_storage: Storage | None = None
    result_serializer: str | None = None
    log_prints: bool | None = None
    tags: tuple[str, ...] = ()
    version: str | None = None
    run_name: str | None = None


@dataclass(frozen=True, slots=True)
class TaskOptionsIR(RunOptionsIR):
    retries: int = 0
    retry_delays: tuple[float, ...] = ()  # one per retry (Prefect takes a list)
    retry_jitter_factor: float | None = None
    retry_on: tuple[str, ...] = ()
    cache: CacheIR | None = None
    limits: tuple[str, ...] = ()
    occupy: int = 1
    rate_limits: tuple[str, ...] = ()
    limit_timeout_seconds: float | None = None
    continue_on_failure: bool = False


@dataclass(frozen=True, slots=True)
class HookIR:
    event: str  # on_failure | on_completion
    task: str | None = None
    shell: str | None = None
    python: str | None = None


@dataclass(frozen=True, slots=True)
class ThreadPool:
    max_workers: int | None = None


@dataclass(frozen=True, slots=True)
class ProcessPool:
    max_workers: int | None = None


@dataclass(frozen=True, slots=True)
class Dask:
    address: str | None = None
    cluster_class: str | None = None
    cluster_kwargs: Pairs = ()


@dataclass(frozen=True, slots=True)
class Ray:
    address: str | None = None


TaskRunnerIR = ThreadPool | ProcessPool | Dask | Ray


# -- the graph ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TaskIR:
    name: str
    action: Action
    inputs: Pairs
    mapped: Pairs  # keyword -> value to fan out over
    data_deps: frozenset[str]  # tasks whose results the inputs, map or `when` read
    order_deps: frozenset[str]  # depends_on: ordering only
    when: str | None
    options: TaskOptionsIR
    hooks: tuple[HookIR, ...] = ()
    description: str | None = None
    source: SourceRef | None = field(default=None, compare=False)  # resolved only for messages
    _deps: frozenset[str] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def deps(self) -> frozenset[str]:  # cached: the plan and emit read it for every pair of tasks
        if self._deps is None:  # one side is usually empty: share the other (one live object less)
            deps = (
                (self.data_deps | self.order_deps)
                if self.data_deps and self.order_deps
                else self.data_deps or self.order_deps
            )
            object.__setattr__(self, "_deps", deps)
        return self._deps  # type: ignore[return-value]

    @property
    def runs_in_flow(self) -> bool:
        """Subflows and approvals run in the flow body itself (they block it while they run)."""
        return isinstance(self.action, SubflowCall | Approval)


@dataclass(frozen=True, slots=True)
class ParamIR:
    name: str
    spec: Parameter  # type, default, description, enum, limits
    default: Any
    required: bool  # no default: a run must pass it


@dataclass(frozen=True, slots=True)
class FlowOptionsIR(RunOptionsIR):
    retries: int | None = None
    retry_delay_seconds: float | None = None
    validate_parameters: bool | None = None
    task_runner: TaskRunnerIR | None = None


@dataclass(frozen=True, slots=True)
class FlowIR:
    name: str
    description: str | None
    params: tuple[ParamIR, ...]
    tasks: tuple[TaskIR, ...]  # the DAG, in a topological order
    options: FlowOptionsIR
    hooks: tuple[HookIR, ...]
    returns: Any  # None: a dict of the results of tasks nothing depends on
    root: str  # project folder: put on sys.path before importing user callables
    hook_tasks: tuple[TaskIR, ...] = ()  # tasks named by a hook: they run only as hooks
    source: SourceRef | None = field(default=None, compare=False)
    _by_name: dict[str, TaskIR] | None = field(default=None, init=False, repr=False, compare=False)

    def task(self, name: str) -> TaskIR:
        if self._by_name is None:  # derived once: every step looks its upstreams up
            object.__setattr__(self, "_by_name", {t.name: t for t in (*self.hook_tasks, *self.tasks)})
        return self._by_name[name]  # type: ignore[index]
