"""Dashboard figures (analytics.dashboards) and the session roll-ups they read
(analytics.rollups): the numbers, the scope rules, and the same answer from both paths."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from analytics import dashboards, rollups
from analytics.live import live_feed
from analytics.models import (
    ChatSession,
    Dashboard,
    DataSource,
    SessionDayCount,
    SessionDayTotal,
    SessionRollup,
)
from routing_service.tenancy.models import Company
from tests.analytics.sample import day, import_sessions, session_rows

pytestmark = pytest.mark.django_db


def today() -> dt.date:
    return timezone.now().astimezone(dt.UTC).date()


def scope(company: Company, days: int = 30, **kwargs: Any) -> dashboards.Scope:
    dashboard = Dashboard(company=company, last_days=days, **kwargs)
    return dashboards.scope_for_dashboard(dashboard, today=today())


def live_session(company: Company, session_id: str, days_ago: int, **fields: Any) -> ChatSession:
    """A session in the company's live feed, as analytics.live records a resolved chat."""
    start = timezone.now() - dt.timedelta(days=days_ago)
    return ChatSession.objects.create(
        company=company,
        data_source=live_feed(company.pk),
        session_id=session_id,
        start_time=start,
        end_time=start + dt.timedelta(minutes=5),
        **fields,
    )


def test_figures_of_the_last_30_days(company_a: Company) -> None:
    import_sessions(company_a, session_rows("a"))
    data = dashboards.dashboard_data(scope(company_a))
    totals = data["series"]["totals"]
    assert totals["sessions"] == 5  # the 60-day-old session is outside the window
    assert (totals["escalated"], totals["escalation_rate"]) == (2, 0.4)
    assert (totals["forwarded_hr"], totals["hr_rate"]) == (1, 0.2)
    assert totals["avg_response_time"] == 10.75  # 4, 30, 4.5, 4.5; one session has none
    assert totals["tokens"] == 7600
    assert totals["cost"] == "0.15"
    assert (totals["avg_rating"], totals["rated"]) == (3.0, 4)
    assert totals["sentiment"] == {"Positive": 2, "Neutral": 1, "Negative": 2, "Unknown": 0}
    assert data["category"] == {
        "labels": ["billing", "complaint", "orders", "technical"],
        "counts": [2, 1, 1, 1],
        "distinct": 4,
    }
    assert data["country"]["labels"] == ["DE", "FR", "US"]
    assert data["country"]["counts"] == [3, 1, 1]
    assert data["language"]["counts"] == [2, 2, 1]
    assert data["ratings"] == {
        "labels": ["1", "2", "3", "4", "5"],
        "counts": [1, 1, 0, 1, 1],
        "unrated": 1,
        "average": 3.0,
    }
    series = data["series"]
    assert series["bucket"] == "day"
    assert len(series["labels"]) == 30  # every day, also those without sessions
    assert series["labels"][-1] == today().isoformat()
    yesterday = series["labels"].index((today() - dt.timedelta(days=1)).isoformat())
    assert series["sessions"][yesterday] == 2
    assert series["escalation_rate"][yesterday] == 0.5
    assert series["avg_response_time"][yesterday] == 17.0
    assert series["sentiment"]["Negative"][yesterday] == 1
    assert series["sessions"][-1] == 0 and series["escalation_rate"][-1] is None


def test_rolled_up_and_counted_figures_are_the_same(company_a: Company) -> None:
    source = import_sessions(company_a, session_rows("a"))
    rolled = dashboards.dashboard_data(scope(company_a, 90))
    assert SessionRollup.objects.filter(data_source=source).exists()
    assert SessionDayTotal.objects.filter(data_source=source).count() == 5  # days with sessions
    # The same sessions while the import "runs": counted from the sessions themselves.
    DataSource.objects.filter(pk=source.pk).update(status=DataSource.Status.IMPORTING)
    counted = dashboards.dashboard_data(scope(company_a, 90))
    assert counted == rolled
    assert rolled["series"]["totals"]["sessions"] == 6


def test_roll_up_is_built_once_and_rebuilt_when_the_import_changes(company_a: Company) -> None:
    source = import_sessions(company_a, session_rows("a"))
    assert rollups.roll_up_data_source(source.pk) is True
    assert rollups.roll_up_data_source(source.pk) is False  # current: nothing to do
    counts = SessionDayCount.objects.filter(data_source=source)
    assert counts.filter(dimension="country", value="DE").count() == 3
    assert counts.filter(dimension="rating", value="").count() == 1
    DataSource.objects.filter(pk=source.pk).update(rows_imported=99)
    assert rollups.roll_up_data_source(source.pk) is True
    source.delete()
    assert not SessionDayTotal.objects.exists() and not SessionDayCount.objects.exists()


