"""Addresses of the Prefect UI and of objects in it (the deployment page, the flow run page),
printed by `server status|open`, apply, trigger and sync (`deployment_pages`: the page of
each deployment a change wrote, shared by `pipeform apply` and the sync controller).

The UI root is PREFECT_UI_URL when set, else derived from the API URL the way Prefect does
(`/api` dropped; Prefect Cloud's api.prefect.cloud/api/accounts/A/workspaces/W becomes
app.prefect.cloud/account/A/workspace/W). A Prefect 3.8 server serves two UIs (V1 at `/`,
V2 at `/v2`) and sends a browser at `/` to its default one, but a deep link under `/` always
gets V1: so object links carry the base of the UI the server's `/ui-settings` names as
default. Pure standard library (runs before Prefect may be imported).
"""

from __future__ import annotations

import functools
import json
import os
import re
import urllib.parse
import urllib.request
from collections.abc import Iterable
from typing import Any

_CLOUD_API = re.compile(r"^(https://)api\.(.*?)/api/accounts/([^/]+)/workspaces/([^/]+)$")


def ui_root(api_url: str) -> str:
    """The UI's root address for a server whose API is at `api_url`."""
    explicit = os.environ.get("PREFECT_UI_URL")
    if explicit:
        return explicit.rstrip("/")
    api_url = api_url.rstrip("/")
    cloud = _CLOUD_API.match(api_url)
    if cloud:
        scheme, domain, account, workspace = cloud.groups()
        return f"{scheme}app.{domain}/account/{account}/workspace/{workspace}"
    return api_url.removesuffix("/api")


@functools.lru_cache(maxsize=8)
def ui_settings(root: str, timeout: float = 3.0) -> dict[str, object] | None:
    """The server's /ui-settings (api_url, default_ui, v1/v2 base URLs), None when it has none."""
    try:
        with urllib.request.urlopen(f"{root}/ui-settings", timeout=timeout) as resp:
            data = json.loads(resp.read())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def pages_base(api_url: str) -> str:
    """Where object pages live: the root plus the default UI's base path (`/v2` for V2)."""
    root = ui_root(api_url)
    settings = ui_settings(root) or {}
    default = settings.get("default_ui")
    base = settings.get(f"{default}_base_url") if isinstance(default, str) else None
    return root + (base.rstrip("/") if isinstance(base, str) else "")


def deployment_page(api_url: str, deployment_id: str) -> str:
    return f"{pages_base(api_url)}/deployments/deployment/{urllib.parse.quote(str(deployment_id))}"


def deployment_run_page(api_url: str, deployment_id: str) -> str:
    """The deployment's "Run" form (its typed parameters)."""
    return deployment_page(api_url, deployment_id) + "/run"


def flow_run_page(api_url: str, flow_run_id: str) -> str:
    return f"{pages_base(api_url)}/runs/flow-run/{urllib.parse.quote(str(flow_run_id))}"


def written_deployments(outcomes: Iterable[Any]) -> list[str]:
    """FLOW/NAME of each deployment an apply created or changed (deletions have no page)."""
    return [
        o.address.removeprefix("deployment.")
        for o in outcomes
        if o.ok and o.address.startswith("deployment.") and o.action.value != "delete"
    ]


async def deployment_pages(api: Any, names: list[str]) -> list[tuple[str, str]]:
    """(FLOW/NAME, page URL) for each deployment found on the server (`api`: a
    reconciler ServerAPI; one small read per deployment)."""
    pages = []
    for name in names:
        flow, _, deployment = name.partition("/")
        path = f"/deployments/name/{urllib.parse.quote(flow, safe='')}/{urllib.parse.quote(deployment, safe='')}"
        found = await api.request("GET", path, ok=(404,))
        if isinstance(found, dict) and found.get("id"):
            pages.append((name, deployment_page(api.url, found["id"])))
    return pages
