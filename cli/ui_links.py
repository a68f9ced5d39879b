"""UI addresses printed after apply: the page of each deployment the apply wrote."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable
from typing import Any

DEPLOYMENT = "deployment."


def written_deployments(outcomes: Iterable[Any]) -> list[str]:
    """FLOW/NAME of each deployment an apply created or changed (deletions have no page)."""
    return [
        o.address.removeprefix(DEPLOYMENT)
        for o in outcomes
        if o.ok and o.address.startswith(DEPLOYMENT) and o.action.value != "delete"
    ]


async def deployment_pages(api: Any, names: list[str]) -> list[tuple[str, str]]:
    """(FLOW/NAME, page URL) for each deployment found on the server."""
    from pipeform.ui import deployment_page

    pages = []
    for name in names:
        flow, _, deployment = name.partition("/")
        path = f"/deployments/name/{urllib.parse.quote(flow, safe='')}/{urllib.parse.quote(deployment, safe='')}"
        found = await api.request("GET", path, ok=(404,))
        if isinstance(found, dict) and found.get("id"):
            pages.append((name, deployment_page(api.url, found["id"])))
    return pages