def test_live_feed_and_running_imports_are_not_rolled_up(company_a: Company) -> None:
    live_session(company_a, "live-1", 1, country="NL")
    feed = live_feed(company_a.pk)
    assert rollups.roll_up_data_source(feed.pk) is False
    states = rollups.source_states(company_a.pk)
    assert feed.pk in states.all and feed.pk not in states.rolled
    data = dashboards.dashboard_data(scope(company_a))
    assert data["country"]["labels"] == ["NL"]


def test_data_sources_and_the_live_feed_in_scope(company_a: Company) -> None:
    first = import_sessions(company_a, session_rows("a"), name="a.csv")
    import_sessions(company_a, session_rows("b"), name="b.csv")
    live_session(company_a, "live-1", 2)

    def scope_of(board: Dashboard) -> dashboards.Scope:
        return dashboards.scope_for_dashboard(board, today=today())

    def sessions(**kwargs: Any) -> int:
        board = Dashboard.objects.create(company=company_a, name="d", **kwargs)
        return int(dashboards.dashboard_data(scope_of(board))["series"]["totals"]["sessions"])

    assert sessions(include_live=True) == 11
    assert sessions(include_live=False) == 10
    board = Dashboard.objects.create(company=company_a, name="one file", include_live=False)
    board.data_sources.set([first])
    assert dashboards.dashboard_data(scope_of(board))["series"]["totals"]["sessions"] == 5
    board.include_live = True
    board.save()
    assert dashboards.dashboard_data(scope_of(board))["series"]["totals"]["sessions"] == 6


def test_another_companys_sessions_never_count(company_a: Company, company_b: Company) -> None:
    import_sessions(company_a, session_rows("a"))
    import_sessions(company_b, session_rows("b"))
    live_session(company_b, "live-b", 1)
    foreign = DataSource.objects.for_company(company_b).first()
    assert foreign is not None
    board = Dashboard(company=company_a, last_days=30)
    mine = dashboards.scope_for_dashboard(board, today=today())
    sneaky = dashboards.Scope(mine.company_id, mine.start, mine.end, data_source_ids=(foreign.pk,))
    assert dashboards.dashboard_data(mine)["series"]["totals"]["sessions"] == 5
    assert dashboards.dashboard_data(sneaky)["series"]["totals"]["sessions"] == 0


def test_top_values_then_other(company_a: Company) -> None:
    import_sessions(company_a, session_rows("a"))
    assert dashboards.breakdown(scope(company_a), "category", limit=2) == {
        "labels": ["billing", "complaint", "Other"],
        "counts": [2, 1, 2],
        "distinct": 4,
    }
    with pytest.raises(ValueError, match="cannot break sessions down"):
        dashboards.breakdown(scope(company_a), "full_transcript")


def test_long_windows_are_drawn_per_week_and_month(company_a: Company) -> None:
    import_sessions(company_a, session_rows("a"))
    weekly = dashboards.time_series(scope(company_a, 120))
    assert weekly["bucket"] == "week"
    assert all(dt.date.fromisoformat(label).weekday() == 0 for label in weekly["labels"])
    assert sum(weekly["sessions"]) == 6
    monthly = dashboards.time_series(scope(company_a, 1000))
    assert monthly["bucket"] == "month"
    assert all(label.endswith("-01") for label in monthly["labels"])
    assert sum(monthly["sessions"]) == 6


def test_explicit_dates_and_the_rolling_window() -> None:
    march = dt.date(2024, 3, 31)
    assert dashboards.day_window(None, None, 7, today=march) == (dt.date(2024, 3, 25), march)
    assert dashboards.day_window(dt.date(2024, 3, 1), None, 7, today=march) == (
        dt.date(2024, 3, 1),
        march,
    )
    assert dashboards.day_window(dt.date(2024, 3, 9), dt.date(2024, 3, 2), 7) == (
        dt.date(2024, 3, 2),
        dt.date(2024, 3, 9),
    )


def test_partial_days_are_counted_from_sessions(company_a: Company) -> None:
    import_sessions(company_a, session_rows("a"))
    start = dt.datetime.fromisoformat(day(1)).replace(tzinfo=dt.UTC)  # yesterday 10:00
    partial = dashboards.Scope(company_a.pk, start, start + dt.timedelta(hours=1, minutes=30))
    totals = dashboards.time_series(partial)["totals"]
    assert totals["sessions"] == 1  # a-1 at 10:00, not a-2 at 12:00
