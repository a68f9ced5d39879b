"""Prefect's `{{ ... }}` placeholders, translated where pipeform resolves them and kept
where Prefect resolves them at run time.

`prefect deploy` resolves placeholders at deploy time in every deployment field except
pull steps (stored as written and resolved by the worker, step by step):
- `{{ $VAR }}` (environment)           -> `<< env.VAR >>` (pipeform's compile-time value), pull steps too;
  a secret-looking one (SECRET_LIKE) -> a Secret block in job variables and pull steps, left
  out (with a warning) where prefect deploy would store its value (parameters, ...)
- `{{ prefect.variables.x }}`         -> kept in pull steps and job variables (the worker resolves
  them), elsewhere resolved into a Project value `<< values.x >>` or refused
- `{{ prefect.blocks.type.name }}`     -> kept in pull steps and job variables, refused elsewhere
  (resolving would store the block's value, maybe a secret, in the deployment)
- `{{ step-id.output }}` of a build or push step: pipeform does not run build/push steps;
  reported by the caller (an image becomes an Environment image)
- `{{ step-id.output }}` of an earlier pull step, `{{ ctx.* }}`: run-time, kept
- any other `{{ name }}` outside pull steps (`{{ flow_run.name }}` in job variables): prefect
  deploy removes it (a lone one drops its key), and so does convert, with a warning
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pipeform.spec.load import PathKey

SECRET_LIKE = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|KEY|CREDENTIAL|AUTH", re.IGNORECASE)
PLACEHOLDER = re.compile(r"({{\s*([\w\.\-\[\]$]+)\s*}})")  # prefect.utilities.templating's own
IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# deploy: resolved when deploying; pull/job_variables: kept for the worker; trigger_parameters:
# Prefect resolves variables, blocks and the environment but keeps event templates ({{ event.* }}).
Where = Literal["pull", "job_variables", "deploy", "trigger_parameters"]


@dataclass
class Placeholders:
    """What the translation found, for the caller's diagnostics and the Project values."""

    variables: dict[str, Any]  # name -> resolved value (given by --var or read from the server)
    step_ids: dict[str, str]  # build/push step id -> step function
    report: Callable[..., None]  # report(code, message, path, severity="warning", hint=None)
    env_used: set[str] = field(default_factory=set)
    values_used: set[str] = field(default_factory=set)
    image_steps: set[str] = field(default_factory=set)  # build/push step ids whose outputs a deployment used
    # env var -> the Secret block that holds it, for secret-looking `{{ $X }}` the worker reads
    # (job variables, pull steps): never resolved into the deployment in plain text
    secret_block: Callable[[str], str] | None = None
    secrets_used: set[str] = field(default_factory=set)


def secret_block_name(project: str, var: str) -> str:
    """The Secret block a secret `{{ $VAR }}` is kept in (block names: lower-case, digits, '-')."""
    from pipeform.spec.models.block import variable_secret_name

    return variable_secret_name(f"{project}-{var}")


def values_ref(name: str) -> str:
    return f"values.{name}" if IDENT.match(name) else f"values[{name!r}]"


