"""The daily metrics (``ChatResponseTracking``) of a company as a streamed CSV.

Rows come straight from a database iterator, a chunk at a time (``analytics.exports``), company
rows first then one per agent and day; every text cell goes through the shared
formula-injection escaping (``analytics.exports.format_cell``): an agent's name is typed by
people and could be ``=HYPERLINK(...)``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any, Final

from django.db.models import F
from django.http import HttpRequest, StreamingHttpResponse

from analytics.exports import csv_chunks, csv_response, format_cell
from analytics.models import ChatResponseTracking

__all__ = ["METRIC_COLUMNS", "metric_rows", "metrics_csv"]

METRIC_COLUMNS: Final = (
    "date",
    "scope",
    "agent_username",
    "agent_name",
    *ChatResponseTracking.FIGURES,
)
_FIGURES: Final = ChatResponseTracking.FIGURES
CHUNK_ROWS: Final = 2000


def metric_rows(
    company_id: int, first_day: dt.date, last_day: dt.date, *, agents: bool = True
) -> Iterator[list[str]]:
    """Formatted CSV rows of the company's roll-ups from ``first_day`` to ``last_day``."""
    rows = ChatResponseTracking.objects.for_company(company_id).filter(
        date__gte=first_day, date__lte=last_day
    )
    if not agents:
        rows = rows.filter(agent__isnull=True)
    values = (
        rows.order_by("date", F("agent__username").asc(nulls_first=True))
        .values_list("date", "agent__username", "agent__first_name", "agent__last_name", *_FIGURES)
        .iterator(chunk_size=CHUNK_ROWS)
    )
    for date, username, first_name, last_name, *figures in values:
        name = f"{first_name or ''} {last_name or ''}".strip()
        cells: list[Any] = [
            date,
            "agent" if username else "company",
            username,
            name or None,
            *figures,
        ]
        yield [format_cell(cell) for cell in cells]


def metrics_csv(
    request: HttpRequest,
    company_id: int,
    first_day: dt.date,
    last_day: dt.date,
    *,
    agents: bool = True,
) -> StreamingHttpResponse:
    filename = f"chat-metrics-{first_day.isoformat()}-{last_day.isoformat()}.csv"
    rows = metric_rows(company_id, first_day, last_day, agents=agents)
    return csv_response(request, filename, csv_chunks(METRIC_COLUMNS, rows))
