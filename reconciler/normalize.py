"""What every kind's comparable form shares (each kind's own form lives in its module under
kinds/): fields written but never compared, and the spellings of durations and instants
that the specs and the server write differently."""

from __future__ import annotations

import datetime as dt
from typing import Any

NOT_COMPARED = ("version_full", "_secret_sources")  # written, never diffed


def comparable(body: dict[str, Any]) -> dict[str, Any]:
    """Fields that take part in the diff."""
    return {k: v for k, v in body.items() if k not in NOT_COMPARED}


def seconds(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return float(value)


def instant(value: Any) -> str:
    """An ISO timestamp in UTC, whatever spelling the spec or the server used."""
    when = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(dt.UTC).isoformat()