def translate(value: Any, path: PathKey, where: Where, ph: Placeholders) -> Any:
    """The value with placeholders translated; NotSet (`_DROP`) when the value cannot stay."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            got = translate(v, (*path, k), where, ph)
            if got is not _DROP:
                out[k] = got
        return out
    if isinstance(value, list):
        return [x for x in (translate(v, (*path, i), where, ph) for i, v in enumerate(value)) if x is not _DROP]
    if not isinstance(value, str):
        return value
    text = value.replace("<<", "\\<<")  # pipeform's compile-time syntax stays literal
    found = PLACEHOLDER.findall(text)
    if not found:
        return text
    lone = len(found) == 1 and found[0][0] == text.strip()
    for whole, name in found:
        got = _one(name, path, where, ph, lone)
        if got is _DROP:
            return _DROP
        if got is not None:
            if lone and not isinstance(got, str):
                return got
            text = text.replace(whole, got if isinstance(got, str) else str(got))
    return text


class _Drop:
    def __repr__(self) -> str:
        return "DROP"


_DROP: Any = _Drop()
DROP = _DROP


def _secret_dropped(name: str, path: PathKey, ph: Placeholders) -> Any:
    """A secret-looking `{{ $X }}` that prefect deploy would resolve into the deployment
    (parameters above all), where the server keeps it in plain text: left out (the whole
    value: part of a secret is still one), with where to put it instead."""
    var = name[1:]
    ph.report(
        "convert.secret-plain-text",
        f"{{{{ {name} }}}} would be resolved by prefect deploy and stored in plain text in the deployment"
        f" ({'.'.join(map(str, path[2:]))}); pipeform keeps secrets only in Secret blocks: not carried over",
        path,
        hint=f"pass the name of a Secret block (kind: Block, type: secret, data: {{value: {{from_env: {var}}}}}) and"
        f" load it in the flow (Secret.load(name).get()), or give the flow run the value through an Environment's"
        f" env: {{{var}: {{from_env: {var}}}}}",
    )
    return _DROP


def _one(name: str, path: PathKey, where: Where, ph: Placeholders, lone: bool) -> Any:
    """Replacement text (or value) for one placeholder; None keeps it as written."""
    secret = name.startswith("$") and SECRET_LIKE.search(name)
    if secret and where in ("job_variables", "pull") and ph.secret_block is not None:
        ph.secrets_used.add(name[1:])  # the worker reads it from a Secret block pipeform owns
        return f"{{{{ prefect.blocks.secret.{ph.secret_block(name[1:])} }}}}"
    if secret and where in ("deploy", "trigger_parameters"):  # parameters, tags, ...: plain text on the server
        return _secret_dropped(name, path, ph)
    if name.startswith("$"):  # prefect deploy reads the environment for pull steps too
        ph.env_used.add(name[1:])
        return f"<< env.{name[1:]} >>"
    if name.startswith("prefect.variables."):
        return _variable(name, path, where, ph)
    if name.startswith("prefect.blocks."):
        return _block(name, path, where, ph)
    head = name.split(".", 1)[0]
    if head in ph.step_ids:
        return _step_output(name, head, path, ph)
    return _other(name, path, where, ph, lone)


def _variable(name: str, path: PathKey, where: Where, ph: Placeholders) -> Any:
    """`{{ prefect.variables.x }}`: kept where the worker resolves it, else a Project value."""
    if where not in ("deploy", "trigger_parameters"):
        return None
    var = name.removeprefix("prefect.variables.")
    if var not in ph.variables:
        ph.report(
            "convert.unresolved-variable",
            f"Prefect variable {var!r} is resolved by `prefect deploy` when deploying; pipeform needs its value",
            path,
            "error",
            f"pass --var {var}=VALUE, or point PREFECT_API_URL at the server that holds it",
        )
        return None
    ph.values_used.add(var)
    return f"<< {values_ref(var)} >>"


def _block(name: str, path: PathKey, where: Where, ph: Placeholders) -> Any:
    """`{{ prefect.blocks.... }}`: kept where the worker resolves it, refused elsewhere."""
    if where not in ("deploy", "trigger_parameters"):
        return None
    ph.report(
        "convert.block-reference",
        f"{{{{ {name} }}}} would be resolved when deploying and stored in the deployment (a block's value, "
        "perhaps a secret, in plain text); pipeform refuses it here",
        path,
        "error",
        "load the block in the flow at run time, or move it to job variables or pull steps",
    )
    return None


def _step_output(name: str, head: str, path: PathKey, ph: Placeholders) -> Any:
    """An output of a build/push step, which pipeform does not run: left out."""
    ph.image_steps.add(head)
    if path[-2:] != ("job_variables", "image"):  # an image: reported once per deployment, with the replacement
        ph.report(
            "convert.step-output",
            f"{{{{ {name} }}}} is an output of the {ph.step_ids[head].rsplit('.', 1)[-1]} step, which pipeform "
            "does not run; left out"
            + ("; pipeform's version records the spec hash and git SHA itself" if path[-1] == "version" else ""),
            path,
            hint="compute it in CI and pass it as << env.NAME >>",
        )
    return _DROP


def _other(name: str, path: PathKey, where: Where, ph: Placeholders, lone: bool) -> Any:
    """Run-time placeholders are kept; any other is removed, as prefect deploy removes it."""
    if name.startswith("ctx.") or where in ("pull", "trigger_parameters"):
        return None  # resolved at run time (worker templates, earlier pull steps' outputs)
    # prefect deploy applies the build/push steps' outputs with remove_notset: any other
    # placeholder is removed (a lone one drops its key; inside text it becomes "").
    ph.report(
        "convert.removed-placeholder",
        f"prefect deploy removes {{{{ {name} }}}} (not a step output) "
        + ("and its key" if lone else "from the text")
        + "; converted the same way",
        path,
    )
    return _DROP if lone else ""
