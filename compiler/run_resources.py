"""Run-time roots that read the server inside a flow run: `$[ secrets.NAME ]` (a Secret
block's value), `$[ variables.NAME ]` (a Prefect Variable; a `sensitive: true` Variable is
a Secret block, read as one) and `$[ blocks.TYPE.NAME ]` (a block, loaded). Resolved
lazily through Prefect (Secret.load, Variable.get, Block.load): only what an expression
reads is fetched, once per run process.

Every secret value read is masked in the run's logs: a filter on the handlers of Prefect's
loggers (the API handler included) replaces it, in every escaped and encoded form
(pipeform/masking.py), before a record is formatted or sent. So a shell task that echoes
it, a print() with log_prints, or an exception message never puts it on the server."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from pipeform import masking
from pipeform.spec.models.block import variable_secret_name

_SECRETS: set[str] = set()
_LOGGERS = ("", "prefect", "prefect.flow_runs", "prefect.task_runs")


class _Mask(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if _SECRETS:
            text = record.getMessage()
            clean = masking.scrub(text, _SECRETS)
            if clean != text:
                record.msg, record.args = clean, ()
        return True


_FILTER = _Mask()


def _install_filter() -> None:
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        for handler in logger.handlers:
            if _FILTER not in handler.filters:
                handler.addFilter(_FILTER)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


def secret(value: Any) -> Any:
    """Register a secret value (str, or the strings inside a JSON value) for masking."""
    if isinstance(value, str):
        _SECRETS.add(value)
    elif isinstance(value, dict):
        for v in value.values():
            secret(v)
    elif isinstance(value, list):
        for v in value:
            secret(v)
    _install_filter()  # handlers may have been set up since (Prefect configures logging late)
    return value


class Lazy(Mapping[str, Any]):
    """A mapping that loads a key on first read (KeyError when the loader finds nothing)."""

    def __init__(self, load: Callable[[str], Any]):
        self._load = load
        self._cache: dict[str, Any] = {}

    def __getitem__(self, key: str) -> Any:
        if key not in self._cache:
            self._cache[key] = self._load(key)
        return self._cache[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._cache)  # what was read; the server's full list is never fetched

    def __len__(self) -> int:
        return len(self._cache)


def _sync(coro: Any) -> Any:
    """Run a Prefect coroutine from the (sync) task or flow body, in or out of an event loop."""
    from prefect.utilities.asyncutils import run_coro_as_sync

    return run_coro_as_sync(coro)


def _secret(name: str) -> Any:
    from prefect.blocks.system import Secret

    try:
        return secret(_sync(Secret.aload(name)).get())
    except ValueError as exc:  # Prefect: "Unable to find block document named ..."
        raise KeyError(name) from exc


def _variable(name: str) -> Any:
    """A Prefect Variable, else the Secret block a `sensitive: true` Variable is stored as
    (such a Variable is never a Prefect variable)."""
    from prefect.variables import Variable

    missing = "\0pipeform-missing"  # a Variable value is JSON: it cannot hold this
    value = _sync(Variable.aget(name, default=missing))
    if value == missing:
        return _secret(variable_secret_name(name))
    return value


def _blocks_of(slug: str) -> Lazy:
    def load(name: str) -> Any:
        from prefect.blocks.core import Block

        try:
            return _sync(Block.aload(f"{slug}/{name}"))
        except ValueError as exc:
            raise KeyError(name) from exc

    return Lazy(load)


def resource_context() -> dict[str, Mapping[str, Any]]:
    """The `secrets`, `variables` and `blocks` roots of one flow run's expressions."""
    return {"secrets": Lazy(_secret), "variables": Lazy(_variable), "blocks": Lazy(_blocks_of)}


def read_secret(name: str) -> Any:
    """`$[ secrets.NAME ]` in emitted code."""
    return _secret(name)


def read_variable(name: str) -> Any:
    """`$[ variables.NAME ]` in emitted code."""
    return _variable(name)


def read_block(slug: str, name: str) -> Any:
    """`$[ blocks.TYPE.NAME ]` in emitted code."""
    return _blocks_of(slug)[name]
