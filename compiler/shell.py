"""Run-time values reach a shell command as environment variables, never as code.

`echo "Hello, $[ params.who ]!"` with who=`$(id -un)` must print the text, not run `id`.
So each `$[ expr ]` of a `shell:` command is moved out of the command into an environment
variable of the process (PIPEFORM_ARG_<n>, evaluated like any shell `input`: strings as
they are, other values as JSON), and the command refers to it with a quoted expansion
that fits where the expression stood:

- outside quotes: `"${PIPEFORM_ARG_0}"` (no word splitting, no globbing)
- inside "...":   `${PIPEFORM_ARG_0}`
- inside '...':   `'"${PIPEFORM_ARG_0}"'` (close, expand quoted, reopen)

The shell never parses an expansion's result as code, so even a wrong guess about the
quoting (inside `$(...)`, a heredoc) cannot run a value; at worst it prints it differently.
`$[ expr | raw ]` opts out: the value is pasted into the command text as before (validate
warns: `shell.raw`). Pure: both backends (build and emit) take the rewritten command.
"""

from __future__ import annotations

from typing import Any

from pipeform.spec import expressions as ex

PREFIX = "PIPEFORM_ARG_"


def _quote_state(text: str, state: str) -> str:
    """The quoting in force after `text` ("", "'" or '"'), starting from `state`."""
    i = 0
    while i < len(text):
        c = text[i]
        if state == "'":
            state = "" if c == "'" else state
        elif c == "\\":
            i += 1  # the next character is escaped (outside quotes and inside "...")
        elif state == '"':
            state = "" if c == '"' else state
        elif c in "'\"":
            state = c
        i += 1
    return state


_EXPANSION = {"": '"${{{}}}"', '"': "${{{}}}", "'": "'\"${{{}}}\"'"}


def safe_command(command: str, inputs: tuple[tuple[str, Any], ...]) -> tuple[str, tuple[tuple[str, Any], ...]]:
    """(command, extra inputs): every `$[ ]` of the command replaced by a quoted expansion
    of an environment variable holding its value (see the module docstring)."""
    if "$[" not in command:
        return command, ()
    try:
        parts = ex.split(command, ex.RUN_TIME)
    except ex.ExpressionSyntaxError:
        return command, ()  # reported by validate; the command is never built
    taken = {name for name, _ in inputs}
    out: list[str] = []
    extra: list[tuple[str, Any]] = []
    state = ""
    for part in parts:
        if isinstance(part, str):
            out.append(part.replace("$[", "\\$["))  # a literal `\$[` stays literal
            state = _quote_state(part, state)
            continue
        unquoted = ex.raw_source(part.source)
        if unquoted is not None:
            out.append(f"$[ {unquoted} ]")
            continue
        n = len(extra)
        while f"{PREFIX}{n}" in taken:
            n += 1
        name = f"{PREFIX}{n}"
        taken.add(name)
        extra.append((name, f"$[ {part.source} ]"))
        out.append(_EXPANSION[state].format(name))
    return "".join(out), tuple(extra)
