"""CSV exports: spreadsheet-safe cells and a streamed response, shared by every analytics export.

Two hazards decide the shape of this module:

* **Formula injection.** A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
  return is run as a formula by Excel, LibreOffice and Google Sheets (``=HYPERLINK(...)`` in a
  customer's first message is the classic). ``safe_cell`` prefixes such text with ``'``, which
  the spreadsheet shows as text and drops from display. Numbers are left alone: a negative
  number is data, not a formula.
* **Memory.** Exports are built row by row from a database iterator and never held whole. Under
  ASGI (daphne) Django materialises a *synchronous* streaming iterator into a list before sending
  it, so ``csv_response`` hands ASGI requests an asynchronous iterator that pulls chunks of rows
  through ``sync_to_async`` — same thread, so the same connection and server-side cursor.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from decimal import Decimal
from itertools import islice
from typing import Any, Final

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, StreamingHttpResponse

from routing_service.db.replica import follow_reads

__all__ = [
    "FORMULA_PREFIXES",
    "csv_chunks",
    "csv_response",
    "format_cell",
    "safe_cell",
    "stream_response",
]

FORMULA_PREFIXES: Final = ("=", "+", "-", "@", "\t", "\r")
# Rows per chunk handed to the server: large enough that per-chunk overhead (and, under ASGI,
# one thread hop per chunk) is negligible, small enough to stay a few hundred kB.
ROWS_PER_CHUNK: Final = 500


def safe_cell(value: str) -> str:
    """``value`` as a spreadsheet will show it: text, never a formula."""
    if value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def format_cell(value: Any) -> str:
    """One exported cell: ISO 8601 times, ``true``/``false``, blank for None; text made safe."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return safe_cell(str(value))


def csv_chunks(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    """The CSV text of ``header`` and ``rows`` (values already formatted), a chunk at a time."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([safe_cell(name) for name in header])
    iterator = iter(rows)
    while True:
        writer.writerows(islice(iterator, ROWS_PER_CHUNK))
        chunk = buffer.getvalue()
        if not chunk:
            return
        yield chunk
        buffer.seek(0)
        buffer.truncate()


def _next_chunk(chunks: Iterator[str]) -> str | None:
    return next(chunks, None)


async def _pull(chunks: Iterator[str]) -> AsyncIterator[str]:
    """Drive a synchronous (database-backed) iterator from async code, one chunk per hop."""
    step = sync_to_async(_next_chunk, thread_sensitive=True)
    while (chunk := await step(chunks)) is not None:
        yield chunk


def csv_response(
    request: HttpRequest, filename: str, chunks: Iterator[str]
) -> StreamingHttpResponse:
    """A streamed ``text/csv`` download, asynchronous under ASGI so it is really streamed."""
    return stream_response(request, filename, chunks, "text/csv; charset=utf-8")


def stream_response(
    request: HttpRequest, filename: str, chunks: Iterator[str], content_type: str
) -> StreamingHttpResponse:
    """A streamed download of any text type (CSV, plain text, JSON), as ``csv_response``."""
    # Read where the view read (the replica, in its context): the rows are fetched later.
    chunks = follow_reads(chunks)
    content: Iterator[str] | AsyncIterator[str] = (
        _pull(chunks) if isinstance(request, ASGIRequest) else chunks
    )
    response = StreamingHttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response
