"""The controller loop: `pipeform sync`, for every project under --path.

Each cycle (at most every --interval seconds, jittered; at once on a webhook or a
deployment event from the server):

1. fetch the branch into the mirror (no server request);
2. a new commit is checked out once and every project in it is loaded (validated) on its
   own, as `pipeform plan` splits a tree holding several Project documents: a broken
   project is reported under its name with its located diagnostics and keeps its last good
   commit live, while the others move on;
3. each project then runs its own cycle (project.py: leader lease, suspend switch, signal,
   plan/apply, status), its failures caught and counted for it alone.

Decisions are in `decide` (project.py) and `backoff` (pure); the rest is side effects.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeform.reconciler.api import ApiError, ServerAPI
from pipeform.reconciler.inputs import git_info
from pipeform.reconciler.lock import LockedError
from pipeform.spec import load_project, split_projects
from pipeform.spec.diagnostics import SpecError

from . import source as git
from . import targeted
from .leader import LEASE_SECONDS
from .metrics import Metrics
from .project import Loaded, ProjectSync, Settings, Step, decide
from .signals import EventWatch
from .status import FAILED, log

__all__ = ["Controller", "Options", "Step", "backoff", "decide", "log"]


@dataclass(frozen=True)
class Options:
    repo: str
    branch: str | None = None
    path: str = ""
    env: str | None = None
    interval: float = 60.0
    resync: float = 600.0
    prune: bool = False
    self_heal: bool = False
    lock_timeout: float = 30.0
    lease: float = LEASE_SECONDS  # the leader lease (leader.py)

    @property
    def settings(self) -> Settings:
        return Settings(self.env, self.resync, self.prune, self.self_heal, self.lock_timeout, self.lease)


def backoff(failures: int, interval: float) -> float:
    """Seconds before the next cycle: the interval with +-10 % jitter, or after failures
    1, 2, 4, ... seconds, capped at the interval."""
    if failures:
        return min(interval, 2.0 ** (failures - 1)) * random.uniform(0.9, 1.0)
    return interval * random.uniform(0.9, 1.1)


@dataclass(frozen=True)
class Found:
    """One project of a commit: its folder in the repository, its name when it loaded."""

    folder: str
    name: str | None
    loaded: Loaded


class Controller:
    def __init__(self, opts: Options, api: ServerAPI, state_root: Path):
        self.opts = opts
        self.api = api
        self.src = git.Source(
            opts.repo,
            opts.branch,
            opts.path.strip("/"),
            git.source_dir(state_root, opts.repo, opts.branch, opts.path, opts.env),
        )
        self.metrics = Metrics()
        self.wake = asyncio.Event()
        self.stopping = False
        self.ready = False
        self.heartbeat = time.monotonic()
        self.sha: str | None = None  # the commit looked at last
        self.projects: dict[str, ProjectSync] = {}  # by project name
        self.folders: dict[str, str] = {}  # project folder -> name, from the commits that loaded
        self.events: EventWatch | None = None
        self.touched: set[str] = set()  # FLOW/NAME of deployments the event stream named

    # -- the loop -----------------------------------------------------------------------
    async def run(self) -> None:
        self.events = EventWatch(self.api.url, os.environ.get("PREFECT_API_KEY"), self._on_event)
        self.events.start()
        try:
            while not self.stopping:
                self.heartbeat = time.monotonic()
                self.wake.clear()  # here, not before sleeping: an event during the cycle wakes the next
                await self._guarded_cycle()
                self.ready = True
                await self._sleep(self._pause())
        finally:
            await self.events.stop()
            for ps in self.projects.values():
                await ps.leadership.release()

    def _pause(self) -> float:
        worst = max((ps.failures for ps in self.projects.values()), default=0)
        pause = backoff(worst, self.opts.interval)
        if any(not ps.leadership.leading for ps in self.projects.values()):
            pause = min(pause, self.opts.lease / 3)  # a standby watches the leader's note
        return pause

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self.wake.wait(), seconds)
            await asyncio.sleep(0.3)  # let a burst of events or hooks arrive together
        except TimeoutError:
            pass

    def trigger(self) -> None:
        self.wake.set()

    def _on_event(self, event: dict[str, Any]) -> None:
        name = targeted.deployment_of(event)
        if name:
            self.touched.add(name)
        self.trigger()

    async def _guarded_cycle(self) -> None:
        try:
            await self.cycle()
        except (ApiError, OSError, git.SourceError) as exc:  # git or the server: every project waits
            log(f"cycle failed: {exc}")
            self.metrics.syncs.labels("?", self.opts.env or "", FAILED).inc()
            for ps in self.projects.values():
                ps.failures += 1

    # -- one cycle ----------------------------------------------------------------------
    async def cycle(self) -> None:
        sha = await asyncio.to_thread(git.fetch, self.src)
        if sha != self.sha:
            found = await asyncio.to_thread(self._load_all, sha)
            self.sha = sha
            await self._take(sha, found)
        touched, self.touched = self.touched, set()
        for ps in list(self.projects.values()):
            await self._project_cycle(ps, touched)

    async def _project_cycle(self, ps: ProjectSync, touched: set[str]) -> None:
        before = self.api.counters.reads + self.api.counters.writes
        try:
            ok = await ps.cycle(touched)
        except (ApiError, OSError, LockedError, SpecError) as exc:  # this project only
            log(f"{ps.name}: cycle failed: {exc}")
            self.metrics.syncs.labels(*ps.labels, FAILED).inc()
            ok = False
        finally:
            self.metrics.cycles.labels(*ps.labels).inc()
            self.metrics.requests.labels(*ps.labels).inc(self.api.counters.reads + self.api.counters.writes - before)
        ps.failures = 0 if ok else ps.failures + 1

    async def _take(self, sha: str, found: list[Found]) -> None:
        """Hand each project of the new commit to its ProjectSync (made on first sight)."""
        seen: set[str] = set()
        for f in found:
            name = f.name or self.folders.get(f.folder)
            if name is None or name in seen:
                why = "never loaded" if name is None else f"a second project named {name!r}"
                log(f"commit {sha[:12]}: the project in {f.folder or '.'} is not synced ({why}):")
                for line in f.loaded.problems[:20]:
                    log(f"  {line}")
                continue
            seen.add(name)
            if f.name:
                self.folders[f.folder] = name
            if name not in self.projects:
                self.projects[name] = ProjectSync(name, self.opts.settings, self.api, self.metrics)
            self.projects[name].offer(f.loaded)
        for name in [n for n in self.projects if n not in seen]:
            log(f"project {name!r} is no longer in the repository: not synced any more (its objects stay)")
            await self.projects.pop(name).retire()
        keep = {sha} | {ps.good.sha for ps in self.projects.values() if ps.good}
        await asyncio.to_thread(git.forget_old, self.src, keep)

    def _load_all(self, sha: str) -> list[Found]:
        """Every project of the commit, each loaded on its own (`split_projects`)."""
        folder = git.checkout(self.src, sha)
        tree = self.src.checkouts / sha
        info = git_info(str(folder))
        if info is None or info.dirty:
            problem = f"the checkout of {sha[:12]} is not a clean git working tree; not applied"
            return [Found(f, None, Loaded(sha, None, (problem,))) for f in self.folders] or [
                Found(self.src.path, None, Loaded(sha, None, (problem,)))
            ]
        out = []
        for group in split_projects([folder]):
            where = _folder_of(group, tree)
            project, diagnostics = load_project(group, self.opts.env)
            root = str(tree) + "/"
            problems = tuple(str(d).replace(root, "") for d in diagnostics if d.severity == "error")
            if project is None:
                out.append(Found(where, None, Loaded(sha, None, problems or ("the specs did not load",))))
            else:
                out.append(Found(where, project.name, Loaded(sha, project, ())))
        return out

    def _load(self, sha: str) -> Loaded:
        """The only (or first) project of the commit (tests, one-project callers)."""
        return self._load_all(sha)[0].loaded


def _folder_of(group: list[Path], tree: Path) -> str:
    """The project's folder relative to the repository (its key across commits)."""
    parents = [p if p.is_dir() else p.parent for p in group]
    common = Path(os.path.commonpath([str(p.resolve()) for p in parents]))
    try:
        return str(common.relative_to(tree.resolve()))
    except ValueError:
        return str(common)
