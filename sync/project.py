"""One project's sync: its leader lease, suspend switch, signal, plan/apply, drift and
status. The controller (controller.py) runs one of these per project found under --path,
each on its own: a project that fails (a broken commit, a refused change, a lock held
elsewhere) reports it under its own name and never stops the others.

Each cycle, for the project (only while it holds its leader lease, leader.py):
1. read the suspend switch (1 request);
2. unless its good commit changed or a full resync is due, the cheap server signal (3
   requests): when nothing moved the cycle ends there; deployments named by the server's
   events are checked alone (targeted.py) instead;
3. otherwise plan: a new commit is applied (apply_project: under the apply lock, checked
   again under it); with the same commit, drift is reported, and put back with --self-heal;
4. the status artifact and event are written when something happened, with the UI page of
   each deployment written.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

from pipeform.reconciler import engine
from pipeform.reconciler.api import ServerAPI
from pipeform.reconciler.plan import Action
from pipeform.spec.diagnostics import SpecError
from pipeform.spec.project import Project
from pipeform.ui import deployment_pages, written_deployments

from . import targeted
from .leader import LEASE_SECONDS, Leadership
from .metrics import Metrics
from .signals import server_signal
from .status import DRIFTED, FAILED, SUCCEEDED, SUSPENDED, Status, log, now, publish, read_status, read_suspended

MAX_PAGES = 20  # UI pages looked up and printed per sync (one small read each)


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


@dataclass(frozen=True)
class Loaded:
    sha: str
    project: Project | None
    problems: tuple[str, ...]  # located diagnostics when the commit is broken


@dataclass(frozen=True)
class Settings:
    """What a project's sync needs of the controller's options."""

    env: str | None
    resync: float
    prune: bool
    self_heal: bool
    lock_timeout: float
    lease: float = LEASE_SECONDS


class ProjectSync:
    def __init__(self, name: str, settings: Settings, api: ServerAPI, metrics: Metrics):
        self.name, self.opts, self.api, self.metrics = name, settings, api, metrics
        self.leadership = Leadership(api, name, settings.lease)
        self.loaded: Loaded | None = None  # this project in the commit looked at last
        self.good: Loaded | None = None  # its last commit that loaded
        self.reported: str | None = None  # the broken commit already reported
        self.live: str | None = None  # the last commit applied
        self.live_since: str | None = None
        self.signal: tuple[Any, ...] | None = None
        self.last_full = 0.0
        self.drift: tuple[str, ...] = ()
        self.failures = 0
        self.last: Status | None = None
        self._desired: tuple[str, list[Any]] | None = None  # (commit, desired state) for event checks

    @property
    def labels(self) -> tuple[str, str]:
        return self.name, self.opts.env or ""

    def offer(self, loaded: Loaded) -> None:
        """This project as found in a new commit (loaded, or broken with its problems)."""
        self.loaded = loaded
        if loaded.project is not None:
            self.good = loaded

    def deployments_named(self, names: set[str]) -> set[str]:
        """The FLOW/NAME among `names` that may be this project's (targeted.py checks exactly)."""
        mine = self.good.project.deployments if self.good and self.good.project else {}
        return {n for n in names if n.split("/", 1)[-1] in mine}

    # -- one cycle ----------------------------------------------------------------------
    async def cycle(self, touched: set[str]) -> bool:
        """Returns False when the cycle should be retried soon (backoff)."""
        if self.good is None or self.good.project is None:
            return True
        project = self.good.project
        if not await self._lead():
            return True
        if await self._suspended():
            return True
        if self.loaded and self.loaded.project is None and self.reported != self.loaded.sha:
            self.reported = self.loaded.sha
            await self._report(self._status(FAILED, failures=self.loaded.problems))
        full_due = time.monotonic() - self.last_full >= self.opts.resync
        commit_changed = self.good.sha != self.live
        names = self.deployments_named(touched)
        if names and not commit_changed and not full_due:
            ok = await self._targeted(project, names)
            self.signal = await server_signal(self.api, project.name)  # the event's change is looked at
            return ok
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
        took = time.monotonic() - started
        log(f"{project.name}: {step.value} took {took:.2f}s, {self.api.counters.writes - writes} writes")
        return ok

    async def _lead(self) -> bool:
        """Hold the leader lease (leader.py); False while another controller holds it."""
        if self.leadership.leading:
            return True
        if not await self.leadership.try_lead():
            return False
        log(f"leading project {self.name!r}")
        await self.restore()
        self.signal, self.last_full = None, 0.0  # a new leader looks at everything once
        return True

    async def _suspended(self) -> bool:
        note = await read_suspended(self.api, self.name, self.opts.env)
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
        self.metrics.sync_seconds.labels(*self.labels).observe(time.monotonic() - start)
        failures = (*plan.errors, *(f"{o.address}: {o.error}" for o in outcomes or () if not o.ok))
        changes = tuple(f"{c.action.value} {c.address}" for c in plan.pending)
        pages = await self._pages(outcomes or ())
        self.metrics.failed.labels(*self.labels).set(len(failures))
        if failures:
            await self._report(self._status(FAILED, changes=changes, failures=failures, pages=pages))
            return False
        was_drifted = bool(self.drift)
        self.drift = ()
        self.metrics.drifted.labels(*self.labels).set(0)
        self.metrics.last_success.labels(*self.labels).set(time.time())
        if healing:
            if changes or was_drifted:
                log(f"{project.name}: drift in {len(changes)} objects: put back")
                await self._report(replace(self._status(SUCCEEDED, changes=changes, pages=pages), drift=changes))
            return True
        self.live, self.live_since = self.good.sha if self.good else None, now()
        self.metrics.live.labels(*self.labels).info({"commit": self.live or ""})
        await self._report(self._status(SUCCEEDED, changes=changes, pages=pages))
        self._desired_of(project)  # ready for the next event check: a UI change is put back in seconds
        return True

    async def _check(self, project: Project) -> bool:
        if self.opts.self_heal:  # one plan: apply_project's own says what drifted
            return await self._apply(project, healing=True)
        start = time.monotonic()
        changes = await engine.drift(self.api, project)
        self.metrics.plan_seconds.labels(*self.labels).observe(time.monotonic() - start)
        drift = tuple(
            f"{c.action.value} {c.address}" for c in changes if self.opts.prune or c.action is not Action.DELETE
        )
        self.metrics.drifted.labels(*self.labels).set(len(drift))
        if drift != self.drift:
            self.drift = drift
            if drift:
                log(f"{project.name}: drift in {len(drift)} objects (not healed without --self-heal)")
            await self._report(self._status(DRIFTED if drift else SUCCEEDED, changes=()))
        return True

    async def _targeted(self, project: Project, names: set[str]) -> bool:
        """The deployments the server's events named, alone (targeted.py)."""
        started, writes = time.monotonic(), self.api.counters.writes
        plan, outcomes = await targeted.check(
            self.api,
            project,
            names,
            heal=self.opts.self_heal,
            lock_timeout=self.opts.lock_timeout,
            everything=self._desired_of(project),
        )
        changes = tuple(f"{c.action.value} {c.address}" for c in plan.pending)
        failures = (*plan.errors, *(f"{o.address}: {o.error}" for o in outcomes or () if not o.ok))
        looked = set(plan.addresses)
        drift = tuple(sorted({d for d in self.drift if d.split(" ", 1)[-1] not in looked} | set(changes)))
        log(
            f"{project.name}: event check of {len(names)} deployments took {time.monotonic() - started:.2f}s, "
            f"{self.api.counters.writes - writes} writes"
        )
        pages = await self._pages(outcomes or ())
        if failures:
            await self._report(self._status(FAILED, changes=changes, failures=failures, pages=pages))
            return False
        if self.opts.self_heal:
            if changes:
                self.drift = ()
                await self._report(replace(self._status(SUCCEEDED, changes=changes, pages=pages), drift=changes))
            return True
        self.metrics.drifted.labels(*self.labels).set(len(drift))
        if drift != self.drift:
            self.drift = drift
            await self._report(self._status(DRIFTED if drift else SUCCEEDED))
        return True

    def _desired_of(self, project: Project) -> list[Any]:
        """The project's desired state, computed once per commit (it depends on the commit's
        files and this process's environment only)."""
        sha = self.good.sha if self.good else ""
        if self._desired is None or self._desired[0] != sha:
            self._desired = (sha, targeted.desired(project))
        return self._desired[1]

    async def _pages(self, outcomes: tuple[Any, ...]) -> tuple[str, ...]:
        """The UI page of each deployment written (the same links `pipeform apply` prints)."""
        written = written_deployments(outcomes)
        found = await deployment_pages(self.api, written[:MAX_PAGES])
        return tuple(f"{name} {url}" for name, url in found)

    # -- reporting ----------------------------------------------------------------------
    def _status(
        self, outcome: str, changes: tuple[str, ...] = (), failures: tuple[str, ...] = (), pages: tuple[str, ...] = ()
    ) -> Status:
        return Status(
            project=self.name,
            env=self.opts.env,
            outcome=outcome,
            time=now(),
            live_commit=self.live,
            live_since=self.live_since,
            commit=self.loaded.sha if self.loaded else None,
            changes=changes,
            drift=self.drift,
            failures=failures,
            pages=pages,
        )

    async def _report(self, status: Status) -> None:
        self.last = status
        if status.outcome != SUSPENDED:
            self.metrics.syncs.labels(*self.labels, status.outcome).inc()
        log(
            f"{self.name}: {status.outcome}: commit {(status.commit or '-')[:12]}, {len(status.changes)} changes, "
            f"{len(status.drift)} drifted, {len(status.failures)} failures"
        )
        for line in status.failures[:20]:
            log(f"  {line}")
        for line in status.pages:
            name, _, url = line.rpartition(" ")
            log(f"  deployment {name}: {url}")
        await publish(self.api, status)

    async def restore(self) -> None:
        """Pick up the live commit from the server's status (a restarted or standby controller)."""
        found = await read_status(self.api, self.name, self.opts.env)
        if found:
            self.live, self.live_since = found.live_commit, found.live_since

    async def retire(self) -> None:
        """The project left the repository: stop syncing it (its objects stay as they are)."""
        await self.leadership.release()
