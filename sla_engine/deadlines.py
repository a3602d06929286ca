"""Due times of a chat from its company's SLA policy for its priority.

The clock starts when the chat's first message arrived. Targets are business minutes on the
policy's calendar (working hours, weekdays, time zone, holidays). Under a policy that pauses
while the chat waits on the customer, the resolution clock stops during those waits
(`paused_due`); the first-response clock never pauses (nobody has answered yet).

`due_times`, `paused_due` and `warning_times` are pure: calendars and plain values in, instants
out, so the timer, the actions and analytics agree and the rules can be property-tested.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from sla_engine.calendar import (
    BusinessCalendar,
    add_business_minutes,
    business_minutes_between,
    parse_clock,
)
from sla_engine.models import ChatSLA

Pause = tuple[dt.datetime, dt.datetime]


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


def calendar_from_fields(fields: Mapping[str, Any]) -> BusinessCalendar:
    """The calendar of a stored ``calendar`` object (a queue's: the SLA policy's fields as the
    API writes them, with their defaults). Raises ValueError/TypeError/KeyError on a bad one."""
    return _calendar(
        fields.get("work_start", "09:00"),
        fields.get("work_end", "17:00"),
        tuple(fields.get("weekdays", (0, 1, 2, 3, 4))),
        bool(fields.get("include_weekends", False)),
        fields.get("timezone", "UTC"),
        fields.get("holiday_country") or None,
        fields.get("holiday_subdivision") or None,
        tuple(fields.get("holidays", ())),
        tuple(tuple(pair) for pair in fields.get("work_intervals") or ()),
    )


@functools.lru_cache(maxsize=1024)
def _calendar(
    work_start: dt.time | str,
    work_end: dt.time | str,
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
        (parse_clock(start), parse_clock(end, end=True)) for start, end in work_intervals
    )
    days = dict.fromkeys(base.intervals, intervals)
    return BusinessCalendar(
        timezone=base.timezone,
        intervals=days,
        holiday_country=base.holiday_country,
        holiday_subdivision=base.holiday_subdivision,
        custom_holidays=base.custom_holidays,
    )


def policy_for(company_id: int, priority: str, queue_id: int | None = None) -> ChatSLA | None:
    """The chat's queue's own policy for the priority, else the company's."""
    candidates = ChatSLA.objects.unscoped().filter(company_id=company_id, priority=priority)
    if queue_id is None:
        return candidates.filter(queue__isnull=True).first()
    return pick_policy(index_policies(candidates), company_id, queue_id, priority)


PolicyIndex = dict[tuple[int, int | None, str], ChatSLA]


def index_policies(policies: Iterable[ChatSLA]) -> PolicyIndex:
    """Policies by (company, queue or None for the company's own, priority)."""
    return {(p.company_id, p.queue_id, p.priority): p for p in policies}


def pick_policy(
    index: PolicyIndex, company_id: int, queue_id: int | None, priority: str
) -> ChatSLA | None:
    """A queue's own policy for the priority wins over the company's (routing_service/queues)."""
    if queue_id is not None:
        policy = index.get((company_id, queue_id, priority))
        if policy is not None:
            return policy
    return index.get((company_id, None, priority))


def due_times(policy: ChatSLA | None, started_at: dt.datetime) -> DueTimes:
    if policy is None:
        return NO_SLA
    calendar = calendar_for(policy)
    return DueTimes(
        add_business_minutes(calendar, started_at, policy.first_response_minutes),
        add_business_minutes(calendar, started_at, policy.resolution_minutes),
    )


def paused_due(
    calendar: BusinessCalendar, start: dt.datetime, minutes: float, pauses: Iterable[Pause]
) -> dt.datetime:
    """When `minutes` of working time have run since `start`, the clock stopped during `pauses`.

    Each pause pushes the due time forward by its business minutes — but only a pause that
    began before the (so far) due instant: once the target is missed, waiting on the customer
    does not un-miss it. Overlapping pauses count once.
    """
    due = add_business_minutes(calendar, start, minutes)
    counted_until = start
    for begin, end in sorted(pauses):
        begin = max(begin, counted_until)
        if end <= begin:
            continue
        if begin >= due:
            break
        due = add_business_minutes(calendar, due, business_minutes_between(calendar, begin, end))
        counted_until = end
    return due


def warning_times(
    calendar: BusinessCalendar,
    started_at: dt.datetime,
    policy: ChatSLA,
    pauses: Iterable[Pause] = (),
) -> DueTimes:
    """When `warning_percent` of each target has run (None at 100 %: the breach says it all)."""
    if policy.warning_percent >= 100:
        return NO_SLA
    share = policy.warning_percent / 100
    return DueTimes(
        add_business_minutes(calendar, started_at, policy.first_response_minutes * share),
        paused_due(calendar, started_at, policy.resolution_minutes * share, pauses),
    )


def resolution_due(
    policy: ChatSLA | None, started_at: dt.datetime, pauses: Iterable[Pause]
) -> dt.datetime | None:
    """The resolution due time with the pauses the policy allows (none: same as `due_times`)."""
    if policy is None:
        return None
    calendar = calendar_for(policy)
    if not policy.pause_while_waiting_on_customer:
        pauses = ()
    return paused_due(calendar, started_at, policy.resolution_minutes, pauses)
