"""Which controller of a project syncs: a leader lease on the server.

The reconciler's lock (`lock.acquire`) under the name `<project>.controller` (so the lock
`pipeform-lock-<project>-controller`, apart from the apply lock that `pipeform apply` and
the controller's applies take). Renewed here, not by the lock's own 15 s loop: a leader
holds it for hours, so it renews every lease/3 (30 s for the default 90 s lease) and
rewrites its holder note (the heartbeat the others watch) each time: 240 requests an hour.
A renewal the server refuses (the lease lapsed, was taken over, the server restarted) makes
the controller step down at once: it stops syncing and competes for the lease again.

Takeover. A holder on this host whose pid is gone is replaced at once (the lock's rule).
A holder on another host (`lock.host_id`, `$PIPEFORM_HOST_ID`) is never presumed dead: a
standby takes over only when the holder's note has not changed for a whole lease (the
holder's declared `lease_seconds`), timed on the standby's own monotonic clock from when it
first saw that note (Kubernetes leader election's rule: no trust in other hosts' clocks).
It then frees exactly that lease (decrement-with-lease is idempotent per lease id) and
competes for the slot. Leases shorter than the server's 60 s minimum work the same way:
the server-side lease is 60 s and the note decides.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from pipeform.reconciler.api import ApiError, ServerAPI, seg
from pipeform.reconciler.lock import Lease, LockedError, acquire, lock_name

from .status import log

LEASE_SECONDS = 90.0
SERVER_MIN_LEASE = 60  # Prefect refuses shorter leases


def expired(seen_at: float, now: float, lease: float) -> bool:
    """The holder's note has not changed since `seen_at` for a whole lease."""
    return now - seen_at >= lease


class Leadership:
    def __init__(self, api: ServerAPI, project: str, lease_seconds: float = LEASE_SECONDS):
        self.api, self.project, self.lease_seconds = api, project, lease_seconds
        self.lease: Lease | None = None
        self._task: asyncio.Task[None] | None = None
        self._seen: tuple[Any, ...] | None = None  # the other holder's note as last read
        self._seen_at = 0.0

    @property
    def leading(self) -> bool:
        return self.lease is not None

    @property
    def renew_every(self) -> float:
        return self.lease_seconds / 3

    async def try_lead(self) -> bool:
        """Lead if nobody does, or the holder is provably gone or its lease expired; never waits."""
        if self.lease is not None:
            return True
        name = f"{self.project}.controller"
        try:
            lease = await acquire(self.api, name, 0.0)
        except LockedError:
            if not await self._take_over_expired(lock_name(name)):
                return False
            try:
                lease = await acquire(self.api, name, 0.0)
            except LockedError:
                return False  # another standby was quicker
        if lease._renewer:
            lease._renewer.cancel()  # ours below: its own period, and it notices a lost lease
        lease.holder["lease_seconds"] = self.lease_seconds
        self.lease, self._seen = lease, None
        self._task = asyncio.create_task(self._renew(lease))
        await self._beat(lease)  # the server-side lease at our duration, the note with it
        return True

    async def _take_over_expired(self, name: str) -> bool:
        """Free the holder's lease when its note has not moved for a whole lease."""
        found = await self.api.request("GET", f"/variables/name/{seg(name)}", ok=(404,))
        holder = (found or {}).get("value")
        if not isinstance(holder, dict) or not holder.get("lease_id"):
            return False  # no note to watch: the server-side lease decides
        seen = (holder.get("lease_id"), found.get("updated"), holder.get("heartbeat"))
        now = time.monotonic()
        if seen != self._seen:
            self._seen, self._seen_at = seen, now
            return False
        lease = float(holder.get("lease_seconds") or self.lease_seconds)
        if not expired(self._seen_at, now, lease):
            return False
        who = f"{holder.get('user')}@{holder.get('host')} pid {holder.get('pid')}"
        log(f"the leader lease of {who} expired ({now - self._seen_at:.1f} s without renewal): taking over")
        await self.api.request(
            "POST", "/v2/concurrency_limits/decrement-with-lease", {"lease_id": holder["lease_id"]}, ok=(404, 410)
        )
        self._seen = None
        return True

    async def _beat(self, lease: Lease) -> bool:
        """Renew the server-side lease and rewrite the note; False when the lease is gone."""
        duration = max(SERVER_MIN_LEASE, self.lease_seconds)
        try:
            await self.api.request(
                "POST", f"/v2/concurrency_limits/leases/{lease.lease_id}/renew", {"lease_duration": duration}
            )
        except ApiError as exc:
            return exc.status not in (404, 410)  # else unreachable for now: the lease outlives a miss
        with contextlib.suppress(ApiError):
            await lease._write_holder()
        return True

    async def _renew(self, lease: Lease) -> None:
        while True:
            await asyncio.sleep(self.renew_every)
            if not await self._beat(lease):
                self.lease = None  # step down: the next cycle competes again
                return

    async def release(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.lease:
            lease, self.lease = self.lease, None
            await lease.release()
