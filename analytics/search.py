"""Session search: words in a chat's first message or transcript.

PostgreSQL: full-text search with the ``simple`` configuration — every word lower-cased, no
stemming and no stop words, because transcripts come in every language and ``simple`` treats
them all alike ("refund" finds "Refund!" but not "refunds"). The query is read by
``websearch_to_tsquery``: words are ANDed, ``"quoted phrases"``, ``or`` and ``-excluded``
work as in a web search box, and nothing a user types is a syntax error. The words are
matched against ``search_vector``, a generated column (migration 0006) holding
``to_tsvector('simple', initial_msg || ' ' || full_transcript)``, parsed once when the row is
written and indexed with GIN: checking a row the index did not decide (a phrase's recheck, a
walk newest first) reads that vector instead of parsing the transcript again.

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
# The generated tsvector column of analytics/migrations/0006_session_search_vector.py (not in
# the model: PostgreSQL only, and never worth selecting).
SEARCH_VECTOR_SQL: Final = f'"{_TABLE}"."search_vector"'
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
