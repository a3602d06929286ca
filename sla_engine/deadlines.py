"""Due times of a chat from its company's SLA policy for its priority.

The clock starts when the chat's first message arrived. Targets are business minutes on the
policy's calendar (working hours, weekdays, time zone, holidays).
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import NamedTuple

from sla_engine.calendar import BusinessCalendar, add_business_minutes
from sla_engine.models import ChatSLA


class DueTimes(NamedTuple):
    first_response: dt.datetime | None
    resolution: dt.datetime | None


NO_SLA = DueTimes(None, None)


def calendar_for(policy: ChatSLA) -> BusinessCalendar:
    """The business calendar a policy describes (explicit intervals win over start/end)."""
    return _calendar(
        policy.work_start,
        policy.work_end,
        tuple(policy.weekdays),
        policy.include_weekends,
        policy.timezone,
        policy.holiday_country or None,
        policy.holiday_subdivision or None,
        tuple(policy.holidays),
        tuple(tuple(pair) for pair in policy.work_intervals),
    )


@functools.lru_cache(maxsize=1024)
def _calendar(
    work_start: dt.time,
    work_end: dt.time,
    weekdays: tuple[int, ...],
    include_weekends: bool,
    timezone: str,
    holiday_country: str | None,
    holiday_subdivision: str | None,
    holidays: tuple[str, ...],
    work_intervals: tuple[tuple[str, ...], ...],
) -> BusinessCalendar:
    # Cached: building a calendar validates its holiday country, too slow for every message.
    base = BusinessCalendar.simple(
        work_start=work_start,
        work_end=work_end,
        weekdays=weekdays,
        include_weekends=include_weekends,
        timezone=timezone,
        holiday_country=holiday_country,
        holiday_subdivision=holiday_subdivision,
        holidays=holidays,
    )
    if not work_intervals:
        return base
    intervals = tuple(
        (dt.time.fromisoformat(start), dt.time.fromisoformat(end)) for start, end in work_intervals
    )
    days = dict.fromkeys(base.intervals, intervals)
    return BusinessCalendar(
        timezone=base.timezone,
        intervals=days,
        holiday_country=base.holiday_country,
        holiday_subdivision=base.holiday_subdivision,
        custom_holidays=base.custom_holidays,
    )


def policy_for(company_id: int, priority: str) -> ChatSLA | None:
    return ChatSLA.objects.unscoped().filter(company_id=company_id, priority=priority).first()


def due_times(policy: ChatSLA | None, started_at: dt.datetime) -> DueTimes:
    if policy is None:
        return NO_SLA
    calendar = calendar_for(policy)
    return DueTimes(
        add_business_minutes(calendar, started_at, policy.first_response_minutes),
        add_business_minutes(calendar, started_at, policy.resolution_minutes),
    )
