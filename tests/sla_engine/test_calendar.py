"""Business-calendar arithmetic: hand-checked due times and hypothesis properties.

Pure module, no database: runs with ``pytest -p no:django``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from sla_engine.calendar import (
    BusinessCalendar,
    add_business_minutes,
    business_minutes_between,
    is_working_time,
    next_working_moment,
    parse_clock,
)

LONDON = ZoneInfo("Europe/London")
BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
MON_FRI = (0, 1, 2, 3, 4)
ONE_US = timedelta(microseconds=1)

quick = settings(max_examples=100, deadline=None)


def local(zone: ZoneInfo, *args: int) -> datetime:
    """An aware local datetime, e.g. ``local(LONDON, 2026, 1, 9, 16, 50)``."""
    return datetime(*args, tzinfo=zone)  # type: ignore[arg-type]


def office(
    tz: str = "Europe/London",
    holiday_country: str | None = None,
    holiday_subdivision: str | None = None,
    holidays: tuple[date | str, ...] | list[date | str] = (),
) -> BusinessCalendar:
    """09:00-17:00, Monday to Friday."""
    return BusinessCalendar.simple(
        time(9), time(17), MON_FRI, False, tz, holiday_country, holiday_subdivision, holidays
    )


# --- hand-checked cases -------------------------------------------------------------------


def test_friday_afternoon_target_rolls_over_the_weekend_to_monday_morning() -> None:
    cal = office()
    due = add_business_minutes(cal, local(LONDON, 2026, 1, 9, 16, 50), 30)
    assert due == local(LONDON, 2026, 1, 12, 9, 20)
    assert due.tzinfo is UTC


def test_friday_rollover_in_british_summer_time_is_monday_0920_local() -> None:
    due = add_business_minutes(office(), local(LONDON, 2026, 6, 12, 16, 50), 30)
    assert due == local(LONDON, 2026, 6, 15, 9, 20)
    assert due == datetime(2026, 6, 15, 8, 20, tzinfo=UTC)


def test_public_holidays_are_skipped() -> None:
    # Fri 25 Dec 2026 is Christmas; Boxing Day falls on Saturday and is observed Mon 28 Dec.
    cal = office(holiday_country="GB")
    due = add_business_minutes(cal, local(LONDON, 2026, 12, 24, 16, 50), 30)
    assert due == local(LONDON, 2026, 12, 29, 9, 20)
    assert not is_working_time(cal, local(LONDON, 2026, 12, 25, 10))
    assert is_working_time(office(), local(LONDON, 2026, 12, 25, 10))


def test_subdivision_holidays_apply() -> None:
    # St Andrew's Day (30 Nov, a Monday in 2026) is a bank holiday in Scotland only.
    monday = local(LONDON, 2026, 11, 30, 10)
    assert is_working_time(office(holiday_country="GB"), monday)
    assert not is_working_time(office(holiday_country="GB", holiday_subdivision="SCT"), monday)


def test_custom_holiday_is_skipped() -> None:
    cal = office("Europe/Berlin", holidays=["2026-05-04"])
    due = add_business_minutes(cal, local(BERLIN, 2026, 5, 1, 16, 50), 30)
    assert due == local(BERLIN, 2026, 5, 5, 9, 20)
    # Without a holiday country, 1 May (Labour Day in Germany) is an ordinary Friday.
    assert is_working_time(cal, local(BERLIN, 2026, 5, 1, 16, 50))


def test_overnight_shift_belongs_to_the_day_it_starts_on() -> None:
    cal = BusinessCalendar.simple("22:00", "06:00", MON_FRI, False, "Europe/London")
    # Friday night's shift runs into Saturday; there is no Sunday night shift.
    assert is_working_time(cal, local(LONDON, 2026, 1, 10, 3))
    assert not is_working_time(cal, local(LONDON, 2026, 1, 12, 3))
    assert is_working_time(cal, local(LONDON, 2026, 1, 12, 22))
    due = add_business_minutes(cal, local(LONDON, 2026, 1, 10, 5, 50), 30)
    assert due == local(LONDON, 2026, 1, 12, 22, 20)
    week = business_minutes_between(
        cal, local(LONDON, 2026, 1, 12, 0), local(LONDON, 2026, 1, 19, 0)
    )
    assert week == 5 * 8 * 60


def test_holiday_suppresses_the_shift_starting_that_day_not_the_one_ending_on_it() -> None:
    cal = BusinessCalendar.simple(
        time(22), time(6), MON_FRI, False, "Europe/London", holidays=[date(2026, 1, 16)]
    )
    assert is_working_time(cal, local(LONDON, 2026, 1, 16, 3))  # Thursday's shift
    assert not is_working_time(cal, local(LONDON, 2026, 1, 16, 23))
    assert not is_working_time(cal, local(LONDON, 2026, 1, 17, 3))


def test_lunch_break_between_intervals_is_skipped() -> None:
    split = ((time(9), time(12)), (time(13), time(17)))
    cal = BusinessCalendar("Europe/Berlin", dict.fromkeys(MON_FRI, split))
    assert add_business_minutes(cal, local(BERLIN, 2026, 2, 2, 11, 50), 30) == local(
        BERLIN, 2026, 2, 2, 13, 20
    )
    assert not is_working_time(cal, local(BERLIN, 2026, 2, 2, 12, 30))
    assert next_working_moment(cal, local(BERLIN, 2026, 2, 2, 12, 30)) == local(
        BERLIN, 2026, 2, 2, 13
    )
    day = business_minutes_between(cal, local(BERLIN, 2026, 2, 2, 0), local(BERLIN, 2026, 2, 3, 0))
    assert day == 7 * 60


def test_overlapping_intervals_count_once() -> None:
    cal = BusinessCalendar(
        "UTC",
        {
            0: ((time(9), time(13)), (time(12), time(17))),
            1: ((time(20), time(10)),),  # runs into Wednesday's shift
            2: ((time(9), time(17)),),
        },
    )
    monday = datetime(2026, 2, 2, tzinfo=UTC)
    assert business_minutes_between(cal, monday, monday + timedelta(days=1)) == 8 * 60
    # Tue 20:00 to Wed 17:00 without a break: 21 hours.
    assert business_minutes_between(cal, monday, monday + timedelta(days=7)) == 8 * 60 + 21 * 60


def test_interval_ending_at_midnight_and_24_hour_shift() -> None:
    cal = BusinessCalendar("UTC", {0: ((time(18), time(0)),), 2: ((time(6), time(6)),)})
    monday = datetime(2026, 2, 2, tzinfo=UTC)
    assert business_minutes_between(cal, monday, monday + timedelta(days=7)) == 6 * 60 + 24 * 60
    assert not is_working_time(cal, monday + timedelta(days=1))  # Mon 18:00-24:00 closes here


def test_24_00_ends_the_day_so_round_the_clock_cover_loses_no_minute() -> None:
    every_day = range(7)
    whole = BusinessCalendar.simple("00:00", "24:00", every_day, False, "UTC")
    short = BusinessCalendar.simple("00:00", "23:59", every_day, False, "UTC")
    monday = datetime(2026, 2, 2, tzinfo=UTC)
    week = monday + timedelta(days=7)
    assert business_minutes_between(whole, monday, week) == 7 * 24 * 60
    assert business_minutes_between(short, monday, week) == 7 * 24 * 60 - 7
    assert is_working_time(whole, monday + timedelta(hours=23, minutes=59, seconds=59))
    # A day's target of 24 hours, started at midnight, is due at the next midnight.
    assert add_business_minutes(whole, monday, 24 * 60) == monday + timedelta(days=1)


def test_an_evening_shift_to_24_00_belongs_to_its_own_day() -> None:
    cal = BusinessCalendar.simple("18:00", "24:00", [0], False, "Europe/London")
    monday = local(LONDON, 2026, 2, 2)
    assert business_minutes_between(cal, monday, monday + timedelta(days=7)) == 6 * 60
    assert is_working_time(cal, local(LONDON, 2026, 2, 2, 23, 59))
    assert not is_working_time(cal, local(LONDON, 2026, 2, 3, 0, 0))


def test_24_00_is_only_an_end() -> None:
    assert parse_clock("24:00", end=True) == time(0)
    assert parse_clock("24:00:00", end=True) == time(0)
    assert parse_clock("17:30", end=True) == time(17, 30)
    with pytest.raises(ValueError, match="24:00"):
        parse_clock("24:00")
    with pytest.raises(ValueError, match="24:00"):
        BusinessCalendar.simple("24:00", "06:00", MON_FRI, False, "UTC")
    with pytest.raises(ValueError):
        parse_clock("24:30", end=True)


@given(
    start=st.times().map(lambda t: t.replace(second=0, microsecond=0)),
    tz=st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"]),
    weekdays=st.sets(st.integers(0, 6), min_size=1),
)
@quick
def test_24_00_is_the_same_end_as_midnight_after_the_start(
    start: time, tz: str, weekdays: set[int]
) -> None:
    written = BusinessCalendar.simple(start, "24:00", weekdays, False, tz)
    assert written == BusinessCalendar.simple(start, time(0), weekdays, False, tz)
    # Every shift runs from its start to the next local midnight, never past it.
    day = date(2026, 3, 2)  # a Monday
    for offset in range(14):
        current = day + timedelta(days=offset)
        spans = written.day_spans(current)
        if current.weekday() not in weekdays:
            assert spans == []
            continue
        zone = ZoneInfo(tz)
        midnight = datetime.combine(current + timedelta(days=1), time(0), tzinfo=zone)
        assert [end for _, end in spans] == [midnight.astimezone(UTC)]


def test_due_time_can_be_exactly_the_closing_instant() -> None:
    cal = office()
    due = add_business_minutes(cal, local(LONDON, 2026, 1, 9, 16, 30), 30)
    assert due == local(LONDON, 2026, 1, 9, 17)
    assert not is_working_time(cal, due)
    assert is_working_time(cal, due - ONE_US)


def test_adding_zero_moves_to_the_next_working_moment() -> None:
    cal = office()
    inside = local(LONDON, 2026, 1, 9, 10, 15)
    assert add_business_minutes(cal, inside, 0) == inside
    assert add_business_minutes(cal, local(LONDON, 2026, 1, 9, 17), 0) == local(
        LONDON, 2026, 1, 12, 9
    )


def test_spring_forward_night_shift_is_seven_real_hours() -> None:
    cal = BusinessCalendar.simple("22:00", "06:00", [5], False, "Europe/Berlin")
    saturday = local(BERLIN, 2026, 3, 28, 22)
    assert business_minutes_between(cal, saturday, saturday + timedelta(days=1)) == 7 * 60
    due = add_business_minutes(cal, saturday, 400)
    assert due == local(BERLIN, 2026, 3, 29, 5, 40)
    assert due == datetime(2026, 3, 29, 3, 40, tzinfo=UTC)


def test_fall_back_night_shift_is_nine_real_hours() -> None:
    cal = BusinessCalendar.simple("22:00", "06:00", [5], False, "Europe/Berlin")
    saturday = local(BERLIN, 2026, 10, 24, 22)
    assert business_minutes_between(cal, saturday, saturday + timedelta(days=1)) == 9 * 60
    assert add_business_minutes(cal, saturday, 9 * 60) == local(BERLIN, 2026, 10, 25, 6)


def test_office_hours_on_dst_change_days_stay_eight_hours() -> None:
    for zone, day in ((BERLIN, date(2026, 3, 29)), (NEW_YORK, date(2026, 11, 1))):
        cal = BusinessCalendar.simple("09:00", "17:00", range(7), False, str(zone))
        start = datetime.combine(day, time(0), tzinfo=zone)
        end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
        assert business_minutes_between(cal, start, end) == 8 * 60


def test_always_open_runs_on_real_elapsed_time_across_dst() -> None:
    cal = BusinessCalendar.always_open("Europe/Berlin")
    # 01:30 CET + 60 real minutes = 03:30 CEST: the wall clock skips 02:00-03:00.
    assert add_business_minutes(cal, local(BERLIN, 2026, 3, 29, 1, 30), 60) == local(
        BERLIN, 2026, 3, 29, 3, 30
    )
    spring_day = business_minutes_between(
        cal, local(BERLIN, 2026, 3, 29, 0), local(BERLIN, 2026, 3, 30, 0)
    )
    autumn_day = business_minutes_between(
        cal, local(BERLIN, 2026, 10, 25, 0), local(BERLIN, 2026, 10, 26, 0)
    )
    assert (spring_day, autumn_day) == (23 * 60, 25 * 60)


def test_nonexistent_and_ambiguous_interval_bounds_use_fold_zero() -> None:
    sunday_02_04 = BusinessCalendar("Europe/Berlin", {6: ((time(2), time(4)),)})
    spring = local(BERLIN, 2026, 3, 29, 0)
    autumn = local(BERLIN, 2026, 10, 25, 0)
    day = timedelta(days=1)
    # 02:00 does not exist on 29 Mar: read with the CET offset, it is the instant 03:00 CEST.
    assert business_minutes_between(sunday_02_04, spring, spring + day) == 60
    assert next_working_moment(sunday_02_04, spring) == datetime(2026, 3, 29, 1, tzinfo=UTC)
    # 02:00 happens twice on 25 Oct: fold=0 is the first (CEST) one, so the shift is 3 hours.
    assert business_minutes_between(sunday_02_04, autumn, autumn + day) == 180
    # An interval entirely inside the spring gap collapses to nothing that day only.
    in_gap = BusinessCalendar("Europe/Berlin", {6: ((time(2, 30), time(3)),)})
    assert business_minutes_between(in_gap, spring, spring + day) == 0
    week_later = spring + timedelta(days=7)
    assert business_minutes_between(in_gap, week_later, week_later + day) == 30


def test_large_targets_skip_whole_days() -> None:
    cal = office(holiday_country="GB")
    start = local(LONDON, 2026, 1, 9, 16, 50)
    due = add_business_minutes(cal, start, 1_000_000)  # about eight years of office hours
    assert business_minutes_between(cal, start, due) == 1_000_000
    assert is_working_time(cal, due - ONE_US)


def test_calendar_without_working_time_raises_instead_of_looping() -> None:
    closed = BusinessCalendar("UTC", {})
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="no working time"):
        add_business_minutes(closed, now, 10)
    with pytest.raises(ValueError, match="no working time"):
        next_working_moment(closed, now)
    assert not is_working_time(closed, now)
    assert business_minutes_between(closed, now, now + timedelta(days=30)) == 0


def test_simple_builds_intervals_from_sla_fields() -> None:
    cal = BusinessCalendar.simple("08:30", "16:00", [0, 2], True, "America/New_York", "US", "NY")
    interval = (time(8, 30), time(16))
    assert cal.intervals == {0: (interval,), 2: (interval,), 5: (interval,), 6: (interval,)}
    assert (cal.holiday_country, cal.holiday_subdivision) == ("US", "NY")
    assert cal.custom_holidays == frozenset()


def test_equal_calendars_hash_equal_so_they_can_key_a_cache() -> None:
    a = office(holiday_country="GB", holidays=["2026-01-02"])
    b = office(holiday_country="GB", holidays=[date(2026, 1, 2)])
    assert a == b
    assert hash(a) == hash(b)
    assert len({a, b, office()}) == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"timezone": "Mars/Olympus_Mons"}, "time zone"),
        ({"intervals": {7: ((time(9), time(17)),)}}, "weekday"),
        ({"intervals": {0: ((time(9, tzinfo=UTC), time(17)),)}}, "tzinfo"),
        ({"holiday_country": "XX"}, "XX"),
        ({"holiday_country": "GB", "holiday_subdivision": "ZZZ"}, "ZZZ"),
        ({"holiday_subdivision": "SCT"}, "holiday_country"),
    ],
)
def test_invalid_calendars_are_rejected(kwargs: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {"timezone": "UTC", "intervals": {}} | kwargs
    with pytest.raises(ValueError, match=message):
        BusinessCalendar(**fields)  # type: ignore[arg-type]


def test_invalid_arguments_are_rejected() -> None:
    cal = office()
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="timezone-aware"):
        add_business_minutes(cal, datetime(2026, 1, 1), 5)
    with pytest.raises(ValueError, match="minutes"):
        add_business_minutes(cal, now, -1)
    with pytest.raises(ValueError, match="minutes"):
        add_business_minutes(cal, now, float("nan"))
    assert business_minutes_between(cal, now, now - timedelta(hours=1)) == 0


# --- properties ---------------------------------------------------------------------------

ZONES = [
    "UTC",
    "Europe/London",
    "Europe/Berlin",
    "America/New_York",
    "Asia/Kolkata",
    "Australia/Lord_Howe",  # half-hour DST shift
    "America/Santiago",  # DST changes at midnight
]
DST_TRANSITIONS = [
    datetime(2026, 3, 29, 1, tzinfo=UTC),  # Berlin spring forward
    datetime(2026, 10, 25, 1, tzinfo=UTC),  # Berlin fall back
    datetime(2026, 3, 8, 7, tzinfo=UTC),  # New York spring forward
    datetime(2026, 11, 1, 6, tzinfo=UTC),  # New York fall back
]


@st.composite
def intervals(draw: st.DrawFn, granularity: int = 1) -> tuple[time, time]:
    """A working interval; ``end <= start`` (overnight) comes up about half the time."""
    start = draw(st.integers(0, 24 * 60 // granularity - 1)) * granularity
    length = draw(st.integers(30 // granularity, 24 * 60 // granularity)) * granularity
    end = (start + length) % (24 * 60)
    return time(start // 60, start % 60), time(end // 60, end % 60)


@st.composite
def calendars(
    draw: st.DrawFn, zones: list[str] = ZONES, countries: bool = True
) -> BusinessCalendar:
    """Random non-empty calendars: several (overlapping, overnight) intervals, holidays."""
    week = draw(
        st.dictionaries(
            st.integers(0, 6), st.lists(intervals(), min_size=1, max_size=3).map(tuple), min_size=1
        )
    )
    country = draw(st.sampled_from([None, ("GB", None), ("DE", "BY"), ("US", "NY")]))
    if not countries:
        country = None
    custom = draw(
        st.frozensets(st.dates(date(2025, 12, 1), date(2027, 2, 1)), max_size=40)
        | st.just(frozenset())
    )
    return BusinessCalendar(
        timezone=draw(st.sampled_from(zones)),
        intervals=week,
        holiday_country=country[0] if country else None,
        holiday_subdivision=country[1] if country else None,
        custom_holidays=custom,
    )


calendars_with_always_open = calendars() | st.sampled_from(
    [BusinessCalendar.always_open(z) for z in ("UTC", "Europe/Berlin", "America/New_York")]
)

uniform_moments = st.datetimes(datetime(2026, 1, 1), datetime(2026, 12, 31), timezones=st.just(UTC))
near_dst_moments = st.builds(
    lambda base, offset: base + timedelta(minutes=offset),
    st.sampled_from(DST_TRANSITIONS),
    st.integers(-3 * 24 * 60, 3 * 24 * 60),
)
moments = uniform_moments | near_dst_moments
# Whole minutes, or whole microseconds expressed in minutes, so sums round-trip exactly.
minutes = st.integers(0, 3000).map(float) | st.integers(0, 3000 * 60_000_000).map(
    lambda us: us / 60_000_000
)
positive_minutes = minutes.filter(lambda m: m > 0)


def close(a: datetime, b: datetime) -> bool:
    return abs(a - b) <= ONE_US


@quick
@given(calendars_with_always_open, moments, minutes, minutes)
def test_adding_more_minutes_never_gives_an_earlier_due_time(
    cal: BusinessCalendar, start: datetime, m1: float, m2: float
) -> None:
    low, high = sorted((m1, m2))
    assert add_business_minutes(cal, start, low) <= add_business_minutes(cal, start, high)


@quick
@given(calendars_with_always_open, moments, minutes, positive_minutes)
def test_adding_in_two_steps_equals_adding_once(
    cal: BusinessCalendar, start: datetime, a: float, b: float
) -> None:
    # b > 0: adding 0 to a due time at a closing instant moves it on to the next opening.
    two_steps = add_business_minutes(cal, add_business_minutes(cal, start, a), b)
    assert close(two_steps, add_business_minutes(cal, start, a + b))


@quick
@given(calendars_with_always_open, moments, positive_minutes)
def test_due_time_is_preceded_by_working_time(
    cal: BusinessCalendar, start: datetime, m: float
) -> None:
    """Precisely: the microsecond before a due time is working time; the due time itself is
    working time or the closing instant of a working interval."""
    due = add_business_minutes(cal, start, m)
    assert due > start
    assert is_working_time(cal, due - ONE_US)
    assert due.tzinfo is UTC


@quick
@given(calendars_with_always_open, moments)
def test_adding_zero_lands_on_working_time(cal: BusinessCalendar, start: datetime) -> None:
    due = add_business_minutes(cal, start, 0)
    assert due == next_working_moment(cal, start) >= start
    assert is_working_time(cal, due)
    assert (due == start) == is_working_time(cal, start)


@quick
@given(calendars_with_always_open, moments, minutes)
def test_minutes_between_start_and_due_time_are_the_target(
    cal: BusinessCalendar, start: datetime, m: float
) -> None:
    # Holds from any start, working time or not: the clock is stopped until it opens.
    due = add_business_minutes(cal, start, m)
    assert business_minutes_between(cal, start, due) == pytest.approx(m, abs=1e-6)


@quick
@given(
    calendars_with_always_open, moments, st.integers(0, 5 * 24 * 60), st.integers(0, 5 * 24 * 60)
)
def test_minutes_between_adds_up_over_adjacent_ranges(
    cal: BusinessCalendar, a: datetime, gap1: int, gap2: int
) -> None:
    b = a + timedelta(minutes=gap1)
    c = b + timedelta(minutes=gap2)
    ab, bc, ac = (business_minutes_between(cal, x, y) for x, y in ((a, b), (b, c), (a, c)))
    assert ab + bc == pytest.approx(ac, abs=1e-6)
    assert 0 <= ab <= gap1
    assert business_minutes_between(cal, c, a) == 0


@quick
@given(calendars(), moments)
def test_working_time_is_where_the_next_working_moment_is_now(
    cal: BusinessCalendar, t: datetime
) -> None:
    nxt = next_working_moment(cal, t)
    assert is_working_time(cal, t) == (nxt == t)
    assert is_working_time(cal, nxt)
    if nxt > t:
        assert business_minutes_between(cal, t, nxt) == 0


def wall_clock_oracle(cal: BusinessCalendar, t: datetime) -> bool:
    """Independent check for zones without DST: compare naive local wall-clock times."""
    here = t.astimezone(ZoneInfo(cal.timezone)).replace(tzinfo=None)
    for day in (here.date() - timedelta(days=1), here.date()):
        if cal.is_holiday(day):
            continue
        for start_t, end_t in cal.intervals.get(day.weekday(), ()):
            start = datetime.combine(day, start_t)
            end = datetime.combine(day if end_t > start_t else day + timedelta(days=1), end_t)
            if start <= here < end:
                return True
    return False


FIXED_OFFSET_ZONES = ["UTC", "Asia/Kolkata", "Asia/Tokyo"]


@quick
@given(calendars(FIXED_OFFSET_ZONES, countries=False), uniform_moments)
def test_is_working_time_agrees_with_a_wall_clock_oracle(
    cal: BusinessCalendar, t: datetime
) -> None:
    assert is_working_time(cal, t) == wall_clock_oracle(cal, t)


@settings(max_examples=60, deadline=None)
@given(
    calendars(FIXED_OFFSET_ZONES, countries=False),
    uniform_moments.map(lambda t: t.replace(second=0, microsecond=0)),
    st.integers(0, 2 * 24 * 60),
)
def test_minutes_between_agrees_with_counting_working_minutes(
    cal: BusinessCalendar, a: datetime, span: int
) -> None:
    # Intervals and `a` are whole minutes and offsets whole half-hours: each minute is in or out.
    counted = sum(wall_clock_oracle(cal, a + timedelta(minutes=i)) for i in range(span))
    assert business_minutes_between(cal, a, a + timedelta(minutes=span)) == counted


@quick
@given(st.sampled_from([BERLIN, NEW_YORK]), st.dates(date(2020, 1, 1), date(2030, 12, 31)))
def test_night_shift_length_follows_the_utc_offset_change(zone: ZoneInfo, day: date) -> None:
    cal = BusinessCalendar.simple("22:00", "06:00", range(7), False, str(zone))
    shift_start = datetime.combine(day, time(22), tzinfo=zone)
    shift_end = datetime.combine(day + timedelta(days=1), time(6), tzinfo=zone)
    offset_change = (shift_start.utcoffset() or timedelta()) - (
        shift_end.utcoffset() or timedelta()
    )
    expected = 8 * 60 + offset_change / timedelta(minutes=1)
    noon = datetime.combine(day, time(12), tzinfo=zone)
    assert business_minutes_between(cal, noon, noon + timedelta(hours=24)) == expected
    assert expected in (7 * 60, 8 * 60, 9 * 60)


@quick
@given(st.sampled_from([BERLIN, NEW_YORK]), st.dates(date(2020, 1, 1), date(2030, 12, 31)))
def test_day_shift_is_eight_hours_every_day_including_dst_changes(
    zone: ZoneInfo, day: date
) -> None:
    cal = BusinessCalendar.simple("09:00", "17:00", range(7), False, str(zone))
    midnight = datetime.combine(day, time(0), tzinfo=zone)
    next_midnight = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
    assert business_minutes_between(cal, midnight, next_midnight) == 8 * 60
    due = add_business_minutes(cal, midnight, 8 * 60)
    assert due == datetime.combine(day, time(17), tzinfo=zone)


@quick
@given(
    st.sampled_from(["Europe/Berlin", "America/New_York"]),
    near_dst_moments,
    st.integers(0, 6 * 24 * 60 * 60_000_000),
)
def test_always_open_adds_real_elapsed_time_across_dst(tz: str, start: datetime, us: int) -> None:
    cal = BusinessCalendar.always_open(tz)
    elapsed = timedelta(microseconds=us)
    assert add_business_minutes(cal, start, us / 60_000_000) == start + elapsed
    assert business_minutes_between(cal, start, start + elapsed) == pytest.approx(
        elapsed / timedelta(minutes=1), abs=1e-6
    )


@quick
@given(calendars(["Europe/Berlin", "America/New_York"]), near_dst_moments, minutes)
def test_dst_zones_round_trip_due_times_near_transitions(
    cal: BusinessCalendar, start: datetime, m: float
) -> None:
    assume(m > 0)
    due = add_business_minutes(cal, start, m)
    assert business_minutes_between(cal, start, due) == pytest.approx(m, abs=1e-6)
    assert is_working_time(cal, due - ONE_US)


def union_minutes(cal: BusinessCalendar, a: datetime, b: datetime) -> float:
    """Brute force: clip every day's shifts to [a, b), merge them by sorting, sum."""
    first = a.astimezone(ZoneInfo(cal.timezone)).date() - timedelta(days=2)
    last = b.astimezone(ZoneInfo(cal.timezone)).date()
    days = (first + timedelta(days=i) for i in range((last - first).days + 1))
    clipped = sorted(
        (max(s, a), min(e, b)) for day in days for s, e in cal.day_spans(day) if s < b and e > a
    )
    total, reached = timedelta(0), a
    for s, e in clipped:
        if e > reached:
            total += e - max(s, reached)
            reached = e
    return total / timedelta(minutes=1)


@quick
@given(calendars_with_always_open, moments, st.integers(0, 4 * 24 * 60 * 60))
def test_minutes_between_equals_the_union_of_each_days_shifts(
    cal: BusinessCalendar, a: datetime, seconds: int
) -> None:
    b = a + timedelta(seconds=seconds)
    assert business_minutes_between(cal, a, b) == pytest.approx(union_minutes(cal, a, b), abs=1e-6)
