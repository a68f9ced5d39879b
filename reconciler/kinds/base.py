"""The interface every kind implements, and the contexts the loops hand to it.

A kind knows everything about one sort of server object: how the specs ask for it
(`desired`), how the server shows it (`observe`), how both sides compare (`comparable`),
the requests that create, update and delete it, and how it is written back as a spec
document (`read_all` + `documents`, for `pipeform import`). The loops in desired.py,
observe.py, plan.py, apply.py and importer.py only iterate over the registry
(`kinds/__init__.py`); nothing outside a kind's module compares kind strings.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from pipeform.spec.diagnostics import Diagnostic
from pipeform.spec.models.common import PREFECT_NAME_PATTERN

from ..api import ServerAPI, seg
from ..changes import Action, ResourceChange
from ..diagnostics import located
from ..normalize import comparable
from ..resources import Resource

if TYPE_CHECKING:
    from ..inputs import DesiredInput

CHUNK = 100  # names per filtered request: under a page (200), so one request answers a chunk
Body = dict[str, Any]


def chunks(names: Iterable[Any], size: int = CHUNK) -> list[list[Any]]:
    items = sorted(names)
    return [items[i : i + size] for i in range(0, len(items), size)]


async def filtered(api: ServerAPI, path: str, key: str, names: Iterable[str]) -> list[dict[str, Any]]:
    """Objects of these names only (paged, chunked by name, chunks concurrently)."""
    parts = await asyncio.gather(*(api.all(path, {key: {"name": {"any_": c}}}) for c in chunks(names)))
    return [item for part in parts for item in part]


@dataclass
class ObserveContext:
    """What one observe round shares between kinds: the wanted names of every kind (a
    kind may read on behalf of another, as pools do for their queues), requests made once
    for several kinds (`once`), and the errors observe cannot decide."""

    api: ServerAPI
    owner: str  # the project's owner tag
    wanted: Mapping[str, frozenset[str]]
    errors: list[Diagnostic] = field(default_factory=list)
    origins: Mapping[str, str | None] = field(default_factory=dict)  # address -> its spec document

    def error(self, code: str, address: str, message: str) -> None:
        self.errors.append(located(code, f"{address}: {message}", self.origins.get(address)))

    _memo: dict[str, asyncio.Future[Any]] = field(default_factory=dict)

    def names(self, kind: str) -> frozenset[str]:
        return self.wanted.get(kind, frozenset())

    async def once(self, key: str, make: Callable[[], Awaitable[Any]]) -> Any:
        if key not in self._memo:
            self._memo[key] = asyncio.ensure_future(make())
        return await asyncio.shield(self._memo[key])


@dataclass
class ApplyContext:
    """What the changes of one apply share: server ids of deployments (seen by the plan or
    created by it) and each flow's upsert, made once however many deployments share it."""

    api: ServerAPI
    deployment_ids: dict[str, str]  # deployment address -> server id
    _flows: dict[str, asyncio.Future[Any]] = field(default_factory=dict)
    _memo: dict[str, asyncio.Future[Any]] = field(default_factory=dict)
    _alone: dict[str, asyncio.Lock] = field(default_factory=dict)
    _done_alone: set[str] = field(default_factory=set)

    async def once(self, key: str, make: Callable[[], Awaitable[Any]]) -> Any:
        """`make()` once per apply (a failure is retried by the next caller): never across
        applies, so a long-lived process does not keep ids of a server that was reset."""
        if key not in self._memo or (self._memo[key].done() and self._memo[key].exception()):
            self._memo[key] = asyncio.ensure_future(make())
        return await asyncio.shield(self._memo[key])

    async def alone_until_done(self, key: str, send: Callable[[], Awaitable[Any]]) -> Any:
        """Calls of one `key` run one at a time until one has succeeded, then concurrently:
        for writes whose first success sets up server state that concurrent first writes
        race on (block documents: see BlockKind.create)."""
        if key not in self._done_alone:
            async with self._alone.setdefault(key, asyncio.Lock()):
                if key not in self._done_alone:  # else the waiters go on together, unlocked
                    result = await send()
                    self._done_alone.add(key)
                    return result
        return await send()

    async def flow_id(self, name: str) -> str:
        """POST /flows/ (an upsert by name) once per flow, however many deployments share it."""
        if name not in self._flows:
            self._flows[name] = asyncio.ensure_future(self.api.request("POST", "/flows/", {"name": name}))
        return str((await asyncio.shield(self._flows[name]))["id"])

    async def deployment_id(self, address: str) -> str:
        """A deployment's id: created or seen by this plan, else read by FLOW/NAME."""
        if address in self.deployment_ids:
            return self.deployment_ids[address]
        ref = address.removeprefix("deployment.")
        flow, _, name = ref.partition("/")
        found = await self.api.request("GET", f"/deployments/name/{seg(flow)}/{seg(name)}", ok=(404,))
        if not found:
            raise ValueError(f"deployment {ref} does not exist on the server")
        self.deployment_ids[address] = found["id"]
        return str(found["id"])


