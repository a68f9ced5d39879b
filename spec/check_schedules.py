"""A schedule's cron, interval, rrule and time zone, validated by Prefect's own schedule
classes (the only import of Prefect in the checks)."""

from __future__ import annotations

from functools import lru_cache

from pipeform import diskcache


@lru_cache(maxsize=1024)
def schedule_error(
    cron: str | None, interval: float | None, rrule: str | None, timezone: str | None, day_or: bool | None
) -> str | None:
    """Validate with Prefect's own schedule classes (imported lazily: they pull in Prefect,
    about 1 s). A schedule found valid is remembered in pipeform's disk cache, so a project
    whose schedules did not change loads without importing Prefect."""
    key = (cron, interval, rrule, timezone, day_or, diskcache.versions("prefect", "pydantic", "tzdata"))
    if diskcache.get("schedules", key) == "valid":
        return None
    error = _schedule_error(cron, interval, rrule, timezone, day_or)
    if error is None:  # only successes: an error is reported again, with Prefect's message
        diskcache.put("schedules", key, "valid")
    return error


def _schedule_error(
    cron: str | None, interval: float | None, rrule: str | None, timezone: str | None, day_or: bool | None
) -> str | None:
    from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule, RRuleSchedule
    from pydantic import ValidationError

    try:
        if cron is not None:
            CronSchedule(cron=cron, timezone=timezone, **({"day_or": day_or} if day_or is not None else {}))
        elif interval is not None:
            IntervalSchedule.model_validate(
                {"interval": interval, "timezone": timezone}
            )  # seconds, as Prefect takes them
        elif rrule is not None:
            RRuleSchedule(rrule=rrule, timezone=timezone)
    except ValidationError as exc:
        return "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
    except Exception as exc:  # Prefect raises plain ValueErrors from some validators
        return str(exc).splitlines()[0]
    return None
