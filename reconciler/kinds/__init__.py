"""The registry of kinds: every loop of the reconciler (desired, observe, plan, apply,
import) runs over REGISTRY, in this order (which is also the order of import's output).
Adding a kind: one module in this folder and one line here (see reconciler/README.md)."""

from __future__ import annotations

from .automation import AUTOMATION
from .base import ApplyContext, ImportedDoc, Kind, NotImported, ObserveContext
from .block import BLOCK
from .concurrency_limit import GLOBAL_LIMIT, TAG_LIMIT
from .deployment import DEPLOYMENT
from .deployment_trigger import DEPLOYMENT_TRIGGER
from .schedule import SCHEDULE
from .variable import VARIABLE
from .work_pool import WORK_POOL
from .work_queue import WORK_QUEUE

REGISTRY: tuple[Kind, ...] = (
    WORK_POOL,
    WORK_QUEUE,
    GLOBAL_LIMIT,
    TAG_LIMIT,
    VARIABLE,
    BLOCK,
    DEPLOYMENT,
    SCHEDULE,
    AUTOMATION,
    DEPLOYMENT_TRIGGER,
)
KINDS: dict[str, Kind] = {k.name: k for k in REGISTRY}


def kind_of(address: str) -> Kind:
    """The kind of an address (`<kind>.<name>`)."""
    return KINDS[address.partition(".")[0]]


__all__ = ["KINDS", "REGISTRY", "ApplyContext", "ImportedDoc", "Kind", "NotImported", "ObserveContext", "kind_of"]
