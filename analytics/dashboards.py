"""Dashboard figures over chat sessions: aggregate queries, as plain functions returning dicts.

The analytics pages (and any API that wants the same numbers) call these; nothing here loops
over sessions in Python. A `Scope` is a company, whole UTC days and optionally some data
sources. Its sessions are read in two parts (``_plan``):

* sources whose import has ended are read from their daily roll-ups (``analytics.rollups``:
  ``SessionDayTotal`` / ``SessionDayCount``) — a few rows per source and day, however many
  sessions they hold;
* everything else — the live conversations feed, imports still running — is counted from the
  sessions themselves with ``GROUP BY``, through the covering index
  ``session_source_start_idx`` (``(data_source_id, start_time)`` plus every column read here),
  so PostgreSQL answers with an index-only scan of just those sources' rows.

Python only adds up the two parts' aggregate rows (one per day, or per category...) and shapes
chart series. Times are UTC, like the rest of the project; a day is a UTC day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final, Literal

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDay, TruncMonth, TruncWeek

from analytics import rollups
from analytics.models import (
    ChatSession,
    Dashboard,
    DataSource,
    Sentiment,
    SessionDayCount,
    SessionDayTotal,
)

__all__ = [
    "BREAKDOWN_FIELDS",
    "Bucket",
    "Scope",
    "breakdown",
    "bucket_for",
    "dashboard_data",
    "day_window",
    "rating_distribution",
    "scope_for_dashboard",
    "sessions_in",
    "time_series",
]

Bucket = Literal["day", "week", "month"]
BREAKDOWN_FIELDS: Final = ("category", "country", "language")
# Longer windows are drawn per week, then per month, so a chart never has thousands of points.
DAILY_UP_TO_DAYS: Final = 92
WEEKLY_UP_TO_DAYS: Final = 2 * 366
DEFAULT_LAST_DAYS: Final = 30
UNKNOWN: Final = "Unknown"
OTHER: Final = "Other"
_TRUNC: Final = {"day": TruncDay, "week": TruncWeek, "month": TruncMonth}


@dataclass(frozen=True, slots=True)
class Scope:
    """Which sessions a dashboard counts: ``start <= start_time < end`` of one company.

    ``data_source_ids`` None means every source; ``exclude_data_source_ids`` drops some (the
    live feed, when a dashboard leaves it out).
    """

    company_id: int
    start: dt.datetime
    end: dt.datetime
    data_source_ids: tuple[int, ...] | None = None
    exclude_data_source_ids: tuple[int, ...] = ()

    @property
    def first_day(self) -> dt.date:
        return self.start.astimezone(dt.UTC).date()

    @property
    def last_day(self) -> dt.date:
        """The last day inside the window (``end`` is exclusive)."""
        return (self.end - dt.timedelta(microseconds=1)).astimezone(dt.UTC).date()

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def day_window(
    date_from: dt.date | None,
    date_to: dt.date | None,
    last_days: int = DEFAULT_LAST_DAYS,
    today: dt.date | None = None,
) -> tuple[dt.date, dt.date]:
    """The inclusive days a dashboard shows: explicit dates, else the last ``last_days`` days.

    A missing end is today; a missing start is ``last_days`` days before the end; swapped
    dates are put in order.
    """
    today = today or dt.datetime.now(dt.UTC).date()
    last_days = max(1, last_days)
    end = date_to or today
    start = date_from or end - dt.timedelta(days=last_days - 1)
    return (end, start) if start > end else (start, end)


def scope_for_dashboard(
    dashboard: Dashboard,
    *,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    today: dt.date | None = None,
) -> Scope:
    """The scope of a saved (or unsaved, default) dashboard; dates given here override its own.

    Data sources: the ones the dashboard names (none named: every source), plus the company's
    live conversations feed when ``include_live`` — or minus it when not. Two small indexed
    queries (the M2M ids, the live feed id); none if the dashboard is unsaved.
    """
    first, last = day_window(
        date_from or dashboard.date_from,
        date_to or dashboard.date_to,
        dashboard.last_days or DEFAULT_LAST_DAYS,
        today,
    )
    chosen: list[int] = (
        list(dashboard.data_sources.values_list("pk", flat=True)) if dashboard.pk else []
    )
    live = list(
        DataSource.objects.for_company(dashboard.company_id)
        .filter(kind=DataSource.Kind.LIVE)
        .values_list("pk", flat=True)
    )
    ids: tuple[int, ...] | None = None
    excluded: tuple[int, ...] = ()
    if chosen:
        ids = tuple(sorted(set(chosen) | (set(live) if dashboard.include_live else set())))
    elif not dashboard.include_live:
        excluded = tuple(live)
    return Scope(
        company_id=dashboard.company_id,
        start=_midnight(first),
        end=_midnight(last + dt.timedelta(days=1)),
        data_source_ids=ids,
        exclude_data_source_ids=excluded,
    )


def sessions_in(scope: Scope) -> QuerySet[ChatSession]:
    """Every session of the scope, unordered (aggregates need no order)."""
    sessions = _window(scope)
    if scope.data_source_ids is not None:
        sessions = sessions.filter(data_source_id__in=scope.data_source_ids)
    if scope.exclude_data_source_ids:
        # Sessions without a source are imported ones: keep them.
        sessions = sessions.filter(
            Q(data_source_id__isnull=True) | ~Q(data_source_id__in=scope.exclude_data_source_ids)
        )
    return sessions


def _window(scope: Scope) -> QuerySet[ChatSession]:
    return (
        ChatSession.objects.for_company(scope.company_id)
        .filter(start_time__gte=scope.start, start_time__lt=scope.end)
        .order_by()
    )


@dataclass(frozen=True, slots=True)
class _Plan:
    """Where a scope's figures come from: roll-up rows of ``rolled`` sources, plus sessions
    counted from ``raw`` (None: nothing left to count)."""

    scope: Scope
    rolled: tuple[int, ...]
    raw: QuerySet[ChatSession] | None


def _whole_days(scope: Scope) -> bool:
    return all(
        moment.astimezone(dt.UTC).timetz().replace(tzinfo=None) == dt.time()
        for moment in (scope.start, scope.end)
    )


def _plan(scope: Scope) -> _Plan:
    """Split the scope into rolled-up sources and the rest (builds missing roll-ups)."""
    states = rollups.source_states(scope.company_id)
    if scope.data_source_ids is not None:
        wanted = set(scope.data_source_ids) & states.all
        unsourced = False
    else:
        wanted = set(states.all) - set(scope.exclude_data_source_ids)
        # Sessions without a data source are not written by the importer or the live feed,
        # but the model allows them: count them when the scope takes every source.
        unsourced = _window(scope).filter(data_source_id__isnull=True).exists()
    rolled = wanted & states.rolled if _whole_days(scope) else set()
    counted = sorted(wanted - rolled)
    condition = Q(data_source_id__in=counted) if counted else None
    if unsourced:
        nulls = Q(data_source_id__isnull=True)
        condition = nulls if condition is None else condition | nulls
    raw = _window(scope).filter(condition) if condition is not None else None
    return _Plan(scope, tuple(sorted(rolled)), raw)


def _rolled_totals(plan: _Plan) -> QuerySet[SessionDayTotal]:
    return SessionDayTotal.objects.for_company(plan.scope.company_id).filter(
        data_source_id__in=plan.rolled,
        day__gte=plan.scope.first_day,
        day__lte=plan.scope.last_day,
    )


def _rolled_counts(plan: _Plan, dimension: str) -> QuerySet[SessionDayCount]:
    return SessionDayCount.objects.for_company(plan.scope.company_id).filter(
        data_source_id__in=plan.rolled,
        dimension=dimension,
        day__gte=plan.scope.first_day,
        day__lte=plan.scope.last_day,
    )


def bucket_for(scope: Scope) -> Bucket:
    if scope.days <= DAILY_UP_TO_DAYS:
        return "day"
    if scope.days <= WEEKLY_UP_TO_DAYS:
        return "week"
    return "month"


def _bucket_starts(scope: Scope, bucket: Bucket) -> list[dt.date]:
    """Every bucket of the window, so days without sessions are drawn as zero, not skipped."""
    day = scope.first_day
    if bucket == "week":
        day -= dt.timedelta(days=day.weekday())
    elif bucket == "month":
        day = day.replace(day=1)
    starts: list[dt.date] = []
    while day <= scope.last_day:
        starts.append(day)
        if bucket == "day":
            day += dt.timedelta(days=1)
        elif bucket == "week":
            day += dt.timedelta(days=7)
        else:
            day = (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return starts


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _mean(total: float | Decimal | None, count: int) -> float | None:
    return round(float(total) / count, 2) if count and total is not None else None


_SENTIMENTS: Final[tuple[str, ...]] = (*Sentiment.values, "")
# The sums a series bucket carries; the roll-up's SessionDayTotal has a column for each.
_SUMS: Final = (
    "sessions",
    "escalated",
    "forwarded_hr",
    "response_sum",
    "response_count",
    "tokens",
    "cost",
    "rating_sum",
    "rating_count",
)


def _raw_sums() -> dict[str, Any]:
    """The `_SUMS` counted from sessions (what the roll-up stores per day)."""
    return {
        "sessions": Count("start_time"),
        "escalated": Count("start_time", filter=Q(escalated=True)),
        "forwarded_hr": Count("start_time", filter=Q(forwarded_hr=True)),
        "response_sum": Sum("avg_response_time"),
        "response_count": Count("avg_response_time"),
        "tokens": Sum("tokens"),
        "cost": Sum("tokens_eur"),
        "rating_sum": Sum("user_rating"),
        "rating_count": Count("user_rating"),
    }


def _add(into: dict[str, Any], row: dict[str, Any], keys: Iterable[str]) -> None:
    for key in keys:
        into[key] = into.get(key, 0) + (row.get(key) or 0)


def _bucket_sums(plan: _Plan, bucket: Bucket) -> dict[dt.date, dict[str, Any]]:
    """Per bucket: the `_SUMS` and sentiment counts, both parts added up (up to 3 queries)."""
    sums: dict[dt.date, dict[str, Any]] = {}
    if plan.rolled:
        by_day = _TRUNC[bucket]("day")
        for row in (
            _rolled_totals(plan)
            .annotate(bucket=by_day)
            .values("bucket")
            .annotate(**{key: Sum(key) for key in _SUMS})
        ):
            _add(sums.setdefault(_as_date(row["bucket"]), {}), row, _SUMS)
        for row in (
            _rolled_counts(plan, SessionDayCount.Dimension.SENTIMENT)
            .annotate(bucket=by_day)
            .values("bucket", "value")
            .annotate(n=Sum("sessions"))
        ):
            target = sums.setdefault(_as_date(row["bucket"]), {})
            key = f"sentiment:{row['value']}"
            target[key] = target.get(key, 0) + row["n"]
    if plan.raw is not None:
        sentiments = {
            f"sentiment_{i}": Count("start_time", filter=Q(sentiment=value))
            for i, value in enumerate(_SENTIMENTS)
        }
        for row in (
            plan.raw.annotate(bucket=_TRUNC[bucket]("start_time", tzinfo=dt.UTC))
            .values("bucket")
            .annotate(**_raw_sums(), **sentiments)
        ):
            target = sums.setdefault(_as_date(row["bucket"]), {})
            _add(target, row, _SUMS)
            for i, value in enumerate(_SENTIMENTS):
                key = f"sentiment:{value}"
                target[key] = target.get(key, 0) + row[f"sentiment_{i}"]
    return sums


def time_series(
    scope: Scope, bucket: Bucket | None = None, *, plan: _Plan | None = None
) -> dict[str, Any]:
    """Per day (week, month): sessions, escalation and HR-forward counts and rates, mean
    response time, tokens, cost, mean rating and sentiment counts; plus the window's totals.

    ``GROUP BY`` the bucket over the roll-up rows and over the sessions not rolled up.
    """
    plan = plan or _plan(scope)
    bucket = bucket or bucket_for(scope)
    rows = _bucket_sums(plan, bucket)
    series: dict[str, list[Any]] = {
        key: []
        for key in (
            "sessions",
            "escalated",
            "forwarded_hr",
            "escalation_rate",
            "hr_rate",
            "avg_response_time",
            "tokens",
            "cost",
            "avg_rating",
        )
    }
    sentiment: dict[str, list[int]] = {_sentiment_label(s): [] for s in _SENTIMENTS}
    totals: dict[str, Any] = {}
    labels = []
    for start in _bucket_starts(scope, bucket):
        row = rows.get(start, {})
        _add(totals, row, row.keys())
        labels.append(start.isoformat())
        sessions = row.get("sessions", 0)
        series["sessions"].append(sessions)
        series["escalated"].append(row.get("escalated", 0))
        series["forwarded_hr"].append(row.get("forwarded_hr", 0))
        series["escalation_rate"].append(_rate(row.get("escalated", 0), sessions))
        series["hr_rate"].append(_rate(row.get("forwarded_hr", 0), sessions))
        series["avg_response_time"].append(
            _mean(row.get("response_sum"), row.get("response_count", 0))
        )
        series["tokens"].append(row.get("tokens", 0))
        series["cost"].append(round(float(row.get("cost", 0)), 4))
        series["avg_rating"].append(_mean(row.get("rating_sum"), row.get("rating_count", 0)))
        for value in _SENTIMENTS:
            sentiment[_sentiment_label(value)].append(row.get(f"sentiment:{value}", 0))
    count = totals.get("sessions", 0)
    return {
        "bucket": bucket,
        "labels": labels,
        **series,
        "sentiment": sentiment,
        "totals": {
            "sessions": count,
            "escalated": totals.get("escalated", 0),
            "forwarded_hr": totals.get("forwarded_hr", 0),
            "escalation_rate": _rate(totals.get("escalated", 0), count),
            "hr_rate": _rate(totals.get("forwarded_hr", 0), count),
            "avg_response_time": _mean(totals.get("response_sum"), totals.get("response_count", 0)),
            "tokens": totals.get("tokens", 0),
            "cost": str(Decimal(totals.get("cost", 0)).quantize(Decimal("0.01"))),
            "avg_rating": _mean(totals.get("rating_sum"), totals.get("rating_count", 0)),
            "rated": totals.get("rating_count", 0),
            "sentiment": {
                _sentiment_label(s): totals.get(f"sentiment:{s}", 0) for s in _SENTIMENTS
            },
        },
    }


def _sentiment_label(value: str) -> str:
    return value or UNKNOWN


def _as_date(value: dt.date | dt.datetime) -> dt.date:
    return value.astimezone(dt.UTC).date() if isinstance(value, dt.datetime) else value


def _counts(plan: _Plan, dimension: str, column: str) -> dict[str, int]:
    """Sessions per value of one column, both parts added up (up to 2 queries)."""
    counts: dict[str, int] = {}
    if plan.rolled:
        for value, n in (
            _rolled_counts(plan, dimension)
            .values("value")
            .annotate(n=Sum("sessions"))
            .values_list("value", "n")
        ):
            counts[value] = counts.get(value, 0) + n
    if plan.raw is not None:
        for raw_value, n in (
            plan.raw.values(column).annotate(n=Count("start_time")).values_list(column, "n")
        ):
            value = "" if raw_value is None else str(raw_value)
            counts[value] = counts.get(value, 0) + n
    return counts


def breakdown(
    scope: Scope, field: str, limit: int = 10, *, plan: _Plan | None = None
) -> dict[str, Any]:
    """Sessions per value of ``field`` (category, country, language): the ``limit`` largest,
    then the rest summed as "Other"; blank values are "Unknown". ``GROUP BY field``."""
    if field not in BREAKDOWN_FIELDS:
        raise ValueError(f"cannot break sessions down by {field!r}")
    counts = _counts(plan or _plan(scope), field, field)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return _top(ranked, limit)


def _top(counts: Sequence[tuple[str, int]], limit: int) -> dict[str, Any]:
    head, tail = counts[:limit], counts[limit:]
    labels = [value or UNKNOWN for value, _ in head]
    values = [n for _, n in head]
    if tail:
        labels.append(OTHER)
        values.append(sum(n for _, n in tail))
    return {"labels": labels, "counts": values, "distinct": len(counts)}


def rating_distribution(scope: Scope, *, plan: _Plan | None = None) -> dict[str, Any]:
    """Sessions per user rating 1–5 and unrated. ``GROUP BY user_rating``."""
    counts = _counts(plan or _plan(scope), SessionDayCount.Dimension.RATING, "user_rating")
    rated = [(int(value), n) for value, n in counts.items() if value]
    return {
        "labels": ["1", "2", "3", "4", "5"],
        "counts": [counts.get(str(r), 0) for r in range(1, 6)],
        "unrated": counts.get("", 0),
        "average": _weighted_mean(rated),
    }


def _weighted_mean(pairs: Iterable[tuple[int, int]]) -> float | None:
    total = count = 0
    for value, n in pairs:
        total += value * n
        count += n
    return round(total / count, 2) if count else None


def dashboard_data(scope: Scope, *, breakdown_limit: int = 10) -> dict[str, Any]:
    """Everything a dashboard page draws, JSON-ready.

    About a dozen small queries: the sources' roll-up states, then per figure one over the
    roll-up rows and one over the sessions not rolled up (each skipped when it has nothing).
    """
    plan = _plan(scope)
    return {
        "window": {
            "from": scope.first_day.isoformat(),
            "to": scope.last_day.isoformat(),
            "days": scope.days,
        },
        "series": time_series(scope, plan=plan),
        **{
            field: breakdown(scope, field, breakdown_limit, plan=plan) for field in BREAKDOWN_FIELDS
        },
        "ratings": rating_distribution(scope, plan=plan),
    }
