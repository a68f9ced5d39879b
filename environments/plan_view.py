"""Environments in a plan, for people: which locked runtimes change (pins added, removed,
moved) and which deployments they change with them. Read from the deployments' own
changes (the lock travels in their job variables), so it never disagrees with them."""

from __future__ import annotations

from typing import Any

from .launch import HASH_VAR, LOCK_VAR
from .lock import REQUESTED, make_lock
from .paths import lock_target

LOCK_SUFFIX = f"env.{LOCK_VAR}"


def _env_of(body: Any) -> dict[str, Any]:
    jv = (body or {}).get("job_variables") or {}
    env = jv.get("env") if isinstance(jv, dict) else None
    return env if isinstance(env, dict) else {}


def pin_changes(old_text: str | None, new_text: str | None) -> list[str]:
    """`name old -> new`, `+ name==v`, `- name==v` between two lock texts."""
    old = make_lock(old_text).pins if old_text else {}
    new = make_lock(new_text).pins if new_text else {}
    out = [f"{n} {old[n]} -> {new[n]}" for n in sorted(old.keys() & new.keys()) if old[n] != new[n]]
    out += [f"+ {n}=={new[n]}" for n in sorted(new.keys() - old.keys())]
    out += [f"- {n}=={old[n]}" for n in sorted(old.keys() - new.keys())]
    if old_text and new_text:  # the target the worker checks (python=, platform=)
        was, now = lock_target(old_text), lock_target(new_text)
        out += [
            f"{k} {was.get(k, '?')} -> {now[k]}" for k in ("python", "platform") if k in now and was.get(k) != now[k]
        ]
    return out


def requested_of(text: str | None) -> str:
    for line in (text or "").splitlines()[:3]:
        if line.startswith(REQUESTED):
            return line.removeprefix(REQUESTED)
    return ""


def environment_changes(changes: Any) -> list[tuple[str, str | None, str | None, list[str], list[str]]]:
    """(environment, old hash, new hash, pin changes, deployment addresses) per changed lock."""
    groups: dict[tuple[str, str | None, str | None], tuple[list[str], list[str]]] = {}
    for c in changes:
        if c.kind != "deployment":
            continue
        before, after = _env_of(c.before), _env_of(c.after)
        if before.get(HASH_VAR) == after.get(HASH_VAR):
            continue
        name = after.get("PIPEFORM_ENVIRONMENT", before.get("PIPEFORM_ENVIRONMENT")) or "(task runner)"
        key = (name, before.get(HASH_VAR), after.get(HASH_VAR))
        if before.get(LOCK_VAR) and after.get(LOCK_VAR):
            pins = pin_changes(before.get(LOCK_VAR), after.get(LOCK_VAR))
        elif after.get(LOCK_VAR):  # a new runtime: what was asked for and how much it locked
            n = len(make_lock(after[LOCK_VAR]).pins)
            pins = [f"+ {requested_of(after[LOCK_VAR]) or 'locked'} ({n} pins with Prefect and pipeform)"]
        else:
            pins = ["- runs in the worker's own environment now"]
        _, users = groups.setdefault(key, (pins, []))
        users.append(c.address)
    return [(n, o, h, pins, users) for (n, o, h), (pins, users) in sorted(groups.items(), key=lambda kv: str(kv[0]))]


def lock_diff_summary(old: Any, new: Any) -> str:
    """A changed lock field in one line: its pin changes, not two long texts."""
    pins = pin_changes(old if isinstance(old, str) else None, new if isinstance(new, str) else None)
    shown = ", ".join(pins[:6]) + (f", and {len(pins) - 6} more" if len(pins) > 6 else "")
    return f"locked requirements changed: {shown or 'same pins'}"
