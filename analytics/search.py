"""Session search: words in a chat's first message or transcript.

PostgreSQL: full-text search with the ``simple`` configuration — every word lower-cased, no
stemming and no stop words, because transcripts come in every language and ``simple`` treats
them all alike ("refund" finds "Refund!" but not "refunds"). The query is read by
``websearch_to_tsquery``: words are ANDed, ``"quoted phrases"``, ``or`` and ``-excluded``
work as in a web search box, and nothing a user types is a syntax error. The match uses
exactly the expression of the GIN index created by migration 0004, so it is an index scan.

SQLite (the zero-setup demo): every word must appear, case-insensitively, in either field
(``LIKE``, a scan — fine at demo sizes).
"""

from __future__ import annotations

from typing import Final, TypeVar

from django.db import connections
from django.db.models import BooleanField, Q, QuerySet
from django.db.models.expressions import RawSQL

from analytics.models import ChatSession

__all__ = ["SEARCH_VECTOR_SQL", "search_sessions"]

_S = TypeVar("_S", bound=QuerySet[ChatSession])

_TABLE: Final = ChatSession._meta.db_table
# Keep identical to the indexed expression (analytics/migrations/0004_session_search_index.py).
SEARCH_VECTOR_SQL: Final = (
    "to_tsvector('simple'::regconfig, "
    f"coalesce(\"{_TABLE}\".\"initial_msg\", '') || ' ' || "
    f'coalesce("{_TABLE}"."full_transcript", \'\'))'
)
_MATCH_SQL: Final = f"{SEARCH_VECTOR_SQL} @@ websearch_to_tsquery('simple'::regconfig, %s)"


def search_sessions(queryset: _S, query: str) -> _S:
    """``queryset`` narrowed to the sessions whose first message or transcript match ``query``.

    A blank query changes nothing.
    """
    query = query.strip()
    if not query:
        return queryset
    if connections[queryset.db].vendor == "postgresql":
        match = RawSQL(_MATCH_SQL, [query], output_field=BooleanField())  # noqa: S611
        return queryset.filter(match)
    for word in query.replace('"', " ").split():
        queryset = queryset.filter(
            Q(initial_msg__icontains=word) | Q(full_transcript__icontains=word)
        )
    return queryset
