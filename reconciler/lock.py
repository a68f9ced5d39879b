"""A lease on the server so two applies against the same server and project never
interleave.

The lock is a Prefect global concurrency limit `pipeform-lock-<project>` of one slot,
taken with a lease (/v2/concurrency_limits/increment-with-lease) and renewed while the
apply runs: if the holder dies the server frees the slot by itself once the lease lapses
(60 s at least, the server's minimum). A variable of the same name says who holds it
(user@host pid, since, lease id, last heartbeat) for the "locked by" message, and lets a
waiter take over at once when the holder is provably gone:
- same host (`host_id`) and its pid no longer exists: release exactly that lease (decrement-with-lease
  is idempotent per lease id, so two waiters doing it at once free only that one lease);
- no heartbeat for a long time although the slot is still taken (the server lost its
  in-memory leases in a restart): reset the slot count.
"""

from __future__ import annotations

import asyncio
import getpass
import os
import socket
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .api import ApiError, ServerAPI, seg

LOCK_PREFIX = "pipeform-lock-"
LEASE_SECONDS = 60  # the server's minimum
RENEW_SECONDS = 15
STALE_SECONDS = 3 * LEASE_SECONDS  # no heartbeat for this long: the lease is surely gone


class LockedError(RuntimeError):
    pass


def lock_name(project: str) -> str:
    return f"{LOCK_PREFIX}{project}".replace(".", "-")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


HOST_ID_ENV = "PIPEFORM_HOST_ID"


def host_id() -> str:
    """This machine in lock holder notes: $PIPEFORM_HOST_ID, else the host name. Set it
    where host names are not unique (containers sharing a network namespace) and in
    tests that play two hosts: a holder on another host is never presumed dead."""
    return os.environ.get(HOST_ID_ENV) or socket.gethostname()


def _me() -> dict[str, Any]:
    return {"user": getpass.getuser(), "host": host_id(), "pid": os.getpid()}


@dataclass
class Lease:
    api: ServerAPI
    name: str
    lease_id: str
    holder: dict[str, Any]
    _renewer: asyncio.Task[None] | None = field(default=None, repr=False)

    async def _write_holder(self) -> None:
        body = {"value": {**self.holder, "heartbeat": _now()}, "tags": ["pipeform-lock"]}
        try:
            await self.api.request("PATCH", f"/variables/name/{seg(self.name)}", body)
        except ApiError as exc:
            if exc.status != 404:
                raise
            await self.api.request("POST", "/variables/", {"name": self.name, **body}, ok=(409,))

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(RENEW_SECONDS)
            try:
                await self.api.request(
                    "POST",
                    f"/v2/concurrency_limits/leases/{self.lease_id}/renew",
                    {"lease_duration": LEASE_SECONDS},
                    ok=(404, 410),
                )
                await self._write_holder()
            except ApiError:
                pass  # try again at the next beat; the lease outlives two missed renewals

    async def release(self) -> None:
        if self._renewer:
            self._renewer.cancel()
        # the holder note goes first: a note without a live lease must never outlive it
        try:
            await self.api.request("DELETE", f"/variables/name/{seg(self.name)}", ok=(404,))
        finally:
            await self.api.request(
                "POST", "/v2/concurrency_limits/decrement-with-lease", {"lease_id": self.lease_id}, ok=(404, 410)
            )


def _holder_is_dead(holder: dict[str, Any]) -> bool:
    if holder.get("host") != host_id() or not isinstance(holder.get("pid"), int):
        return False
    try:
        os.kill(holder["pid"], 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _age(stamp: str | None) -> float:
    try:
        return (datetime.now(UTC) - datetime.fromisoformat(stamp or "")).total_seconds()
    except ValueError:
        return 0.0


async def _take_over_if_dead(api: ServerAPI, name: str, holder: dict[str, Any]) -> bool:
    """Free the slot of a holder that is provably gone. Returns whether something was freed."""
    if holder.get("lease_id") and _holder_is_dead(holder):
        await api.request(
            "POST", "/v2/concurrency_limits/decrement-with-lease", {"lease_id": holder["lease_id"]}, ok=(404, 410)
        )
        return True
    if holder and _age(holder.get("heartbeat")) > STALE_SECONDS:
        await api.request("PATCH", f"/v2/concurrency_limits/{seg(name)}", {"active_slots": 0})
        return True
    return False


def describe(holder: dict[str, Any]) -> str:
    if not holder:
        return "another apply"
    return f"{holder.get('user')}@{holder.get('host')} pid {holder.get('pid')} since {holder.get('since')}"


async def acquire(api: ServerAPI, project: str, timeout: float = 0.0) -> Lease:
    """Take the project's lock, waiting up to `timeout` seconds; LockedError says who holds it."""
    name = lock_name(project)
    await api.request("POST", "/v2/concurrency_limits/", {"name": name, "limit": 1, "active": True}, ok=(409,))
    deadline = time.monotonic() + timeout
    took_over = False
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
            found = await api.request("GET", f"/variables/name/{seg(name)}", ok=(404,))
            holder = (found or {}).get("value") or {}
            if not took_over and isinstance(holder, dict) and await _take_over_if_dead(api, name, holder):
                took_over = True  # once: if it is still locked after that, someone alive holds it
                continue
            if time.monotonic() >= deadline:
                raise LockedError(
                    f"project {project!r} is locked by {describe(holder)}; retry later or pass "
                    f"--lock-timeout SECONDS (a dead holder's lease lapses within about {LEASE_SECONDS + 30} s)"
                ) from None
            await asyncio.sleep(1.0)
            continue
        lease = Lease(api, name, got["lease_id"], {**_me(), "since": _now(), "lease_id": got["lease_id"]})
        try:
            await lease._write_holder()
        except BaseException:
            await lease.release()
            raise
        lease._renewer = asyncio.create_task(lease._renew())
        return lease
