"""A lease on the server so two applies against the same server and project never
interleave. It is a Prefect global concurrency limit of one slot taken with a lease: the
server frees the slot by itself when the holder stops renewing (it died)."""

from __future__ import annotations

import asyncio
import getpass
import os
import socket
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from .api import ApiError, ServerAPI

LEASE_SECONDS = 60  # the server's minimum; renewed every RENEW_SECONDS while applying
RENEW_SECONDS = 20


class LockedError(RuntimeError):
    pass


def lock_name(project: str) -> str:
    return f"pipeform-lock-{project}".replace(".", "-")


@dataclass
class Lease:
    api: ServerAPI
    name: str
    lease_id: str
    _renewer: asyncio.Task | None = None

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(RENEW_SECONDS)
            await self.api.request(
                "POST",
                f"/v2/concurrency_limits/leases/{self.lease_id}/renew",
                {"lease_duration": LEASE_SECONDS},
                ok=(404,),
            )

    async def release(self) -> None:
        if self._renewer:
            self._renewer.cancel()
        await self.api.request(
            "POST", "/v2/concurrency_limits/decrement-with-lease", {"lease_id": self.lease_id}, ok=(404, 410)
        )


async def acquire(api: ServerAPI, project: str, timeout: float = 0.0) -> Lease:
    name = lock_name(project)
    await api.request("POST", "/v2/concurrency_limits/", {"name": name, "limit": 1, "active": True}, ok=(409,))
    holder_var = f"{name}-holder"
    me = f"{getpass.getuser()}@{socket.gethostname()} pid {os.getpid()}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            got = await api.request(
                "POST",
                "/v2/concurrency_limits/increment-with-lease",
                {"names": [name], "slots": 1, "mode": "concurrency", "lease_duration": LEASE_SECONDS},
            )
        except ApiError as exc:
            if exc.status != 423:
                raise
            if time.monotonic() >= deadline:
                holder = await api.request("GET", f"/variables/name/{holder_var}", ok=(404,))
                who = (holder or {}).get("value") or {}
                raise LockedError(
                    f"project {project!r} is locked by {who.get('holder', 'another apply')} since {who.get('since', 'an unknown time')}; "
                    f"retry later or pass --lock-timeout SECONDS (a dead holder's lease expires within {LEASE_SECONDS + 30} s)"
                ) from None
            await asyncio.sleep(1.0)
            continue
        lease = Lease(api, name, got["lease_id"])
        try:  # who holds it, for the "locked by" message of others
            since = datetime.now(UTC).isoformat(timespec="seconds")
            body = {"value": {"holder": me, "since": since}, "tags": ["pipeform-lock"]}
            existing = await api.request("GET", f"/variables/name/{holder_var}", ok=(404,))
            if existing:
                await api.request("PATCH", f"/variables/name/{holder_var}", body)
            else:
                await api.request("POST", "/variables/", {"name": holder_var, **body}, ok=(409,))
        except BaseException:
            await lease.release()
            raise
        lease._renewer = asyncio.create_task(lease._renew())
        return lease
