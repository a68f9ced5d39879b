"""Plans for people: +, ~, -, -/+ markers with field-level differences, secrets masked."""

from __future__ import annotations

import json
from typing import Any

from rich.markup import escape

from pipeform.environments import plan_view

from .apply import Outcome
from .plan import Action, Plan
from .plan import ResourceChange as Change
from .resources import MASK, masked, shown, touches

MARK = {
    Action.CREATE: ("+", "green"),
    Action.UPDATE: ("~", "yellow"),
    Action.DELETE: ("-", "red"),
    Action.REPLACE: ("-/+", "magenta"),
}
HIDDEN = ("_secret_sources", "version_full")


def _short(value: Any) -> str:
    text = json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= 100 else text[:97] + "..."


def _body_lines(body: dict[str, Any]) -> list[str]:
    return [
        f"      {k} = {escape(_short(v))}"
        for k, v in body.items()
        if k not in HIDDEN and not k.startswith("_") and v not in (None, {}, [], "")
    ]


def change_lines(c: Change) -> list[str]:
    mark, color = MARK[c.action]
    where = f" [dim]({escape(c.origin)})[/dim]" if c.origin else ""
    reason = f" [dim]# {escape(c.reason)}[/dim]" if c.reason else ""
    lines = [f"  [{color}]{mark} {escape(shown(c.address))}[/{color}]{where}{reason}"]
    if c.action is Action.CREATE:
        lines += _body_lines(masked(c.after, c.sensitive) or {})
    elif c.action in (Action.UPDATE, Action.REPLACE):
        for d in c.diffs:
            secret = touches(d.path, c.sensitive)
            if secret:  # neither value is shown, nor a hash of it
                lines.append(f"      {escape(d.path)}: {MASK} changed")
                continue
            if d.path.endswith(plan_view.LOCK_SUFFIX):  # a lock is long: its pin changes
                lines.append(f"      {escape(d.path)}: {escape(plan_view.lock_diff_summary(d.old, d.new))}")
                continue
            old, new = _short(d.old), _short(d.new)
            forces = (
                " [magenta]# forces replacement[/magenta]" if c.action is Action.REPLACE and d.path == "type" else ""
            )
            lines.append(f"      {escape(d.path)}: {escape(old)} [yellow]->[/yellow] {escape(new)}{forces}")
    return lines


def plan_text(plan: Plan) -> str:
    lines = _environment_lines(plan)
    for c in plan.pending:
        lines += change_lines(c)
    for a in plan.orphans:
        lines.append(f"  [dim]  {escape(a)} # owned, no longer in the specs: would be deleted with --prune[/dim]")
    for d in plan.diagnostics:
        where = f" [dim]({escape(str(d.origin))})[/dim]" if d.origin else ""
        lines.append(f"[red]error:[/red] {escape(d.message)} [dim]{escape(f'[{d.code}]')}[/dim]{where}")
    n = plan.counts()
    if plan.pending:
        lines.append(
            f"Plan: {n['create']} to create, {n['update']} to update, {n['replace']} to replace, {n['delete']} to delete ({n['no-op']} unchanged)."
        )
    elif not plan.errors:
        kept = f"; {len(plan.orphans)} owned objects left the specs (kept without --prune)" if plan.orphans else ""
        lines.append(f"[green]No changes.[/green] The server matches the specs ({n['no-op']} objects checked{kept}).")
    return "\n".join(lines)


def _environment_lines(plan: Plan) -> list[str]:
    """Changed Environments first (each with the deployments it changes)."""
    lines = []
    for name, old, new, pins, users in plan_view.environment_changes(plan.pending):
        lines.append(
            f"  [yellow]~ environment {escape(name)}[/yellow] [dim]lock {old or 'none'} -> {new or 'none'}[/dim]"
        )
        lines += [f"      {escape(p)}" for p in pins]
        lines.append(f"      [dim]used by {escape(', '.join(users))}[/dim]")
    return lines


def outcome_line(o: Outcome) -> str:
    mark, color = MARK.get(o.action, ("=", "white"))
    status = "[green]done[/green]" if o.ok else f"[red]failed[/red]: {escape(o.error or '')}"
    return f"  [{color}]{mark}[/{color}] {escape(shown(o.address))}: {status}"


DRIFT = {
    Action.UPDATE: "changed on the server",
    Action.REPLACE: "changed on the server (type)",
    Action.CREATE: "deleted on the server",
    Action.DELETE: "owned, no longer in the specs",
}


def drift_text(changes: tuple[Change, ...]) -> str:
    if not changes:
        return "[green]No drift.[/green] Every object pipeform owns matches the specs."
    lines = []
    for c in changes:
        mark, color = MARK[c.action]
        lines.append(f"  [{color}]{mark} {escape(shown(c.address))}[/{color}] [dim]# {DRIFT[c.action]}[/dim]")
        if c.action in (Action.UPDATE, Action.REPLACE):
            lines += change_lines(c)[1:]
    restore = sum(c.action is not Action.DELETE for c in changes)
    gone = len(changes) - restore
    what = []
    if restore:
        what.append(f"`pipeform apply` restores {restore}")
    if gone:
        what.append(f"`pipeform apply --prune` deletes the {gone} no longer in the specs")
    lines.append(f"Drift: {len(changes)} owned objects differ from the specs; {' and '.join(what)}.")
    return "\n".join(lines)
