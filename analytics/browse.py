"""Session search for the analytics pages: the shared filters, one page of rows, a capped count.

Filtering is ``analytics.filters.SessionFilterSet`` (full text through ``analytics.search``), the
same the API list and the CSV export use, so a page, its export link and the API agree on
what matches. Two things keep a page cheap at a million sessions:

* rows come newest first from the ``(company_id, start_time)`` index, transcripts deferred,
  ``LIMIT`` a page;
* the total is counted only up to ``COUNT_CAP`` (``SELECT count(*) FROM (… LIMIT cap + 1)``):
  an exact count of a broad match would read every matching row; "10,000+" is as useful.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from django.forms import Form
from django.http import QueryDict

from analytics.filters import SessionFilterSet
from analytics.models import ChatSession

__all__ = ["COUNT_CAP", "PAGE_SIZE", "SearchResults", "search"]

PAGE_SIZE: Final = 25
COUNT_CAP: Final = 10_000


@dataclass
class SearchResults:
    form: Form
    sessions: list[ChatSession] = field(default_factory=list)
    page: int = 1
    count: int = 0
    count_capped: bool = False
    valid: bool = True

    @property
    def num_pages(self) -> int:
        return max(1, -(-self.count // PAGE_SIZE))

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.num_pages

    @property
    def first_index(self) -> int:
        return (self.page - 1) * PAGE_SIZE + 1 if self.sessions else 0

    @property
    def last_index(self) -> int:
        return (self.page - 1) * PAGE_SIZE + len(self.sessions)


def search(company_id: int, params: QueryDict, page: int = 1) -> SearchResults:
    """One page of the company's sessions matching ``params`` (the filter set's fields).

    Invalid filters give no rows and ``valid`` False; the form carries the field errors.
    A page past the last is clamped to the last.
    """
    sessions = (
        ChatSession.objects.for_company(company_id)
        .order_by("-start_time", "-id")
        .defer("full_transcript")
    )
    filterset = SessionFilterSet(params, queryset=sessions)
    if not filterset.is_valid():
        return SearchResults(form=filterset.form, valid=False)
    matching = filterset.qs
    count = matching.order_by()[: COUNT_CAP + 1].count()
    capped = count > COUNT_CAP
    results = SearchResults(form=filterset.form, count=min(count, COUNT_CAP), count_capped=capped)
    results.page = min(max(1, page), results.num_pages)
    offset = (results.page - 1) * PAGE_SIZE
    results.sessions = list(matching[offset : offset + PAGE_SIZE])
    return results
