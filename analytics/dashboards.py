"""Dashboard figures over chat sessions: aggregate queries, as plain functions returning dicts.

The analytics pages (and any API that wants the same numbers) call these; nothing here loops
over sessions in Python. Every query is one ``GROUP BY`` in the database over the rows of a
`Scope` — a company, a time window and optionally some data sources — and is served by the
covering index ``session_dashboard_idx`` (see ``analytics/models.py``): its key is
``(company_id, start_time)`` and it carries every column these queries read, so PostgreSQL
answers them with an index-only range scan and never touches the wide rows (transcripts).
Python only reshapes the few hundred aggregate rows that come back (one per day, or per
category...) into chart series.

Times are UTC, like the rest of the project (``TIME_ZONE = "UTC"``); a day is a UTC day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final, Literal

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDay, TruncMonth, TruncWeek

from analytics.models import ChatSession, Dashboard, DataSource, Sentiment

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
    """The scope's sessions, unordered (aggregates need no order)."""
    sessions = (
        ChatSession.objects.for_company(scope.company_id)
        .filter(start_time__gte=scope.start, start_time__lt=scope.end)
        .order_by()
    )
    if scope.data_source_ids is not None:
        sessions = sessions.filter(data_source_id__in=scope.data_source_ids)
    if scope.exclude_data_source_ids:
        # Sessions without a source are imported ones: keep them.
        sessions = sessions.filter(
            Q(data_source_id__isnull=True) | ~Q(data_source_id__in=scope.exclude_data_source_ids)
        )
    return sessions


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


def _series_aggregates() -> dict[str, Any]:
    aggregates: dict[str, Any] = {
        "sessions": Count("*"),
        "escalated": Count("start_time", filter=Q(escalated=True)),
        "forwarded_hr": Count("start_time", filter=Q(forwarded_hr=True)),
        "response_sum": Sum("avg_response_time"),
        "response_count": Count("avg_response_time"),
        "tokens": Sum("tokens"),
        "cost": Sum("tokens_eur"),
        "rating_sum": Sum("user_rating"),
        "rating_count": Count("user_rating"),
    }
    for index, sentiment in enumerate(_SENTIMENTS):
        aggregates[f"sentiment_{index}"] = Count("start_time", filter=Q(sentiment=sentiment))
    return aggregates


def time_series(scope: Scope, bucket: Bucket | None = None) -> dict[str, Any]:
    """Per day (week, month): sessions, escalation and HR-forward counts and rates, mean
    response time, tokens, cost, mean rating and sentiment counts; plus the window's totals.

    One query: ``GROUP BY date_trunc(bucket, start_time)``.
    """
    bucket = bucket or bucket_for(scope)
    trunc = _TRUNC[bucket]("start_time", tzinfo=dt.UTC)
    rows = {
        _as_date(row["bucket"]): row
        for row in sessions_in(scope)
        .annotate(bucket=trunc)
        .values("bucket")
        .annotate(**_series_aggregates())
        .order_by("bucket")
    }
    empty: dict[str, Any] = dict.fromkeys(_series_aggregates(), 0)
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
    totals: dict[str, Any] = dict.fromkeys(empty, 0)
    totals["cost"] = Decimal(0)
    labels = []
    for start in _bucket_starts(scope, bucket):
        row = rows.get(start, empty)
        labels.append(start.isoformat())
        sessions = row["sessions"]
        series["sessions"].append(sessions)
        series["escalated"].append(row["escalated"])
        series["forwarded_hr"].append(row["forwarded_hr"])
        series["escalation_rate"].append(_rate(row["escalated"], sessions))
        series["hr_rate"].append(_rate(row["forwarded_hr"], sessions))
        series["avg_response_time"].append(_mean(row["response_sum"], row["response_count"]))
        series["tokens"].append(row["tokens"] or 0)
        series["cost"].append(round(float(row["cost"] or 0), 4))
        series["avg_rating"].append(_mean(row["rating_sum"], row["rating_count"]))
        for index, value in enumerate(_SENTIMENTS):
            sentiment[_sentiment_label(value)].append(row[f"sentiment_{index}"])
        for key in totals:
            totals[key] += row[key] or 0
    return {
        "bucket": bucket,
        "labels": labels,
        **series,
        "sentiment": sentiment,
        "totals": {
            "sessions": totals["sessions"],
            "escalated": totals["escalated"],
            "forwarded_hr": totals["forwarded_hr"],
            "escalation_rate": _rate(totals["escalated"], totals["sessions"]),
            "hr_rate": _rate(totals["forwarded_hr"], totals["sessions"]),
            "avg_response_time": _mean(totals["response_sum"], totals["response_count"]),
            "tokens": totals["tokens"],
            "cost": str(Decimal(totals["cost"]).quantize(Decimal("0.01"))),
            "avg_rating": _mean(totals["rating_sum"], totals["rating_count"]),
            "rated": totals["rating_count"],
            "sentiment": {
                _sentiment_label(s): totals[f"sentiment_{i}"] for i, s in enumerate(_SENTIMENTS)
            },
        },
    }


def _sentiment_label(value: str) -> str:
    return value or UNKNOWN


def _as_date(value: dt.date | dt.datetime) -> dt.date:
    return value.astimezone(dt.UTC).date() if isinstance(value, dt.datetime) else value


def breakdown(scope: Scope, field: str, limit: int = 10) -> dict[str, Any]:
    """Sessions per value of ``field`` (category, country, language): the ``limit`` largest,
    then the rest summed as "Other"; blank values are "Unknown". One ``GROUP BY field``."""
    if field not in BREAKDOWN_FIELDS:
        raise ValueError(f"cannot break sessions down by {field!r}")
    counts = list(
        sessions_in(scope)
        .values(field)
        .annotate(n=Count("*"))
        .order_by("-n", field)
        .values_list(field, "n")
    )
    return _top(counts, limit)


def _top(counts: Sequence[tuple[str, int]], limit: int) -> dict[str, Any]:
    head, tail = counts[:limit], counts[limit:]
    labels = [value or UNKNOWN for value, _ in head]
    values = [n for _, n in head]
    if tail:
        labels.append(OTHER)
        values.append(sum(n for _, n in tail))
    return {"labels": labels, "counts": values, "distinct": len(counts)}


def rating_distribution(scope: Scope) -> dict[str, Any]:
    """Sessions per user rating 1–5 and unrated. One ``GROUP BY user_rating``."""
    counts: Mapping[int | None, int] = dict(
        sessions_in(scope)
        .values("user_rating")
        .annotate(n=Count("*"))
        .values_list("user_rating", "n")
    )
    return {
        "labels": ["1", "2", "3", "4", "5"],
        "counts": [counts.get(r, 0) for r in range(1, 6)],
        "unrated": counts.get(None, 0),
        "average": _weighted_mean((r, n) for r, n in counts.items() if r is not None),
    }


def _weighted_mean(pairs: Iterable[tuple[int, int]]) -> float | None:
    total = count = 0
    for value, n in pairs:
        total += value * n
        count += n
    return round(total / count, 2) if count else None


def dashboard_data(scope: Scope, *, breakdown_limit: int = 10) -> dict[str, Any]:
    """Everything a dashboard page draws, JSON-ready: five aggregate queries."""
    return {
        "window": {
            "from": scope.first_day.isoformat(),
            "to": scope.last_day.isoformat(),
            "days": scope.days,
        },
        "series": time_series(scope),
        **{field: breakdown(scope, field, breakdown_limit) for field in BREAKDOWN_FIELDS},
        "ratings": rating_distribution(scope),
    }
