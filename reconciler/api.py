"""A small async client for the Prefect server's REST API (what the reconciler reads and
writes), with retries for transient errors and a count of write requests.

Plain httpx, so the reconciler's requests are exactly the ones listed in prefect-backend.md
and tests can count them; Prefect's own client is not needed here.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from pipeform.masking import scrub

PAGE = 200  # the server refuses larger pages (422)
RETRIES = 6
GROW_AFTER = 10
TRANSIENT = {429, 500, 502, 503, 504}
# Requests sent by the current task (apply counts them per change: Outcome.attempts).
attempts: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar("pipeform_attempts", default=None)


def seg(name: str) -> str:
    """A server name as one URL path segment: every reserved character percent-encoded
    (`q?x`, `a/b`, `50%`), and `.`/`..` too, which httpx would drop as dot segments."""
    quoted = quote(str(name), safe="")
    return quoted.replace(".", "%2E") if set(str(name)) <= {"."} else quoted


class ApiError(RuntimeError):
    DETAIL_LIMIT = 300

    def __init__(self, method: str, path: str, status: int, detail: str):
        super().__init__(f"{method} {path} -> HTTP {status}: {detail[: self.DETAIL_LIMIT]}")
        self.status = status
        self.head = f"{method} {path} -> HTTP {status}: "
        self.detail = detail  # in full: masked before it is cut (see scrubbed)

    def scrubbed(self, secrets: list[str]) -> str:
        """The message with every secret masked, then cut (never cut first)."""
        return self.head + scrub(self.detail, secrets, self.DETAIL_LIMIT)


@dataclass
class Counters:
    reads: int = 0
    writes: int = 0
    retries: int = 0
    writes_by_path: list[str] = field(default_factory=list)


class _Window:
    """At most `size` requests in flight, `size` adapting between 1 and `limit`: halved
    when the server says it is overloaded (429/503: a SQLite server answers 503 when two
    writers collide, and is quickest one request at a time), grown by one after
    GROW_AFTER x `size` answers in a row without that. A PostgreSQL server never
    refuses, so it keeps the full `limit`. Retrying alone
    keeps the same pressure on a server that is refusing it."""

    def __init__(self, limit: int):
        self.limit = self.size = limit
        self.active = 0
        self.streak = 0
        self._cond = asyncio.Condition()

    async def __aenter__(self) -> None:
        async with self._cond:
            await self._cond.wait_for(lambda: self.active < self.size)
            self.active += 1

    async def __aexit__(self, *exc: object) -> None:
        async with self._cond:
            self.active -= 1
            self._cond.notify(1)  # one slot freed: wake one waiter, not hundreds

    async def answered(self, overloaded: bool) -> None:
        async with self._cond:
            if overloaded:
                self.size, self.streak = max(1, self.size // 2), 0
            elif self.size < self.limit:
                self.streak += 1
                if self.streak >= GROW_AFTER * self.size:
                    self.size, self.streak = self.size + 1, 0
                    self._cond.notify(1)


class ServerAPI:
    def __init__(self, url: str, api_key: str | None = None, concurrency: int = 4, timeout: float = 30.0):
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.url = url.rstrip("/")
        self._http = httpx.AsyncClient(base_url=self.url, headers=headers, timeout=timeout)
        self._slots = _Window(concurrency)
        self.counters = Counters()

    @classmethod
    def from_env(cls, concurrency: int = 4) -> ServerAPI:
        url = os.environ.get("PREFECT_API_URL")
        if not url:
            raise RuntimeError("PREFECT_API_URL is not set")
        return cls(url, os.environ.get("PREFECT_API_KEY"), concurrency)

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> ServerAPI:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def request(self, method: str, path: str, json: Any = None, ok: tuple[int, ...] = ()) -> Any:
        is_read = method == "GET" or path.endswith("/filter")
        delay = 0.5
        for attempt in range(1, RETRIES + 1):
            if (count := attempts.get()) is not None:
                count[0] += 1
            error: Exception | None
            async with self._slots:
                try:
                    resp = await self._http.request(method, path, json=json)
                except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                    resp, error = None, exc
                else:
                    error = None
            if resp is not None:
                await self._slots.answered(resp.status_code in (429, 503))
            if resp is not None and resp.status_code not in TRANSIENT:
                if is_read:
                    self.counters.reads += 1
                else:
                    self.counters.writes += 1
                    self.counters.writes_by_path.append(f"{method} {path}")
                if resp.status_code == 409 and method == "POST" and attempt > 1:
                    return None  # our earlier attempt got through before its answer was lost
                if resp.status_code >= 300:  # a redirect means a wrong path: never "done" silently
                    if resp.status_code in ok:
                        return None  # an expected refusal (404 on delete, 409 on create)
                    raise ApiError(method, path, resp.status_code, resp.text)
                return (
                    resp.json()
                    if resp.content and resp.headers.get("content-type", "").startswith("application/json")
                    else None
                )
            if attempt == RETRIES:
                if error is not None or resp is None:
                    raise ApiError(method, path, 0, f"{type(error).__name__}: {error}")
                raise ApiError(method, path, resp.status_code, resp.text)
            self.counters.retries += 1
            await asyncio.sleep(delay * (1 + random.random() * 0.25))
            delay = min(delay * 2, 8.0)
        raise AssertionError("unreachable")

    async def pages(self, path: str, body: dict[str, Any] | None = None) -> AsyncIterator[dict[str, Any]]:
        offset = 0
        while True:
            batch = await self.request("POST", path, {**(body or {}), "limit": PAGE, "offset": offset})
            for item in batch:
                yield item
            if len(batch) < PAGE:
                return
            offset += PAGE

    async def all(self, path: str, body: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return [item async for item in self.pages(path, body)]
