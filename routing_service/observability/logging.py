"""Structured logs: structlog renders every record — ours and the libraries' stdlib ones.

`configure_logging` is called from settings and returns the `LOGGING` dict: one handler whose
`structlog.stdlib.ProcessorFormatter` renders JSON lines (production) or coloured console lines
(development). Context bound with `structlog.contextvars` — the request id, the company and
conversation a router batch or an SLA deadline is about — is merged into every line, including
lines from plain `logging.getLogger(__name__)` loggers, so call sites need not change.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

import structlog

LOG_FORMATS = ("json", "console")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")


def request_id_from(value: str | bytes | None) -> str:
    """The caller's id when it is a sane token, else a new one (never echo arbitrary bytes)."""
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if value and _REQUEST_ID.match(value):
        return value
    return os.urandom(16).hex()  # as long as a uuid4 hex, at a third of the cost


def bind_asgi_request_id(scope: Mapping[str, Any]) -> bytes:
    """Bind the request id of a bare ASGI request (the webhook app); returns it for the echo.

    The ASGI server runs each request in its own task, so the binding ends with the request.
    """
    raw: bytes | None = None
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            raw = value
            break
    request_id = request_id_from(raw)
    structlog.contextvars.bind_contextvars(request_id=request_id)
    return request_id.encode()


class _HasCompany(Protocol):
    @property
    def company_id(self) -> int: ...


def bind_companies(entries: Iterable[_HasCompany | None]) -> None:
    """Bind `company_id` for what follows: the company, or the sorted ids of a mixed batch."""
    ids = sorted({entry.company_id for entry in entries if entry is not None})
    structlog.contextvars.bind_contextvars(company_id=ids[0] if len(ids) == 1 else ids)


def shared_processors() -> list[Any]:
    """Processors for both structlog and stdlib records (the formatter's pre-chain)."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def formatter(fmt: str) -> dict[str, Any]:
    """A `logging.config` formatter entry for `fmt` ("json" or "console")."""
    renderer: Any
    if fmt == "json":
        renderer = structlog.processors.JSONRenderer()
        final: list[Any] = [structlog.processors.format_exc_info, renderer]
    else:
        final = [structlog.dev.ConsoleRenderer(colors=False)]
    return {
        "()": structlog.stdlib.ProcessorFormatter,
        "foreign_pre_chain": shared_processors(),
        "processors": [structlog.stdlib.ProcessorFormatter.remove_processors_meta, *final],
    }


def configure_logging(fmt: str, level: str) -> dict[str, Any]:
    """Configure structlog and return Django's `LOGGING` for this format and level."""
    if fmt not in LOG_FORMATS:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured(f"LOG_FORMAT must be one of {LOG_FORMATS}, got {fmt!r}")
    structlog.configure(
        processors=[
            *shared_processors(),
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"structured": formatter(fmt)},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {"daphne": {"level": "WARNING"}},
    }
