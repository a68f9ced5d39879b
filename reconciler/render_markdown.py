"""Plans for pull requests: Markdown (`plan --output markdown`, the body of the one plan
comment the CI kit keeps per pull request) and GitHub Actions annotations (`--output github`).

Markdown: a heading naming project, env and server; a summary table of creates, updates,
replaces and deletes per kind; the deployments whose scheduled runs an apply would cancel;
then the field-level diff in a collapsible <details>. Secrets are masked exactly as in the
terminal plan (sensitive paths -> MASK). Spec text comes from untrusted pull requests, so
every name and value is put in a code span or fence longer than any backtick run in it:
nothing from a spec is rendered as Markdown or HTML (no links, images or @mentions).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from typing import Any

from .kinds.deployment import DEPLOYMENT
from .kinds.schedule import SCHEDULE
from .plan import Action, Plan
from .plan import ResourceChange as Change
from .resources import MASK, masked, touches

# The comment marker a CI job finds its earlier plan comment by (one comment per PR).
MARKER = "<!-- pipeform-plan -->"
# GitHub refuses comments over 65,536 characters; the diff is cut before that.
MAX_CHARS = 60_000
HIDDEN = ("_secret_sources", "version_full")
COLUMNS = (Action.CREATE, Action.UPDATE, Action.REPLACE, Action.DELETE, Action.NOOP)
SIGN = {Action.CREATE: "+", Action.UPDATE: "~", Action.DELETE: "-", Action.REPLACE: "-/+"}
_CREDENTIALS = re.compile(r"(://)[^/@\s]+@")


def code(text: object) -> str:
    """An inline code span that shows `text` literally, whatever backticks it holds."""
    flat = " ".join(str(text).split()) or " "
    ticks = "`" * (max((len(run) for run in re.findall(r"`+", flat)), default=0) + 1)
    pad = " " if flat.startswith("`") or flat.endswith("`") else ""
    return f"{ticks}{pad}{flat}{pad}{ticks}"


def _fence(lines: list[str], lang: str = "diff") -> list[str]:
    longest = max((len(run) for line in lines for run in re.findall(r"`{3,}", line)), default=2)
    ticks = "`" * max(3, longest + 1)
    return [ticks + lang, *lines, ticks]


def _value(value: Any) -> str:
    text = json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= 300 else text[:297] + "..."


def cancelled_runs(plan: Plan) -> dict[str, str]:
    """Deployment -> why an apply deletes its not-yet-started scheduled runs (Prefect does so on
    every deployment update or delete, and on a schedule update or delete; the scheduler then
    makes new ones for a deployment that stays)."""
    out: dict[str, str] = {}
    for c in plan.pending:
        if c.kind == DEPLOYMENT.name and c.action is Action.DELETE:
            out[c.name] = "deleted: all its scheduled runs"
        elif c.kind == DEPLOYMENT.name:
            out.setdefault(c.name, "updated: its auto-scheduled runs, made again")
        elif c.kind == SCHEDULE.name and c.action in (Action.UPDATE, Action.REPLACE, Action.DELETE):
            deployment, slug = SCHEDULE.split(c.name)
            out.setdefault(deployment, f"schedule {slug} changed: its future auto-scheduled runs, made again")
    return out


def _summary_table(plan: Plan) -> list[str]:
    counts: dict[str, dict[Action, int]] = {}
    for c in plan.changes:
        row = counts.setdefault(c.kind, dict.fromkeys(COLUMNS, 0))
        row[c.action] += 1
    lines = ["| Kind | Create | Update | Replace | Delete | Unchanged |", "|---|---:|---:|---:|---:|---:|"]
    for kind in sorted(counts):
        lines.append(f"| {code(kind)} | " + " | ".join(str(counts[kind][a]) for a in COLUMNS) + " |")
    return lines


def _change_lines(c: Change) -> list[str]:
    if c.action is Action.CREATE:
        body = masked(c.after, c.sensitive) or {}
        return [
            f"+ {k}: {_value(v)}"
            for k, v in body.items()
            if k not in HIDDEN and not k.startswith("_") and v not in (None, {}, [], "")
        ]
    if c.action is Action.DELETE:
        body = masked(c.before, c.sensitive) or {}
        return [
            f"- {k}: {_value(v)}"
            for k, v in body.items()
            if k not in HIDDEN and not k.startswith("_") and v not in (None, {}, [], "")
        ]
    lines = []
    for d in c.diffs:
        secret = touches(d.path, c.sensitive)
        old, new = (MASK, MASK) if secret else (_value(d.old), _value(d.new))
        lines += [f"- {d.path}: {old}", f"+ {d.path}: {new}"]
    return lines


def _details(plan: Plan, budget: int) -> list[str]:
    out = [f"<details><summary>Field-level changes ({len(plan.pending)})</summary>", ""]
    used = 0
    for i, c in enumerate(plan.pending):
        where = f" from {code(c.origin)}" if c.origin else ""
        reason = f": {code(c.reason)}" if c.reason else ""
        block = [
            f"**{SIGN[c.action]} {code(c.address)}** ({c.action.value}{where}){reason}",
            "",
            *_fence(_change_lines(c)),
            "",
        ]
        size = sum(len(line) + 1 for line in block)
        if used + size > budget:
            out += [
                f"_... {len(plan.pending) - i} more changes cut (GitHub's comment limit); `--output json` has all._",
                "",
            ]
            break
        out += block
        used += size
    return [*out, "</details>"]


def plan_markdown(plan: Plan, title: str = "pipeform plan") -> str:
    """The plan as GitHub-flavoured Markdown, starting with MARKER."""
    n = plan.counts()
    env = f", env {code(plan.env)}" if plan.env else ""
    server = _CREDENTIALS.sub(r"\1***@", plan.server)
    lines = [MARKER, f"### {title}: project {code(plan.project)}{env}", f"Server: {code(server)}", ""]
    if plan.errors:
        lines += ["> [!CAUTION]", "> The plan was refused; apply would change nothing:"]
        lines += [f"> - {code(e)}" for e in plan.errors]
        lines.append("")
    if not plan.pending:
        if not plan.errors:
            lines.append(f"**No changes.** The server matches the specs ({n['no-op']} objects checked).")
    else:
        lines += [
            f"**Plan: {n['create']} to create, {n['update']} to update, {n['replace']} to replace, "
            f"{n['delete']} to delete** ({n['no-op']} unchanged).",
            "",
            *_summary_table(plan),
            "",
        ]
        cancels = cancelled_runs(plan)
        if cancels:
            names = "; ".join(f"{code(d)} ({why})" for d, why in sorted(cancels.items()))
            lines += ["> [!WARNING]", f"> Applying cancels the scheduled runs not yet started of {names}.", ""]
        else:
            lines += ["Applying cancels no scheduled run.", ""]
    if plan.orphans:
        lines.append(
            "Owned objects that left the specs, kept (`--prune` deletes them): " + ", ".join(map(code, plan.orphans))
        )
        lines.append("")
    head = "\n".join(lines)
    if plan.pending:
        head += "\n" + "\n".join(_details(plan, MAX_CHARS - len(head)))
    return head.rstrip() + "\n"


def _gh_escape(text: str, prop: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def _where(origin: str | None) -> list[str]:
    """The file/line/col properties of an origin `F:L:C` (or just `F`)."""
    if not origin:
        return []
    cwd = os.getcwd() + os.sep  # GitHub places annotations by repository-relative path
    origin = origin.removeprefix(cwd)
    parts = origin.rsplit(":", 2)
    if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
        return [f"file={_gh_escape(parts[0], True)}", f"line={parts[1]}", f"col={parts[2]}"]
    return [f"file={_gh_escape(origin, True)}"]


def _command(level: str, origin: str | None, title: str, message: str) -> str:
    props = ",".join([*_where(origin), f"title={_gh_escape(title, True)}"])
    return f"::{level} {props}::{_gh_escape(message)}"


def plan_github(plan: Plan) -> Iterable[str]:
    """GitHub Actions workflow commands: a notice on the spec of each change (a warning for
    deletes, replacements and cancelled scheduled runs), an error per refusal, a summary line."""
    cancels = cancelled_runs(plan)
    origins = {c.name: c.origin for c in plan.changes if c.kind == DEPLOYMENT.name}
    for c in plan.pending:
        level = "warning" if c.action in (Action.DELETE, Action.REPLACE) else "notice"
        fields = ", ".join(d.path for d in c.diffs)
        detail = f" ({fields})" if fields and c.action is Action.UPDATE else ""
        yield _command(level, c.origin, "pipeform plan", f"{SIGN[c.action]} {c.address}: {c.action.value}{detail}")
    for dep, why in sorted(cancels.items()):
        yield _command(
            "warning",
            origins.get(dep),
            "scheduled runs cancelled",
            f"applying cancels the scheduled runs of {dep} ({why})",
        )
    for e in plan.errors:
        yield _command("error", None, "pipeform plan", e)
    n = plan.counts()
    yield (
        f"Plan: {n['create']} to create, {n['update']} to update, {n['replace']} to replace, "
        f"{n['delete']} to delete ({n['no-op']} unchanged)."
    )
