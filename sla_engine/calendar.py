"""Business-calendar arithmetic: the pure rule behind every SLA due time.

The router asks "when is this chat's first response due?" and the SLA timer asks "how much
working time has this chat used?". Both are answered here from plain values (no ORM), so the
rules can be property-tested and reused by analytics.

Semantics, fixed here so every caller agrees:

- Working intervals are local wall-clock times of the calendar's time zone, per weekday
  (0 = Monday ... 6 = Sunday). An interval whose end is at or before its start is an overnight
  shift: it runs past midnight and belongs to the day it starts on (``22:00-06:00`` on Friday
  covers Friday night into Saturday morning; ``00:00-00:00`` is a 24-hour shift).
- ``24:00`` is accepted as an *end* (``BusinessCalendar.simple``, ``parse_clock(end=True)``):
  the end of the day, the same instant as the next day's ``00:00``. It is stored as
  ``time(0)``, which the overnight rule above already reads as "midnight after the start", so
  ``18:00-24:00`` is the evening and ``00:00-24:00`` the whole day (as ``00:00-00:00`` is);
  ``00:00-23:59`` would lose a minute a day. ``24:00`` is never a start.
- Intervals are half-open ``[start, end)``: the closing instant is not working time.
- Durations are real elapsed time between the UTC instants of the local start and end, so a
  ``22:00-06:00`` shift is 7 hours on a spring-forward night and 9 on a fall-back night.
- Local times are resolved with zoneinfo's ``fold=0`` rule: an ambiguous time (autumn) means its
  first occurrence; a time that does not exist (spring gap) is read with the offset in force
  before the change, so Berlin's ``02:30`` on 2026-03-29 is the instant 03:30 CEST. An interval
  that collapses to nothing this way on one day is simply empty that day.
- A holiday (country/subdivision public holidays, or a custom date) suppresses the shifts that
  START on that local date; an overnight shift started the day before still runs into it.
- Overlapping intervals (including an overnight shift running into the next day's shift) count
  once.
- Minutes are rounded to the nearest microsecond.
"""

from __future__ import annotations

import functools
import heapq
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_lib

__all__ = [
    "END_OF_DAY",
    "BusinessCalendar",
    "add_business_minutes",
    "business_minutes_between",
    "is_working_time",
    "next_working_moment",
    "parse_clock",
]

Interval = tuple[time, time]

_ONE_DAY = timedelta(days=1)
# Bound on how far a local wall-clock time can sit from UTC (today's extremes are +14:00 and
# -12:00; some historic local-mean-time offsets exceed 15 hours). It lets the span generator
# know when no later day can still produce a span starting before a given instant.
_MAX_UTC_OFFSET = timedelta(hours=24)
# Days looked back from the query instant: an overnight shift started that long ago may still run.
_LOOKBACK_DAYS = 3
_WEEKDAYS = range(7)


