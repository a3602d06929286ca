"""Session search for the analytics pages: the shared filters, one page of rows, a capped count.

Filtering is ``analytics.filters.SessionFilterSet`` (full text through ``analytics.search``), the
same the API list and the CSV export use, so a page, its export link and the API agree on
what matches. A page is newest first; what is cheap depends on how much matches, so:

1. **Probe**: the ids of up to ``COUNT_CAP + 1`` matches, in no order. PostgreSQL picks the
   cheapest way for each query — the full-text GIN index for rare words, a scan that stops
   early for common ones, the covering ``(company_id, start_time)`` index (migration 0005)
   for the other filters — and the probe gives the count ("1,000+" past the cap).
2. **Few matches** (the probe found them all): the page is sorted from those ids alone. Left
   to itself, the planner would walk every session newest first testing each against the
   text (it misjudges how rare a word is), which costs seconds for a rare word.
3. **Many matches**: walking newest first *is* the cheap way — the page is found after a few
   rows per match — so the page's ids come from that ordered scan, then their rows.

On PostgreSQL the queries run with more ``work_mem`` than the server default (4 MB), no JIT
and no parallel workers: a common word's bitmap of matching rows must stay exact, or every
row on a "lossy" page is checked again; JIT compilation costs more than these short queries
gain from it; and a parallel walk newest first lets its workers run far ahead of the 25 rows
wanted (a word with two filters: 270 ms in parallel, 9 ms without, at a million sessions).

Transcripts are never read for a list; the session page shows them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Final

from django.db import connections, transaction
from django.forms import Form
from django.http import QueryDict

from analytics.filters import SessionFilterSet
from analytics.models import ChatSession

__all__ = ["COUNT_CAP", "PAGE_SIZE", "SearchResults", "search"]

PAGE_SIZE: Final = 25
COUNT_CAP: Final = 1_000
ORDER: Final = ("-start_time", "-id")
SEARCH_WORK_MEM: Final = "64MB"


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


@contextmanager
def _search_settings(using: str) -> Iterator[None]:
    """A transaction whose PostgreSQL settings suit the search queries (see above)."""
    with transaction.atomic(using=using):
        if connections[using].vendor == "postgresql":
            with connections[using].cursor() as cursor:
                cursor.execute(
                    "SELECT set_config('work_mem', %s, true), set_config('jit', 'off', true), "
                    "set_config('max_parallel_workers_per_gather', '0', true)",
                    [SEARCH_WORK_MEM],
                )
        yield


def search(company_id: int, params: QueryDict, page: int = 1) -> SearchResults:
    """One page of the company's sessions matching ``params`` (the filter set's fields).

    Invalid filters give no rows and ``valid`` False; the form carries the field errors.
    A page past the last is clamped to the last. Three queries at most (four with the
    settings on PostgreSQL), in one read-only transaction.
    """
    sessions = ChatSession.objects.for_company(company_id)
    filterset = SessionFilterSet(params, queryset=sessions.order_by(*ORDER))
    if not filterset.is_valid():
        return SearchResults(form=filterset.form, valid=False)
    matching = filterset.qs
    with _search_settings(matching.db):
        probe = list(matching.order_by().values_list("pk", flat=True)[: COUNT_CAP + 1])
        capped = len(probe) > COUNT_CAP
        results = SearchResults(
            form=filterset.form, count=min(len(probe), COUNT_CAP), count_capped=capped
        )
        results.page = min(max(1, page), results.num_pages)
        offset = (results.page - 1) * PAGE_SIZE
        if capped:
            ids = list(matching.values_list("pk", flat=True)[offset : offset + PAGE_SIZE])
        else:
            ids = probe
        rows = sessions.filter(pk__in=ids).order_by(*ORDER).defer("full_transcript")
        results.sessions = list(rows if capped else rows[offset : offset + PAGE_SIZE])
    return results
