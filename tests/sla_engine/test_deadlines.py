"""Pure due-time rules: the resolution clock with pauses (hypothesis properties)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from sla_engine.calendar import BusinessCalendar, add_business_minutes, business_minutes_between
from sla_engine.deadlines import paused_due

OFFICE = BusinessCalendar.simple(time(9), time(17), range(5), False, "Europe/London")
START = datetime(2026, 1, 12, 8, 30, tzinfo=UTC)

minutes = st.integers(min_value=1, max_value=3000)
offsets = st.lists(
    st.tuples(st.integers(0, 20_000), st.integers(1, 5_000)), max_size=5
)  # (minutes after START the pause begins, its length in minutes)

quick = settings(max_examples=200, deadline=None)


def pauses_from(raw: list[tuple[int, int]]) -> list[tuple[datetime, datetime]]:
    return [
        (START + timedelta(minutes=begin), START + timedelta(minutes=begin + length))
        for begin, length in raw
    ]


@quick
@given(minutes)
def test_no_pause_is_the_plain_target(target: int) -> None:
    assert paused_due(OFFICE, START, target, []) == add_business_minutes(OFFICE, START, target)


@quick
@given(minutes, offsets)
def test_pauses_never_bring_the_due_time_forward(target: int, raw: list[tuple[int, int]]) -> None:
    plain = add_business_minutes(OFFICE, START, target)
    assert paused_due(OFFICE, START, target, pauses_from(raw)) >= plain


@quick
@given(minutes, offsets)
def test_working_time_outside_pauses_adds_up_to_the_target(
    target: int, raw: list[tuple[int, int]]
) -> None:
    """The clock ran exactly `target` business minutes outside the pauses that counted."""
    pauses = pauses_from(raw)
    due = paused_due(OFFICE, START, target, pauses)
    # Merge the pauses that began before `due` (the ones that counted), clipped to `due`.
    counted: list[tuple[datetime, datetime]] = []
    for begin, end in sorted(pauses):
        if begin >= due:
            break
        if counted and begin <= counted[-1][1]:
            counted[-1] = (counted[-1][0], max(counted[-1][1], end))
        else:
            counted.append((begin, end))
    paused = sum(business_minutes_between(OFFICE, b, min(e, due)) for b, e in counted)
    ran = business_minutes_between(OFFICE, START, due) - paused
    assert abs(ran - target) < 1e-6


@quick
@given(minutes, offsets)
def test_pause_order_does_not_matter(target: int, raw: list[tuple[int, int]]) -> None:
    pauses = pauses_from(raw)
    assert paused_due(OFFICE, START, target, pauses) == paused_due(
        OFFICE, START, target, list(reversed(pauses))
    )