@dataclass(frozen=True)
class ImportedDoc:
    """One spec document written by `pipeform import`."""

    document: str  # spec kind: WorkPool, Variable, ...
    name: str
    spec: dict[str, Any]
    description: str | None = None


@dataclass(frozen=True)
class NotImported:
    """A server object `pipeform import` leaves out, and why."""

    document: str
    name: str  # what --name matches
    why: str  # the whole note, "Kind name: reason"
    instead: str | None = None  # the document kind that writes it instead (noted only when not imported)


class Kind:
    """Defaults for the optional parts; a kind overrides what applies to it."""

    name: ClassVar[str]  # address prefix: `<name>.<object name>`
    order: ClassVar[int]  # apply phase (deletes run in reverse)
    document: ClassVar[str | None] = None  # the spec document kind it is imported as
    import_file: ClassVar[str | None] = None  # file `pipeform import` writes those documents to
    replace_on: ClassVar[tuple[str, ...]] = ()  # fields the server cannot change in place
    belongs_to_parent: ClassVar[bool] = False  # owned, adopted and pruned with its parent
    observed_with: ClassVar[str | None] = None  # read by its parent's kind, not by itself
    name_pattern: ClassVar[str] = PREFECT_NAME_PATTERN  # names its documents accept (import skips others)
    name_rule: ClassVar[str] = "any characters but '/', '%', '&', '>', '<'"  # that pattern, in words

    def address(self, name: str) -> str:
        return f"{self.name}.{name}"

    def parent_of(self, name: str) -> str | None:
        """Address of the object this one lives in, from its name (the one place a name is
        taken apart)."""
        return None

    def resource(
        self,
        name: str,
        body: Body,
        *,
        origin: str | None = None,
        sensitive: tuple[str, ...] = (),
        server_id: str | None = None,
    ) -> Resource:
        return Resource(self.address(name), self.name, name, body, origin, sensitive, server_id, self.parent_of(name))

    # --- desired and observed ------------------------------------------------------------

    def desired(self, inputs: DesiredInput) -> Iterable[Resource]:
        return ()

    async def observe(self, ctx: ObserveContext, names: frozenset[str]) -> list[Resource]:
        return []

    def keep_observed(self, resource: Resource, inventory: frozenset[str], owner: str) -> bool:
        """Whether an observed object stands for the address (after the inventory is known)."""
        return True

    def comparable(self, want: Body, have: Body) -> tuple[Body, Body]:
        """Both sides in the form that is diffed (fields written but never compared dropped)."""
        return comparable(want), comparable(have)

    # --- writes --------------------------------------------------------------------------

    async def apply(self, ctx: ApplyContext, change: ResourceChange) -> None:
        if change.action is Action.DELETE:
            await self.delete(ctx, change)
        elif change.action is Action.REPLACE:
            await self.delete(ctx, change)
            await self.create(ctx, change)
        elif change.action is Action.CREATE:
            await self.create(ctx, change)
        else:
            await self.update(ctx, change)

    async def create(self, ctx: ApplyContext, change: ResourceChange) -> None:
        raise NotImplementedError(self.name)

    async def update(self, ctx: ApplyContext, change: ResourceChange) -> None:
        raise NotImplementedError(self.name)

    async def delete(self, ctx: ApplyContext, change: ResourceChange) -> None:
        raise NotImplementedError(self.name)

    def blocked(self, change: ResourceChange, failed: frozenset[str]) -> str | None:
        """Why this change cannot be made since these addresses failed earlier in the apply."""
        return None

    # --- import --------------------------------------------------------------------------

    async def read_all(self, api: ServerAPI) -> dict[str, Any]:
        """Every object of this kind on the server, under keys of the import's server dict."""
        return {}

    def documents(self, server: Mapping[str, Any]) -> Iterable[ImportedDoc | NotImported]:
        return ()


class DeploymentChildKind(Kind):
    """A kind that lives in a deployment (schedules, triggers): named `FLOW/DEPLOYMENT/<own
    name>`, owned, adopted and pruned with it."""

    belongs_to_parent = True

    @staticmethod
    def split(name: str) -> tuple[str, str]:
        """(deployment FLOW/NAME, own name): own names hold no '/'."""
        deployment, _, own = name.rpartition("/")
        return deployment, own

    def parent_of(self, name: str) -> str | None:
        return f"deployment.{self.split(name)[0]}"
