"""Bounds on compile-time expressions, which come from files that may be untrusted.

Two limits, each reported at the expression's string:
- size (`value.too-large`): no value an expression builds, intermediate or final, holds
  more than MAX_VALUE_SIZE characters or items (nested values counted as serialized).
  Operations that multiply sizes (`'a' * n`, `[1] * n`, `'x'|center(n)`, `sep.join(...)`,
  `replace`, format widths, `**`) are checked *before* they run, so nothing large is ever
  allocated; every other operation's result is measured after it runs.
- time (`expr.timeout`): each expression gets EXPR_SECONDS, and all the expressions of one
  load share LOAD_SECONDS. The clock is checked at every call, filter and operator, and
  (in the main thread) a timer signal interrupts a long pure-Python filter.
"""

from __future__ import annotations

import functools
import math
import re
import signal
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from jinja2 import nodes

MAX_VALUE_SIZE = 1024 * 1024  # characters of a string, items of a list or mapping (nested: all of them)
MAX_INT_BITS = 14_000  # about 4,200 decimal digits: Python's own limit for printing an int is 4,300
EXPR_SECONDS = 0.25  # per expression
LOAD_SECONDS = 1.0  # every compile-time expression of one load together
_WIDTH = re.compile(r"\d{7,}")  # a field width or precision of a million or more in a format string
_NESTED = re.compile(r"\{[^{}]*\{")  # str.format with a width taken from an argument: '{:>{}}'


class ExpressionLimit(Exception):
    """An expression went over a limit: code is value.too-large or expr.timeout."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


class ExpressionFailed(Exception):
    """An expression raised (1/0, 1 + 'a', (10**400)|float): the expression's fault."""


def _too_large(what: str) -> ExpressionLimit:
    return ExpressionLimit("value.too-large", f"{what} would be larger than {MAX_VALUE_SIZE} characters or items")


def measure(value: Any, limit: int = MAX_VALUE_SIZE) -> int:
    """Size of a value as serialized (characters + items, nested), counting no further than limit+1."""
    total, stack = 0, [value]
    while stack and total <= limit:
        v = stack.pop()
        if isinstance(v, str | bytes):
            total += len(v)
        elif isinstance(v, int) and not isinstance(v, bool):
            total += 1 if -(10**18) < v < 10**18 else v.bit_length() // 3
        elif isinstance(v, Mapping):
            total += len(v)
            stack.extend(v.keys())
            stack.extend(v.values())
        elif isinstance(v, list | tuple | set | frozenset):
            total += len(v)
            stack.extend(v)
        else:
            total += 1
    return total


def check_size(value: Any) -> Any:
    if measure(value) > MAX_VALUE_SIZE:
        raise _too_large("the value")
    return value


class Budget:
    """Time allowed to the compile-time expressions of one load."""

    def __init__(self, total: float = LOAD_SECONDS, each: float = EXPR_SECONDS):
        self.left, self.each = total, each

    @contextmanager
    def running(self) -> Iterator[None]:
        if self.left <= 0:
            raise ExpressionLimit("expr.timeout", "compile-time expressions ran out of time for this project")
        allowed = min(self.each, self.left)
        start = time.monotonic()
        token = _STATE.deadline
        _STATE.deadline = start + allowed
        alarm = _arm(allowed)
        try:
            yield
        finally:
            _disarm(alarm)
            _STATE.deadline = token
            self.left -= time.monotonic() - start


class _State(threading.local):
    deadline: float | None = None


_STATE = _State()


def tick() -> None:
    deadline = _STATE.deadline
    if deadline is not None and time.monotonic() > deadline:
        raise ExpressionLimit("expr.timeout", f"the expression ran for more than {EXPR_SECONDS} s")


def _on_alarm(signum: int, frame: Any) -> None:
    tick()


def _arm(seconds: float) -> bool:
    """Interrupt a long pure-Python filter in the main thread, unless someone else owns SIGALRM."""
    if threading.current_thread() is not threading.main_thread():
        return False
    if signal.getsignal(signal.SIGALRM) not in (signal.SIG_DFL, signal.SIG_IGN, None):
        return False
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds + 0.01, 0.05)  # repeats until disarmed
    return True


def _disarm(armed: bool) -> None:
    if armed:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_DFL)


# --- prechecks of the operations that multiply sizes ------------------------------------


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_repeat(seq: Any, times: Any) -> None:
    repeats = _int(times) and isinstance(seq, str | bytes | list | tuple) and times > 0
    if repeats and measure(seq) * times > MAX_VALUE_SIZE:
        raise _too_large("the repeated value")


def _check_format(fmt: Any, args: tuple[Any, ...]) -> None:
    if isinstance(fmt, str) and _WIDTH.search(fmt):
        raise _too_large("a formatted field")
    takes_width = isinstance(fmt, str) and ("*" in fmt or _NESTED.search(fmt))
    if takes_width and any(_int(a) and abs(a) > MAX_VALUE_SIZE for a in args):
        raise _too_large("a formatted field")


def _check_binop(operator: str, left: Any, right: Any) -> None:
    if operator == "*":
        _check_repeat(left, right)
        _check_repeat(right, left)
        if _int(left) and _int(right) and left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise _too_large("the product")
    elif operator == "**" and _int(left) and _int(right) and right > 0 and abs(left) > 1:
        if right * math.log2(abs(left)) > MAX_INT_BITS:
            raise _too_large("the power")
    elif operator == "%":
        _check_format(left, right if isinstance(right, tuple) else (right,))
    elif operator == "+" and measure(left) + measure(right) > MAX_VALUE_SIZE:
        raise _too_large("the sum")


