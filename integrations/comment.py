"""Post or update ONE plan comment on a pull request (GitHub) or merge request (GitLab).

    python comment.py github PLAN.md     # GITHUB_TOKEN, GITHUB_REPOSITORY, GITHUB_EVENT_PATH, GITHUB_API_URL
    python comment.py gitlab PLAN.md     # PIPEFORM_GITLAB_TOKEN, CI_API_V4_URL, CI_PROJECT_ID, CI_MERGE_REQUEST_IID

The comment is found again by a hidden key line (`<!-- pipeform-plan key=PATH|ENV -->`,
PIPEFORM_COMMENT_KEY), so each project/env of a pull request keeps one comment that every
push edits, instead of a new comment per push. Pure standard library: it runs in CI
before or without pipeform installed, and tests point the API URL at a local server.
"""

from __future__ import annotations

import json
import os
import sys
import urllib.parse
import urllib.request
from pathlib import Path

MAX_BODY = 65_000  # GitHub refuses bodies over 65,536 characters


def _request(method: str, url: str, headers: dict[str, str], body: object = None) -> tuple[object, dict[str, str]]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={**headers, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        text = resp.read().decode() or "null"
        return json.loads(text), dict(resp.headers)


def _next_link(headers: dict[str, str]) -> str | None:
    """GitHub pagination: the rel="next" URL of a Link header."""
    for part in headers.get("Link", headers.get("link", "")).split(","):
        if 'rel="next"' in part:
            return part.split(";")[0].strip().strip("<>")
    return None


def _find(url: str, headers: dict[str, str], key_line: str) -> dict | None:
    while url:
        items, resp_headers = _request("GET", url, headers)
        for item in items or []:
            if key_line in (item.get("body") or ""):
                return item
        url = _next_link(resp_headers)
    return None


def key_line() -> str:
    key = os.environ.get("PIPEFORM_COMMENT_KEY", "default").replace("--", "-")
    return f"<!-- pipeform-plan key={key} -->"


def comment_body(markdown: str) -> str:
    body = f"{key_line()}\n{markdown}"
    return body if len(body) <= MAX_BODY else body[: MAX_BODY - 80] + "\n\n_(cut: the plan is longer than a comment)_\n"


def github(markdown: str) -> str:
    env = os.environ
    event = json.loads(Path(env["GITHUB_EVENT_PATH"]).read_text())
    number = (event.get("pull_request") or {}).get("number") or event.get("number")
    if not number:
        return "not a pull request: no comment"
    api = env.get("GITHUB_API_URL", "https://api.github.com").rstrip("/")
    repo = env["GITHUB_REPOSITORY"]
    headers = {
        "Authorization": f"Bearer {env['GITHUB_TOKEN']}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": "2022-11-28",
    }
    body = comment_body(markdown)
    found = _find(f"{api}/repos/{repo}/issues/{number}/comments?per_page=100", headers, key_line())
    if found:
        _request("PATCH", f"{api}/repos/{repo}/issues/comments/{found['id']}", headers, {"body": body})
        return f"updated comment {found['id']} on #{number}"
    created, _ = _request("POST", f"{api}/repos/{repo}/issues/{number}/comments", headers, {"body": body})
    return f"created comment {created['id']} on #{number}"


def gitlab(markdown: str) -> str:
    env = os.environ
    iid = env.get("CI_MERGE_REQUEST_IID")
    if not iid:
        return "not a merge request pipeline: no note"
    if not env.get("PIPEFORM_GITLAB_TOKEN"):
        return "warning: PIPEFORM_GITLAB_TOKEN is not set (a project access token with api scope): no MR note"
    api = env["CI_API_V4_URL"].rstrip("/")
    project = urllib.parse.quote(env["CI_PROJECT_ID"], safe="")
    headers = {"PRIVATE-TOKEN": env["PIPEFORM_GITLAB_TOKEN"]}
    base = f"{api}/projects/{project}/merge_requests/{iid}/notes"
    body = comment_body(markdown)
    found = _find(f"{base}?per_page=100&sort=asc", headers, key_line())
    if found:
        _request("PUT", f"{base}/{found['id']}", headers, {"body": body})
        return f"updated note {found['id']} on !{iid}"
    created, _ = _request("POST", base, headers, {"body": body})
    return f"created note {created['id']} on !{iid}"


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[1] not in ("github", "gitlab"):
        print(__doc__, file=sys.stderr)
        return 2
    markdown = Path(argv[2]).read_text(encoding="utf-8")
    try:
        print((github if argv[1] == "github" else gitlab)(markdown))
    except (OSError, KeyError, ValueError) as exc:  # a failed comment is reported, never a traceback
        print(f"error: could not post the plan comment: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
