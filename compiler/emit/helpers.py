"""Small functions an emitted module defines for itself when it needs them (written out,
so the module does not depend on pipeform for them), and the imports each one needs."""

from __future__ import annotations

HELPERS = {
    "SKIPPED": """\
SKIPPED = object()  # the value of a task that did not run""",
    "skip": '''\
def skip(name: str, why: str) -> object:
    """Record a task that does not run as a task run of its own, Completed and named "Skipped"."""

    def skipped() -> State:
        return Completed(name="Skipped", message=f"skipped: {why}")

    task(skipped, name=name, cache_policy=NO_CACHE, description=f"skipped: {why}")()
    return SKIPPED''',
    "raise_failures": '''\
def raise_failures(futures: dict[str, Any]) -> None:
    """Fail the flow run unless every task run completed (mapped tasks: every one)."""
    failed = []
    for name, value in futures.items():
        for future in value if isinstance(value, list) else [value]:
            if isinstance(future, PrefectFuture):
                future.wait()
                if not future.state.is_completed():
                    failed.append(f"{name} ({future.state.name}: {future.state.message or ''})".strip())
    if failed:
        raise RuntimeError("tasks did not complete: " + "; ".join(failed))''',
    "as_text": '''\
def as_text(value: Any) -> str:
    """A value written into a string as pipeform writes it: true/false, nothing for None."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)''',
    "retry_on": '''\
def retry_on(*names: str) -> Callable[..., bool]:
    """A retry condition: retry only when the exception's class (or a base) is named."""

    def should_retry(task: Any, task_run: Any, state: State) -> bool:
        exc = state.result(raise_on_failure=False)
        classes = type(exc).__mro__ if isinstance(exc, BaseException) else ()
        return any(n in (c.__name__, f"{c.__module__}.{c.__name__}") for c in classes for n in names)

    return should_retry''',
    "param_arg": '''\
def param_arg(text: str) -> tuple[str, Any]:
    """--param NAME=VALUE: the value is read as JSON when it parses, else taken as a string."""
    name, sep, raw = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    try:
        return name, json.loads(raw)
    except json.JSONDecodeError:
        return name, raw''',
}
# what each helper needs: (module, name) imports
HELPER_IMPORTS = {
    "skip": [
        ("prefect", "task"),
        ("prefect.cache_policies", "NO_CACHE"),
        ("prefect.states", "Completed"),
        ("prefect.states", "State"),
        ("", "SKIPPED"),
    ],
    "raise_failures": [("typing", "Any"), ("prefect.futures", "PrefectFuture")],
    "as_text": [("typing", "Any")],
    "retry_on": [("collections.abc", "Callable"), ("typing", "Any"), ("prefect.states", "State")],
    "param_arg": [("argparse", ""), ("json", ""), ("typing", "Any")],
}

ORDER = ("SKIPPED", "skip", "raise_failures", "as_text", "retry_on", "param_arg")  # as they appear in a module