# Filters built on regular expressions or quadratic text handling (a single long C call
# that no signal interrupts): their input is capped.
_TEXT_FILTERS = {"wordwrap", "urlize", "striptags", "title", "wordcount", "truncate"}
MAX_TEXT_FILTER_INPUT = 64 * 1024

_WIDTH_ARGS = {"center", "ljust", "rjust", "zfill", "expandtabs", "indent", "wordwrap", "slice", "batch"}


def _check_call(name: str, target: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """`name` is a filter's or a method's name; target the value it applies to."""
    values = (*args, *kwargs.values())
    if name in _TEXT_FILTERS and isinstance(target, str) and len(target) > MAX_TEXT_FILTER_INPUT:
        raise ExpressionLimit("value.too-large", f"{name} takes at most {MAX_TEXT_FILTER_INPUT} characters")
    if name in _WIDTH_ARGS and any(_int(a) and abs(a) > MAX_VALUE_SIZE for a in values):
        raise _too_large(f"the result of {name}")
    if name in ("format", "format_map"):
        _check_format(target, values)
        if any(isinstance(a, str) and _WIDTH.search(a) for a in values):
            raise _too_large("a formatted field")
    elif name == "join":  # the items were made a list by _listed
        seps = [a for a in values if isinstance(a, str)]
        items = target if isinstance(target, list | tuple) else None
        if isinstance(target, str) and args:  # str.join(iterable)
            seps, items = [target], args[0] if isinstance(args[0], list | tuple) else None
        if items is not None and len(items) * len(seps[0] if seps else "") + measure(items) > MAX_VALUE_SIZE:
            raise _too_large("the joined string")
    elif name == "replace" and isinstance(target, str) and len(args) >= 2:
        old, new = args[0], args[1]
        if isinstance(old, str) and isinstance(new, str):
            count = target.count(old) if old else len(target) + 1
            if len(target) + count * len(new) > MAX_VALUE_SIZE:
                raise _too_large("the replaced string")


class LimitedMixin:
    """Sandbox hooks (jinja2.sandbox.SandboxedEnvironment) with the checks above."""

    intercepted_binops = frozenset({"*", "**", "%", "+", "//", "-", "/"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        tick()
        _check_binop(operator, left, right)
        return check_size(super().call_binop(context, operator, left, right))  # type: ignore[misc]

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        tick()
        name = getattr(__obj, "__name__", "")
        target = __obj.fmt if isinstance(__obj, _Format) else getattr(__obj, "__self__", None)
        if name == "join" and args:
            args = (_listed(args[0]), *args[1:])
        _check_call(name, target, args, kwargs)
        return check_size(super().call(__context, __obj, *args, **kwargs))  # type: ignore[misc]

    def getattr(self, obj: Any, attribute: str) -> Any:
        tick()
        found = super().getattr(obj, attribute)  # type: ignore[misc]
        if isinstance(obj, str) and attribute in ("format", "format_map") and callable(found):
            return _Format(obj, found, attribute)  # the sandbox's wrapper hides the format string
        return found

    def getitem(self, obj: Any, argument: Any) -> Any:
        tick()
        return super().getitem(obj, argument)  # type: ignore[misc]


class _Format:
    """str.format / format_map of a known format string, so its widths can be checked."""

    def __init__(self, fmt: str, fn: Any, name: str):
        self.fmt, self.fn, self.__name__ = fmt, fn, name

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)


def _listed(items: Any) -> Any:
    """A sized copy of what `join` consumes (a generator from `map`), to check the result first."""
    if isinstance(items, str | list | tuple) or not hasattr(items, "__iter__"):
        return items
    out = []
    for item in items:
        out.append(item)
        if len(out) > MAX_VALUE_SIZE:
            raise _too_large("the joined string")
    return out


def guard_filters(env: Any) -> None:
    """Wrap every filter of env with the time and size checks (filters are called directly,
    not through the sandbox's call, including from `map`)."""
    for name, fn in list(env.filters.items()):
        env.filters[name] = _guarded(name, fn)


def _guarded(name: str, fn: Any) -> Any:
    passes = getattr(fn, "jinja_pass_arg", None)

    @functools.wraps(fn)  # keeps jinja_pass_arg (pass_context, pass_environment ...)
    def run(*args: Any, **kwargs: Any) -> Any:
        tick()
        rest = args[1:] if passes is not None else args
        if name == "join" and rest:
            rest = (_listed(rest[0]), *rest[1:])
            args = (*args[: len(args) - len(rest)], *rest)
        if rest:
            _check_call(name, rest[0], tuple(rest[1:]), kwargs)
        return check_size(fn(*args, **kwargs))

    return run


def concat(*parts: Any) -> str:
    """`a ~ b ~ c` with the size checked before the string is built."""
    tick()
    texts = [p if isinstance(p, str) else str(p) for p in parts]
    if sum(len(t) for t in texts) > MAX_VALUE_SIZE:
        raise _too_large("the joined string")
    return "".join(texts)


GLOBALS = {"_pf_concat": concat}


def route_concat(node: nodes.Node) -> nodes.Node:
    """Replace every `~` (nodes.Concat) in an expression tree by a call of concat()."""
    for child in list(node.iter_child_nodes()):
        route_concat(child)
    for field in node.fields:
        value = getattr(node, field, None)
        if isinstance(value, nodes.Concat):
            setattr(node, field, _as_call(value))
        elif isinstance(value, list):
            setattr(node, field, [_as_call(v) if isinstance(v, nodes.Concat) else v for v in value])
    return _as_call(node) if isinstance(node, nodes.Concat) else node


def _as_call(node: nodes.Concat) -> nodes.Call:
    return nodes.Call(nodes.Name("_pf_concat", "load", lineno=1), list(node.nodes), [], None, None, lineno=1)