@functools.lru_cache(maxsize=512)
def _public_holidays(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    """Public holiday dates of one year, cached: the `holidays` package builds them slowly."""
    return frozenset(holidays_lib.country_holidays(country, subdiv=subdivision, years=year))


END_OF_DAY = "24:00"
"""How the end of the day is written (as an interval's end only)."""


def parse_clock(value: time | str, *, end: bool = False) -> time:
    """A local wall-clock time from a ``time`` or an ISO ``HH:MM[:SS]`` string.

    With ``end=True``, ``24:00`` (or ``24:00:00``) is the end of the day and comes back as
    ``time(0)`` (see the module docstring); anywhere else it raises ``ValueError``.
    """
    if isinstance(value, time):
        return value
    if value.strip() in (END_OF_DAY, f"{END_OF_DAY}:00"):
        if not end:
            raise ValueError("24:00 ends a day; it cannot start an interval")
        return time(0)
    return time.fromisoformat(value)


def _parse_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


@dataclass(frozen=True)
class BusinessCalendar:
    """When an SLA clock runs: weekly working intervals in a time zone, minus holidays.

    Equal calendars hash equally (the intervals are normalised to sorted tuples), so a
    calendar can key a cache even though ``intervals`` is a dict.
    """

    timezone: str
    intervals: dict[int, tuple[Interval, ...]]
    holiday_country: str | None = None
    holiday_subdivision: str | None = None
    custom_holidays: frozenset[date] = frozenset()
    _zone: ZoneInfo = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            zone = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {self.timezone!r}") from exc
        object.__setattr__(self, "_zone", zone)

        normalised: dict[int, tuple[Interval, ...]] = {}
        for weekday, day_intervals in self.intervals.items():
            if weekday not in _WEEKDAYS:
                raise ValueError(f"weekday must be 0 (Monday) to 6 (Sunday), got {weekday!r}")
            for start, end in day_intervals:
                if start.tzinfo is not None or end.tzinfo is not None:
                    raise ValueError("interval times are local wall-clock times: no tzinfo")
            if day_intervals:
                normalised[weekday] = tuple(sorted(day_intervals))
        # A private copy: the dataclass is frozen, and the caller's dict must not change it.
        object.__setattr__(self, "intervals", dict(sorted(normalised.items())))
        object.__setattr__(self, "custom_holidays", frozenset(self.custom_holidays))

        if self.holiday_subdivision is not None and self.holiday_country is None:
            raise ValueError("holiday_subdivision needs holiday_country")
        if self.holiday_country is not None:
            # Fail at configuration time, not in the SLA timer at 3 a.m.
            try:
                holidays_lib.country_holidays(self.holiday_country, subdiv=self.holiday_subdivision)
            except NotImplementedError as exc:
                raise ValueError(str(exc)) from exc

    def __hash__(self) -> int:
        return hash(
            (
                self.timezone,
                tuple(self.intervals.items()),
                self.holiday_country,
                self.holiday_subdivision,
                self.custom_holidays,
            )
        )

    @classmethod
    def simple(
        cls,
        work_start: time | str,
        work_end: time | str,
        weekdays: Iterable[int],
        include_weekends: bool,
        timezone: str,
        holiday_country: str | None = None,
        holiday_subdivision: str | None = None,
        holidays: Iterable[date | str] = (),
    ) -> BusinessCalendar:
        """Build from the ChatSLA fields: one interval on each listed weekday.

        ``include_weekends`` adds Saturday and Sunday; times may be ``HH:MM`` strings
        (``work_end`` may be ``24:00``) and holidays ISO dates, as the API stores them.
        """
        days = set(weekdays)
        if include_weekends:
            days |= {5, 6}
        interval = (parse_clock(work_start), parse_clock(work_end, end=True))
        return cls(
            timezone=timezone,
            intervals=dict.fromkeys(sorted(days), (interval,)),
            holiday_country=holiday_country or None,
            holiday_subdivision=holiday_subdivision or None,
            custom_holidays=frozenset(_parse_date(d) for d in holidays),
        )

    @classmethod
    def always_open(cls, tz: str = "UTC") -> BusinessCalendar:
        """A 24/7 calendar: SLA targets run on the wall clock."""
        midnight = time(0)
        return cls(timezone=tz, intervals=dict.fromkeys(_WEEKDAYS, ((midnight, midnight),)))

    @property
    def has_working_time(self) -> bool:
        return bool(self.intervals)

    def is_holiday(self, day: date) -> bool:
        """Whether shifts starting on this local date are suppressed."""
        if day in self.custom_holidays:
            return True
        if self.holiday_country is None:
            return False
        return day in _public_holidays(self.holiday_country, self.holiday_subdivision, day.year)

    def day_spans(self, day: date) -> list[tuple[datetime, datetime]]:
        """The UTC ``[start, end)`` spans of the shifts starting on a local date (may overlap)."""
        day_intervals = self.intervals.get(day.weekday())
        if not day_intervals or self.is_holiday(day):
            return []
        spans = []
        for start_t, end_t in day_intervals:
            # fold=0 (the default) resolves ambiguous and nonexistent local times; see module doc.
            start = datetime.combine(day, start_t, tzinfo=self._zone).astimezone(UTC)
            end_day = day if end_t > start_t else day + _ONE_DAY
            end = datetime.combine(end_day, end_t, tzinfo=self._zone).astimezone(UTC)
            if end > start:
                spans.append((start, end))
        return spans


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("datetime must be timezone-aware")
    return moment.astimezone(UTC)


def _minutes(value: float) -> timedelta:
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"minutes must be a finite number >= 0, got {value!r}")
    return timedelta(minutes=value)


