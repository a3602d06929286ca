"""Daily roll-ups of imported chat sessions, so dashboards never count millions of sessions.

A CSV data source whose import has ended (``done``, or ``failed`` with the rows committed
before the fault) never changes again: its sessions are summed once per UTC day into
``SessionDayTotal`` (counts, rates' numerators, response-time and rating sums, tokens, cost)
and, per day and value, into ``SessionDayCount`` (category, country, language, sentiment,
rating). ``SessionRollup`` records that this was done and for which import state (``stamp``):
should the state ever differ, the roll-up is rebuilt. Deleting a data source deletes its
roll-up rows with it (foreign keys, cascade).

``analytics.dashboards`` reads roll-up rows for such sources and counts sessions directly only
for the rest (the live conversations feed, imports still running), through the
``session_source_start_idx`` index on exactly those sources' rows.

When is a roll-up built? ``roll_up_data_source`` may be called once an import ends; until
then, the first dashboard (or import report) that needs it builds it (``source_states``):
a finished source is never counted twice over. Building is idempotent and serialised on the
data source's row lock, so concurrent readers wait for one build instead of repeating it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from django.db import transaction
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from analytics.models import (
    ChatSession,
    DataSource,
    SessionDayCount,
    SessionDayTotal,
    SessionRollup,
)

__all__ = [
    "DIMENSIONS",
    "FINAL_STATUSES",
    "SourceStates",
    "roll_up_data_source",
    "source_states",
    "stamp_of",
]

FINAL_STATUSES: Final = (DataSource.Status.DONE, DataSource.Status.FAILED)
# Dimension → the session column it counts by.
DIMENSIONS: Final = {
    SessionDayCount.Dimension.CATEGORY: "category",
    SessionDayCount.Dimension.COUNTRY: "country",
    SessionDayCount.Dimension.LANGUAGE: "language",
    SessionDayCount.Dimension.SENTIMENT: "sentiment",
    SessionDayCount.Dimension.RATING: "user_rating",
}
BATCH: Final = 5000


def stamp_of(status: str, rows_imported: int, finished_at: dt.datetime | None) -> str:
    """The import state a roll-up was built for."""
    finished = finished_at.isoformat() if finished_at else "-"
    return f"{status}:{rows_imported}:{finished}"


def _rollable(kind: str, status: str) -> bool:
    return kind == DataSource.Kind.CSV and status in FINAL_STATUSES


def _value(raw: object) -> str:
    return "" if raw is None else str(raw)


def roll_up_data_source(data_source_id: int) -> bool:
    """Build (or rebuild) a finished CSV data source's daily roll-up; True if it was built.

    Does nothing for the live feed, an import still running, a deleted source, or a roll-up
    that is already current. Seven aggregate queries over the source's sessions (an
    index-only scan each on PostgreSQL), then a few bulk inserts of day rows.
    """
    with transaction.atomic():
        source = (
            DataSource.objects.unscoped()
            .select_for_update()
            .filter(pk=data_source_id)
            .only("pk", "company_id", "kind", "status", "rows_imported", "finished_at")
            .first()
        )
        if source is None or not _rollable(source.kind, source.status):
            return False
        stamp = stamp_of(source.status, source.rows_imported, source.finished_at)
        current = (
            SessionRollup.objects.unscoped()
            .filter(data_source_id=source.pk)
            .values_list("stamp", flat=True)
            .first()
        )
        if current == stamp:
            return False
        SessionDayTotal.objects.unscoped().filter(data_source_id=source.pk).delete()
        SessionDayCount.objects.unscoped().filter(data_source_id=source.pk).delete()
        sessions = (
            ChatSession.objects.unscoped()
            .filter(data_source_id=source.pk)
            .order_by()
            .annotate(day=TruncDate("start_time", tzinfo=dt.UTC))
        )
        totals = [
            SessionDayTotal(company_id=source.company_id, data_source_id=source.pk, **row)
            for row in sessions.values("day").annotate(
                sessions=Count("start_time"),
                escalated=Count("start_time", filter=Q(escalated=True)),
                forwarded_hr=Count("start_time", filter=Q(forwarded_hr=True)),
                response_sum=Sum("avg_response_time", default=0.0),
                response_count=Count("avg_response_time"),
                tokens=Sum("tokens", default=0),
                cost=Sum("tokens_eur", default=Decimal(0)),
                rating_sum=Sum("user_rating", default=0),
                rating_count=Count("user_rating"),
            )
        ]
        SessionDayTotal.objects.bulk_create(totals, batch_size=BATCH)
        for dimension, column in DIMENSIONS.items():
            SessionDayCount.objects.bulk_create(
                _counts(
                    source,
                    dimension,
                    sessions.values("day", column)
                    .annotate(n=Count("start_time"))
                    .values_list("day", column, "n"),
                ),
                batch_size=BATCH,
            )
        SessionRollup.objects.unscoped().update_or_create(
            data_source_id=source.pk,
            defaults={
                "company_id": source.company_id,
                "stamp": stamp,
                "sessions": sum(row.sessions for row in totals),
                "built_at": timezone.now(),
            },
        )
    return True


def _counts(
    source: DataSource, dimension: str, rows: Iterable[tuple[dt.date, object, int]]
) -> list[SessionDayCount]:
    return [
        SessionDayCount(
            company_id=source.company_id,
            data_source_id=source.pk,
            day=day,
            dimension=dimension,
            value=_value(value)[:64],
            sessions=n,
        )
        for day, value, n in rows
    ]


@dataclass(frozen=True, slots=True)
class SourceStates:
    """A company's data sources: all of them, and those whose roll-up is current."""

    all: frozenset[int]
    rolled: frozenset[int]


def source_states(company_id: int, *, build: bool = True) -> SourceStates:
    """Which of the company's data sources dashboards read from roll-ups.

    With ``build``, finished sources without a current roll-up get one now (once: the next
    reader finds it current). One query when nothing is missing.
    """
    rows = DataSource.objects.for_company(company_id).values_list(
        "pk", "kind", "status", "rows_imported", "finished_at", "rollup__stamp"
    )
    every: set[int] = set()
    rolled: set[int] = set()
    for pk, kind, status, rows_imported, finished_at, current in rows:
        every.add(pk)
        if not _rollable(kind, status):
            continue
        if current == stamp_of(status, rows_imported, finished_at):
            rolled.add(pk)
        elif build:
            roll_up_data_source(pk)
            rolled.add(pk)
    return SourceStates(frozenset(every), frozenset(rolled))
