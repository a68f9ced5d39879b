"""What each task action calls, as plain data: the callable and the keyword arguments
(spec values that may hold `$[ ]`). Both backends take a task's call from here: build.py
imports the callable, emit writes it. Pure: no Prefect.

Shell commands are put together in one place, `shell_arguments` (run-time values as
environment variables: shell.py); runtime.run_shell runs them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .ir import Action, Approval, DeploymentRun, PythonCall, ShellCommand, SubflowCall, TaskIR
from .shell import safe_command

RUNTIME = "pipeform.compiler.runtime"  # where the run-time helpers live (run_shell, run_deployment)


@dataclass(frozen=True, slots=True)
class Callee:
    module: str
    attr: str  # may be dotted (`Class.method`) for a user callable
    user: bool  # the project's own callable (imported as a module); else a pipeform helper

    @property
    def path(self) -> str:
        return f"{self.module}:{self.attr}"


@dataclass(frozen=True, slots=True)
class Keywords:
    """A dict argument whose entries are classified one by one (shell `inputs`,
    deployment `parameters`), not as one value."""

    pairs: tuple[tuple[str, Any], ...]


def callee(action: Action) -> Callee | None:
    """The callable a task run calls; None for actions that run in the flow body."""
    match action:
        case PythonCall(path=path):
            module, _, attr = path.partition(":")
            return Callee(module, attr, True)
        case ShellCommand():
            return Callee(RUNTIME, "run_shell", False)
        case DeploymentRun():
            return Callee(RUNTIME, "run_deployment", False)
        case SubflowCall() | Approval():
            return None


def shell_arguments(shell: ShellCommand, inputs: tuple[tuple[str, Any], ...]) -> tuple[tuple[str, Any], ...]:
    """runtime.run_shell's arguments; settings at their default are left out. `inputs`
    reach the command as environment variables, and so do the command's own `$[ ]` values
    (shell.safe_command: quoted expansions, never pasted as code, unless `| raw`)."""
    command, extra = safe_command(shell.command, inputs)
    inputs = (*inputs, *extra)
    args: list[tuple[str, Any]] = [("command", command)]
    if shell.env:
        args.append(("env", dict(shell.env)))
    if shell.cwd:
        args.append(("cwd", shell.cwd))
    if shell.capture != "stdout":
        args.append(("capture", shell.capture))
    if not shell.stream:
        args.append(("stream", False))
    if inputs:
        args.append(("inputs", Keywords(inputs)))
    return tuple(args)


def call_arguments(node: TaskIR) -> tuple[tuple[str, Any], ...]:
    """keyword -> spec value: what the task's callable (or subflow, or approval) receives."""
    match node.action:
        case ShellCommand() as shell:
            return shell_arguments(shell, node.inputs)
        case DeploymentRun(name=name, wait=wait, timeout_seconds=timeout, job_variables=job_variables):
            return (
                ("name", name),
                ("wait", wait),
                ("timeout", timeout),
                ("job_variables", dict(job_variables)),
                ("parameters", Keywords(node.inputs)),
            )
        case PythonCall() | SubflowCall() | Approval():
            return node.inputs
