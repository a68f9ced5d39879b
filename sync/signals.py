"""Cheap ways to learn that the server changed, so an idle cycle costs almost nothing.

- `server_signal`: three small reads (count of the project's deployments, the most recently
  updated one, the most recently updated variable). Any write to an owned deployment or
  variable (a PATCH from the UI, a delete) changes it; a worker polling does not (Prefect
  keeps `updated` when it marks deployments ready).
- `EventWatch`: a subscription to the server's event stream (`/api/events/out`, the
  websocket Prefect's UI uses) for `prefect.deployment.created/updated/deleted`; each event
  wakes the controller at once instead of at the next interval.

Changes neither sees (a schedule toggled alone, a work pool, a limit, an automation) are
caught by the full resync every --resync seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeform.reconciler.api import ServerAPI
from pipeform.reconciler.inventory import owner_tag

DEPLOYMENT_EVENTS = ("prefect.deployment.created", "prefect.deployment.updated", "prefect.deployment.deleted")


async def server_signal(api: ServerAPI, project: str) -> tuple[Any, ...]:
    """A value that changes whenever an owned deployment or variable is written."""
    tagged = {"tags": {"all_": [owner_tag(project)]}}
    count, latest, var = await asyncio.gather(
        api.request("POST", "/deployments/count", {"deployments": tagged}),
        api.request("POST", "/deployments/filter", {"deployments": tagged, "sort": "UPDATED_DESC", "limit": 1}),
        api.request("POST", "/variables/filter", {"variables": tagged, "sort": "UPDATED_DESC", "limit": 1}),
    )
    first = (latest or [{}])[0]
    v = (var or [{}])[0]
    return (count, first.get("id"), first.get("updated"), v.get("id"), v.get("updated"))


def _ws_url(api_url: str) -> str:
    return ("wss://" + api_url[8:] if api_url.startswith("https://") else "ws://" + api_url.removeprefix("http://")) + (
        "/events/out"
    )


class EventWatch:
    """Keeps one websocket open to the server's event stream; calls `on_event(event)` for
    each deployment event. Reconnects with backoff; `connected` says whether it is live."""

    def __init__(self, api_url: str, api_key: str | None, on_event: Callable[[dict[str, Any]], None]):
        self.url = _ws_url(api_url)
        self.api_key = api_key
        self.on_event = on_event
        self.connected = False
        self.received = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def _run(self) -> None:
        delay = 1.0
        while True:
            try:
                await self._listen()
                delay = 1.0
            except asyncio.CancelledError:
                raise
            except Exception:  # the server restarted, a proxy dropped us: try again
                pass
            self.connected = False
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)

    async def _listen(self) -> None:
        from websockets.asyncio.client import connect
        from websockets.typing import Subprotocol

        async with connect(self.url, subprotocols=[Subprotocol("prefect")], open_timeout=10) as ws:
            await ws.send(json.dumps({"type": "auth", "token": self.api_key}))
            answer = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if answer.get("type") != "auth_success":
                raise ConnectionError(f"event stream refused: {answer}")
            now = datetime.now(UTC)
            # `until` defaults to "now" on the server, which would filter out every live event
            when = {"since": now.isoformat(), "until": (now + timedelta(days=3650)).isoformat()}
            flt = {"event": {"name": list(DEPLOYMENT_EVENTS)}, "occurred": when}
            await ws.send(json.dumps({"type": "filter", "filter": flt, "backfill": False}))
            self.connected = True
            async for raw in ws:
                msg = json.loads(raw)
                if msg.get("type") == "event":
                    self.received += 1
                    self.on_event(msg["event"])
