"""The reconciler's errors as coded, located `Diagnostic`s (the spec stage's type): what a
plan refuses, what observe cannot decide, why an apply change failed. Codes are stable
(tests and CI assert on them); the origin is the spec document that declares the object.

| code | stage | meaning |
|---|---|---|
| `plan.adopt-required` | plan | the object exists on the server and pipeform did not create it |
| `plan.prune-all` | plan | prune would delete everything pipeform owns for the project |
| `observe.ambiguous` | observe | several server objects stand for one address |
| `observe.block-type-unknown` | observe | a Block's type is neither on the server nor installed |
| `apply.server` | apply | the server refused or failed the request |
| `apply.invalid` | apply | the change cannot be sent (a saved plan's secret cannot be re-read, ...) |
| `apply.blocked` | apply | an object it depends on failed earlier in the same apply |

A secret in a plain field (`secret.plain-text`, secret_scan.py) is raised from desired_state
as a SpecError, the spec stage's code.
"""

from __future__ import annotations

from pipeform.spec.diagnostics import Diagnostic, Origin

ADOPT_REQUIRED = "plan.adopt-required"
PRUNE_ALL = "plan.prune-all"
AMBIGUOUS = "observe.ambiguous"
BLOCK_TYPE_UNKNOWN = "observe.block-type-unknown"
APPLY_SERVER = "apply.server"
APPLY_INVALID = "apply.invalid"
APPLY_BLOCKED = "apply.blocked"


def origin_of(text: str | None) -> Origin | None:
    """A resource's origin (`file:line:column`, as plans write it) as an Origin."""
    if not text:
        return None
    file, _, rest = text.rpartition(":")
    path, _, line = file.rpartition(":")
    if path and line.isdigit() and rest.isdigit():
        return Origin(path, int(line), int(rest))
    return Origin(text)


def located(code: str, message: str, origin: str | None = None, hint: str | None = None) -> Diagnostic:
    return Diagnostic(code, message, origin_of(origin), hint=hint)


def diagnostic_to_json(d: Diagnostic) -> dict[str, object]:
    return {
        "code": d.code,
        "severity": d.severity,
        "message": d.message,
        "origin": str(d.origin) if d.origin else None,
        "hint": d.hint,
    }


def diagnostic_from_json(data: dict[str, object]) -> Diagnostic:
    origin = data.get("origin")
    hint = data.get("hint")
    return located(
        str(data["code"]), str(data["message"]), str(origin) if origin else None, str(hint) if hint else None
    )