def _working_spans(
    cal: BusinessCalendar, since: datetime, until: datetime | None = None
) -> Iterator[tuple[datetime, datetime]]:
    """Yield disjoint, ascending UTC working spans ``[s, e)`` with ``e > since``, ``s >= since``.

    Works one local day at a time, so long targets cost one step per day, not per minute.
    Spans are not necessarily maximal (a 24/7 calendar comes out in day-sized pieces), only
    disjoint. Stops once every remaining span starts at or after ``until``, or at the end of
    the representable calendar; never yields anything when the calendar has no intervals.
    """
    if not cal.has_working_time:
        return
    local_day = since.astimezone(cal._zone).date()
    try:
        day = local_day - timedelta(days=_LOOKBACK_DAYS)
    except OverflowError:
        day = date.min
    pending: list[tuple[datetime, datetime]] = []  # heap of spans not yet released
    current: tuple[datetime, datetime] | None = None
    while True:
        try:
            for span in cal.day_spans(day):
                heapq.heappush(pending, span)
            next_day = day + _ONE_DAY
            # Every shift of a later day starts at or after this instant, so spans before it are
            # final: nothing still to come can overlap them.
            horizon = datetime.combine(next_day, time(0), tzinfo=UTC) - _MAX_UTC_OFFSET
        except OverflowError:
            if current is not None and current[1] > since:
                yield max(current[0], since), current[1]
            return
        while pending and pending[0][0] < horizon:
            start, end = heapq.heappop(pending)
            if current is None:
                current = (start, end)
            elif start <= current[1]:
                current = (current[0], max(current[1], end))
            else:
                if current[1] > since:
                    yield max(current[0], since), current[1]
                current = (start, end)
        if current is not None:
            final_end = min(current[1], horizon)
            if current[0] < final_end and final_end > since:
                yield max(current[0], since), final_end
            current = None if current[1] <= horizon else (max(current[0], horizon), current[1])
        if until is not None and horizon >= until:
            return
        day = next_day


def is_working_time(cal: BusinessCalendar, t: datetime) -> bool:
    """Whether the SLA clock runs at instant ``t`` (an interval's closing instant does not)."""
    moment = _as_utc(t)
    for start, _end in _working_spans(cal, moment, until=moment + timedelta(microseconds=1)):
        return start == moment
    return False


def next_working_moment(cal: BusinessCalendar, t: datetime) -> datetime:
    """``t`` itself (in UTC) if it is working time, else the start of the next working span.

    Raises ValueError if the calendar has no working time after ``t``.
    """
    moment = _as_utc(t)
    for start, _end in _working_spans(cal, moment):
        return start
    raise ValueError("calendar has no working time after the given moment")


def add_business_minutes(cal: BusinessCalendar, start: datetime, minutes: float) -> datetime:
    """The earliest instant by which ``minutes`` of working time have passed since ``start``.

    The clock starts at the next working moment if ``start`` is outside working time; adding 0
    returns that moment. For ``minutes > 0`` the instant just before the result is working
    time, but the result itself may be the closing instant of an interval (e.g. 17:00 exactly),
    which is not. Returns an aware UTC datetime; raises ValueError for negative minutes or a
    calendar without working time.
    """
    moment = _as_utc(start)
    remaining = _minutes(minutes)
    for span_start, span_end in _working_spans(cal, moment):
        length = span_end - span_start
        if remaining <= length:
            return span_start + remaining
        remaining -= length
    raise ValueError("calendar has no working time to reach the target")


def business_minutes_between(cal: BusinessCalendar, a: datetime, b: datetime) -> float:
    """Working minutes in ``[a, b)``; 0 when ``b <= a``."""
    begin, end = _as_utc(a), _as_utc(b)
    if end <= begin:
        return 0.0
    total = timedelta(0)
    for span_start, span_end in _working_spans(cal, begin, until=end):
        if span_start >= end:
            break
        total += min(span_end, end) - span_start
    return total / timedelta(minutes=1)
