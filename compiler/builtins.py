"""Small callables usable from YAML as `pipeform.compiler.builtins:NAME`."""

from __future__ import annotations

from typing import Any


def identity(value: Any = None) -> Any:
    """Return the value unchanged."""
    return value


def length(value: Any) -> int:
    """len(value); for a string, its number of characters."""
    return len(value)


def log(message: str) -> str:
    """Print a message (with log_prints it lands in the run logs) and return it."""
    print(message)
    return message
