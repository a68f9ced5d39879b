"""Which controller of a project syncs: a leader lease on the server.

The reconciler's lock (`lock.acquire`) under the name `<project>.controller` (so the lock
`pipeform-lock-<project>-controller`, apart from the apply lock that `pipeform apply` and
the controller's applies take). Renewed here, not by the lock's own 15 s loop: a leader
holds it for hours, so it renews every 30 s for 90 s (two renewals may fail before it
lapses) and writes its holder note (the heartbeat another host reads) every third time:
160 requests an hour instead of 480. A renewal the server refuses (the lease lapsed, the
server restarted) makes the controller step down at once: it stops syncing and competes
for the lease again, so two controllers never both believe they lead.
"""

from __future__ import annotations

import asyncio
import contextlib

from pipeform.reconciler.api import ApiError, ServerAPI
from pipeform.reconciler.lock import Lease, LockedError, acquire

LEASE_SECONDS = 90
RENEW_SECONDS = 30
NOTE_EVERY = 3  # renewals per holder-note write (90 s, well inside the lock's 180 s staleness)


class Leadership:
    def __init__(self, api: ServerAPI, project: str):
        self.api, self.project = api, project
        self.lease: Lease | None = None
        self._task: asyncio.Task | None = None

    @property
    def leading(self) -> bool:
        return self.lease is not None

    async def try_lead(self) -> bool:
        """Lead if nobody does (or the leader is provably gone); never waits."""
        if self.lease is not None:
            return True
        try:
            lease = await acquire(self.api, f"{self.project}.controller", 0.0)
        except LockedError:
            return False
        if lease._renewer:
            lease._renewer.cancel()  # ours below: slower, and it notices a lost lease
        self.lease = lease
        self._task = asyncio.create_task(self._renew(lease))
        return True

    async def _renew(self, lease: Lease) -> None:
        beats = 0
        while True:
            await asyncio.sleep(RENEW_SECONDS)
            try:
                await self.api.request(
                    "POST", f"/v2/concurrency_limits/leases/{lease.lease_id}/renew", {"lease_duration": LEASE_SECONDS}
                )
            except ApiError as exc:
                if exc.status in (404, 410):  # the lease lapsed or the server lost it
                    self.lease = None  # step down: the next cycle competes again
                    return
                continue  # the server is unreachable for now: the lease outlives one miss
            beats += 1
            if beats % NOTE_EVERY == 0:
                with contextlib.suppress(ApiError):
                    await lease._write_holder()

    async def release(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self.lease:
            lease, self.lease = self.lease, None
            await lease.release()
