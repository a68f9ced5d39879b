"""The controller loop: `pipeform sync`.

Each cycle (at most every --interval seconds, jittered; at once on a webhook or a
deployment event from the server):

1. fetch the branch into the mirror (no server request);
2. a new commit is checked out and loaded (validated) locally: a broken commit is reported
   with its located diagnostics and changes nothing, the last good commit stays live;
3. read the suspend switch (1 request) and, unless the commit changed or a full resync is
   due, the cheap server signal (3 requests): when neither moved the cycle ends there;
4. otherwise plan: a new commit is applied (apply_project: under the apply lock, checked
   again under it); with the same commit, drift is reported, and put back with --self-heal;
5. the status artifact and event are written when something happened.

Only the controller holding the leader lease (leader.py) runs steps 3 to 5; the others
wait and take over when it is gone. Deployments named by the server's events are checked
alone (targeted.py) instead of step 3's signal. Decisions are in `decide` (pure); the rest
is side effects.
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import time
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path
from typing import Any

from pipeform.reconciler import engine
from pipeform.reconciler.api import ApiError, ServerAPI
from pipeform.reconciler.inputs import git_info
from pipeform.reconciler.lock import LockedError
from pipeform.reconciler.plan import Action
from pipeform.spec import load_project
from pipeform.spec.diagnostics import SpecError
from pipeform.spec.project import Project

from . import source as git
from . import targeted
from .leader import Leadership
from .metrics import Metrics
from .signals import EventWatch, server_signal
from .status import DRIFTED, FAILED, SUCCEEDED, SUSPENDED, Status, now, publish, read_status, read_suspended


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


class Step(Enum):
    IDLE = "idle"  # nothing moved
    APPLY = "apply"  # a new good commit
    CHECK = "check"  # same commit, the server may have drifted


def decide(commit_changed: bool, signal_changed: bool, full_due: bool) -> Step:
    if commit_changed:
        return Step.APPLY
    if signal_changed or full_due:
        return Step.CHECK
    return Step.IDLE


def backoff(failures: int, interval: float) -> float:
    """Seconds before the next cycle: the interval with +-10 % jitter, or after failures
    1, 2, 4, ... seconds, capped at the interval."""
    if failures:
        return min(interval, 2.0 ** (failures - 1)) * random.uniform(0.9, 1.0)
    return interval * random.uniform(0.9, 1.1)


@dataclass(frozen=True)
class Loaded:
    sha: str
    project: Project | None
    problems: tuple[str, ...]  # located diagnostics when the commit is broken


def log(message: str) -> None:
    print(f"{now()} {message}", file=sys.stderr, flush=True)


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
        self.leadership: Leadership | None = None
        self.loaded: Loaded | None = None  # the commit looked at last
        self.good: Loaded | None = None  # the last commit that loaded
        self.live: str | None = None  # the last commit applied
        self.live_since: str | None = None
        self.signal: tuple[Any, ...] | None = None
        self.last_full = 0.0
        self.drift: tuple[str, ...] = ()
        self.failures = 0
        self.last: Status | None = None
        self.events: EventWatch | None = None
        self.touched: set[str] = set()  # FLOW/NAME of deployments the event stream named

    # -- the loop -----------------------------------------------------------------------
    async def run(self) -> None:
        self.events = EventWatch(self.api.url, os.environ.get("PREFECT_API_KEY"), self._on_event)
        self.events.start()
        try:
            while not self.stopping:
                self.heartbeat = time.monotonic()
                ok = await self._guarded_cycle()
                self.failures = 0 if ok else self.failures + 1
                self.ready = True
                await self._sleep(backoff(self.failures, self.opts.interval))
        finally:
            await self.events.stop()
            if self.leadership:
                await self.leadership.release()

    async def _sleep(self, seconds: float) -> None:
        self.wake.clear()
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

    async def _guarded_cycle(self) -> bool:
        try:
            return await self.cycle()
        except (ApiError, OSError, git.SourceError, LockedError, SpecError) as exc:
            log(f"cycle failed: {exc}")
            self.metrics.syncs.labels(*self._labels(), FAILED).inc()
            return False

    def _labels(self) -> tuple[str, str]:
        name = self.good.project.name if self.good and self.good.project else "?"
        return name, self.opts.env or ""

    # -- one cycle ----------------------------------------------------------------------
    async def cycle(self) -> bool:
        """Returns False when the cycle should be retried soon (backoff)."""
        before = self.api.counters.reads + self.api.counters.writes
        try:
            return await self._cycle()
        finally:
            self.metrics.cycles.labels(*self._labels()).inc()
            self.metrics.requests.labels(*self._labels()).inc(
                self.api.counters.reads + self.api.counters.writes - before
            )

    async def _cycle(self) -> bool:
        sha = await asyncio.to_thread(git.fetch, self.src)
        commit_new = self.loaded is None or sha != self.loaded.sha
        if commit_new:
            self.loaded = await asyncio.to_thread(self._load, sha)
            if self.loaded.project is not None:
                self.good = self.loaded
        if self.good is None or self.good.project is None:
            if commit_new:
                log(f"commit {sha[:12]} is broken and nothing was synced yet")
            return True  # nothing to compare with until a commit loads
        project = self.good.project
        if not await self._lead(project):
            return True
        if await self._suspended(project):
            return True
        if commit_new and self.loaded.project is None:
            await self._report(self._status(FAILED, failures=self.loaded.problems))
        full_due = time.monotonic() - self.last_full >= self.opts.resync
        commit_changed = self.good.sha != self.live
        if self.touched and not commit_changed and not full_due:
            names, self.touched = self.touched, set()
            ok = await self._targeted(project, names)
            self.signal = await server_signal(self.api, project.name)  # the event's change is looked at
            return ok
        self.touched = set()  # a full plan follows, or nothing to look at
        signal = None
        if not commit_changed and not full_due:
            signal = await server_signal(self.api, project.name)
        step = decide(commit_changed, signal is not None and signal != self.signal, full_due)
        if step is Step.IDLE:
            return True
        self.last_full = started = time.monotonic()
        writes = self.api.counters.writes
        ok = await (self._apply(project) if step is Step.APPLY else self._check(project))
        if self.api.counters.writes != writes or signal is None:
            signal = await server_signal(self.api, project.name)  # after our own writes
        self.signal = signal
        log(f"{step.value} took {time.monotonic() - started:.2f}s, {self.api.counters.writes - writes} writes")
        return ok

    def _load(self, sha: str) -> Loaded:
        folder = git.checkout(self.src, sha)
        root = str(self.src.checkouts / sha) + "/"
        info = git_info(str(folder))
        if info is None or info.dirty:
            return Loaded(sha, None, (f"the checkout of {sha[:12]} is not a clean git working tree; not applied",))
        project, diagnostics = load_project([folder], self.opts.env)
        problems = tuple(str(d).replace(root, "") for d in diagnostics if d.severity == "error")
        if project is None:
            return Loaded(sha, None, problems or ("the specs did not load",))
        git.forget_old(self.src, {sha, self.live or ""})
        return Loaded(sha, project, ())

    async def _lead(self, project: Project) -> bool:
        """Hold the leader lease (leader.py); False while another controller holds it."""
        if self.leadership is None or self.leadership.project != project.name:
            if self.leadership:
                await self.leadership.release()
            self.leadership = Leadership(self.api, project.name)
        if self.leadership.leading:
            return True
        if not await self.leadership.try_lead():
            return False
        log(f"leading project {project.name!r}")
        await self.restore(project.name)
        self.signal, self.last_full = None, 0.0  # a new leader looks at everything once
        return True

    async def _suspended(self, project: Project) -> bool:
        note = await read_suspended(self.api, project.name, self.opts.env)
        if note is None:
            if self.last is not None and self.last.outcome == SUSPENDED:
                self.signal = None  # resumed: look at everything again
                self.last_full = 0.0
            return False
        if self.last is None or self.last.outcome != SUSPENDED:
            await self._report(
                self._status(SUSPENDED, failures=(f"suspended by {note.get('by')} since {note.get('since')}",))
            )
        return True

    # -- apply and drift ----------------------------------------------------------------
    async def _apply(self, project: Project, healing: bool = False) -> bool:
        """Apply the live commit. `healing`: the commit is live already and what the plan
        changes is drift put back; with nothing to change nothing is reported."""
        start = time.monotonic()
        try:
            plan, outcomes = await engine.apply_project(
                self.api, project, confirm=lambda p: True, prune=self.opts.prune, lock_timeout=self.opts.lock_timeout
            )
        except SpecError as exc:  # an unset `from_env` secret: nothing is written
            await self._report(self._status(FAILED, failures=tuple(str(d) for d in exc.diagnostics)))
            return False
        self.metrics.sync_seconds.labels(*self._labels()).observe(time.monotonic() - start)
        failures = (*plan.errors, *(f"{o.address}: {o.error}" for o in outcomes or () if not o.ok))
        changes = tuple(f"{c.action.value} {c.address}" for c in plan.pending)
        self.metrics.failed.labels(*self._labels()).set(len(failures))
        if failures:
            await self._report(self._status(FAILED, changes=changes, failures=failures))
            return False
        was_drifted = bool(self.drift)
        self.drift = ()
        self.metrics.drifted.labels(*self._labels()).set(0)
        self.metrics.last_success.labels(*self._labels()).set(time.time())
        if healing:
            if changes or was_drifted:
                log(f"drift in {len(changes)} objects: put back")
                await self._report(replace(self._status(SUCCEEDED, changes=changes), drift=changes))
            return True
        self.live, self.live_since = self.good.sha, now()
        self.metrics.live.labels(*self._labels()).info({"commit": self.live})
        await self._report(self._status(SUCCEEDED, changes=changes))
        return True

    async def _check(self, project: Project) -> bool:
        if self.opts.self_heal:  # one plan: apply_project's own says what drifted
            return await self._apply(project, healing=True)
        start = time.monotonic()
        changes = await engine.drift(self.api, project)
        self.metrics.plan_seconds.labels(*self._labels()).observe(time.monotonic() - start)
        drift = tuple(
            f"{c.action.value} {c.address}" for c in changes if self.opts.prune or c.action is not Action.DELETE
        )
        self.metrics.drifted.labels(*self._labels()).set(len(drift))
        if drift != self.drift:
            self.drift = drift
            if drift:
                log(f"drift in {len(drift)} objects (not healed without --self-heal)")
            await self._report(self._status(DRIFTED if drift else SUCCEEDED, changes=()))
        return True

    async def _targeted(self, project: Project, names: set[str]) -> bool:
        """The deployments the server's events named, alone (targeted.py)."""
        started, writes = time.monotonic(), self.api.counters.writes
        plan, outcomes = await targeted.check(
            self.api, project, names, heal=self.opts.self_heal, lock_timeout=self.opts.lock_timeout
        )
        changes = tuple(f"{c.action.value} {c.address}" for c in plan.pending)
        failures = (*plan.errors, *(f"{o.address}: {o.error}" for o in outcomes or () if not o.ok))
        looked = set(plan.addresses)
        drift = tuple(sorted({d for d in self.drift if d.split(" ", 1)[-1] not in looked} | set(changes)))
        log(
            f"event check of {len(names)} deployments took {time.monotonic() - started:.2f}s, "
            f"{self.api.counters.writes - writes} writes"
        )
        if failures:
            await self._report(self._status(FAILED, changes=changes, failures=failures))
            return False
        if self.opts.self_heal:
            if changes:
                self.drift = ()
                await self._report(replace(self._status(SUCCEEDED, changes=changes), drift=changes))
            return True
        self.metrics.drifted.labels(*self._labels()).set(len(drift))
        if drift != self.drift:
            self.drift = drift
            await self._report(self._status(DRIFTED if drift else SUCCEEDED))
        return True

    # -- reporting ----------------------------------------------------------------------
    def _status(self, outcome: str, changes: tuple[str, ...] = (), failures: tuple[str, ...] = ()) -> Status:
        project = self.good.project if self.good and self.good.project else None
        return Status(
            project=project.name if project else "?",
            env=self.opts.env,
            outcome=outcome,
            time=now(),
            live_commit=self.live,
            live_since=self.live_since,
            commit=self.loaded.sha if self.loaded else None,
            changes=changes,
            drift=self.drift,
            failures=failures,
        )

    async def _report(self, status: Status) -> None:
        self.last = status
        if status.outcome != SUSPENDED:
            self.metrics.syncs.labels(*self._labels(), status.outcome).inc()
        log(
            f"{status.outcome}: commit {(status.commit or '-')[:12]}, {len(status.changes)} changes, "
            f"{len(status.drift)} drifted, {len(status.failures)} failures"
        )
        for line in status.failures[:20]:
            log(f"  {line}")
        await publish(self.api, status)

    async def restore(self, project: str) -> None:
        """Pick up the live commit from the server's status (a restarted or standby controller)."""
        found = await read_status(self.api, project, self.opts.env)
        if found:
            self.live, self.live_since = found.live_commit, found.live_since
