"""Upload size limits for CSV imports, for the API and the analytics pages alike.

A CSV upload may be hundreds of megabytes, so the limit (``settings.CSV_IMPORT_MAX_BYTES``) is
checked three times, cheapest first:

1. ``check_content_length(request)`` before the body is parsed: the declared length, allowing
   ``MULTIPART_OVERHEAD`` for the form's boundaries and other fields;
2. ``limit_uploads(request)`` installs ``SizeLimitHandler`` first in the request's upload
   handlers, so parsing stops as soon as a file passes the limit (a missing or lying
   Content-Length does not help);
3. ``check_file_size(upload)`` on the parsed file.

Each raises ``UploadTooLarge``; the API answers it with 413 JSON. Note that a reverse proxy
(nginx ``client_max_body_size``) is still what keeps an oversized body off the application:
under ASGI, Django has buffered the body (to a temporary file) before any view runs.

A body sent chunked (``Transfer-Encoding: chunked``, no ``Content-Length``) arrives the same
way, but Django's multipart parser (and DRF's) reads only as much of a body as
``CONTENT_LENGTH`` says: none, so the upload looked like "No file was submitted".
``limit_uploads`` declares the length of the buffered body first (``declare_body_length``),
and every check above then applies with or without the header.
"""

from __future__ import annotations

import io
from typing import Any, Final

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, StopUpload
from django.http import HttpRequest
from django.utils.translation import gettext

__all__ = [
    "MULTIPART_OVERHEAD",
    "SizeLimitHandler",
    "UploadTooLarge",
    "check_content_length",
    "check_file_size",
    "declare_body_length",
    "limit_uploads",
    "max_upload_bytes",
]

# Boundaries, part headers and the small fields (name, company) around the file.
MULTIPART_OVERHEAD: Final = 64 * 1024


class UploadTooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(
            gettext("The file is too large: the limit is %(limit)s bytes (%(human)s).")
            % {"limit": limit, "human": _human(limit)}
        )
        self.limit = limit


def _human(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def max_upload_bytes() -> int:
    return int(settings.CSV_IMPORT_MAX_BYTES)


def check_content_length(request: HttpRequest, limit: int | None = None) -> None:
    limit = max_upload_bytes() if limit is None else limit
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return  # Django answers a malformed Content-Length itself when it reads the body
    if declared > limit + MULTIPART_OVERHEAD:
        raise UploadTooLarge(limit)


def check_file_size(upload: UploadedFile, limit: int | None = None) -> None:
    limit = max_upload_bytes() if limit is None else limit
    if (upload.size or 0) > limit:
        raise UploadTooLarge(limit)


class SizeLimitHandler(FileUploadHandler):
    """Counts each uploaded file's bytes and stops the upload when one passes ``limit``.

    Stopping drops the file (``request.FILES`` lacks it) and sets ``exceeded``; the rest of the
    body is still read and discarded, so the client gets the answer rather than a reset.
    """

    def __init__(self, limit: int, request: HttpRequest | None = None) -> None:
        super().__init__(request)
        self.limit = limit
        self.exceeded = False
        self._received = 0

    def new_file(self, *args: Any, **kwargs: Any) -> None:
        self._received = 0
        super().new_file(*args, **kwargs)

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes:
        self._received += len(raw_data)
        if self._received > self.limit:
            self.exceeded = True
            raise StopUpload(connection_reset=False)
        return raw_data

    def file_complete(self, file_size: int) -> None:
        return None  # the next handler builds the file


def declare_body_length(request: HttpRequest) -> None:
    """Set ``CONTENT_LENGTH`` from the body itself when the client sent none (chunked).

    Only a body the server has already buffered in a seekable file can be measured — what
    Django's ASGI handler does with every request. Call before anything reads the body.
    """
    if request.META.get("CONTENT_LENGTH") or getattr(request, "_read_started", True):
        return
    body = getattr(request, "_stream", None)
    if body is None or not getattr(body, "seekable", lambda: False)():
        return
    start = body.tell()
    size = body.seek(0, io.SEEK_END) - start
    body.seek(start)
    if size > 0:
        request.META["CONTENT_LENGTH"] = str(size)


def limit_uploads(request: HttpRequest, limit: int | None = None) -> SizeLimitHandler:
    """Put a ``SizeLimitHandler`` first; call before anything reads ``request.POST/FILES``.

    Also declares the length of a chunked body (``declare_body_length``), so that it is
    parsed at all and ``check_content_length`` sees its size."""
    handler = SizeLimitHandler(max_upload_bytes() if limit is None else limit, request)
    handlers = request.upload_handlers
    if not isinstance(handlers, list):  # Django freezes them once the body has been parsed
        raise RuntimeError("limit_uploads() must be called before the request body is read")
    declare_body_length(request)
    handlers.insert(0, handler)
    return handler
