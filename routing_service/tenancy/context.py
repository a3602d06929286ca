"""The active tenant of the current request, consumer or job.

A context variable rather than a thread-local: asgiref copies contextvars into the threads that
run sync code, so a company set by the middleware is visible to the view and the ORM calls it
makes, and a company set by a websocket consumer is visible to its database_sync_to_async calls.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from routing_service.tenancy.models import Company

_active_company: ContextVar[Company | None] = ContextVar("active_company", default=None)


def get_active_company() -> Company | None:
    return _active_company.get()


@contextmanager
def active_company(company: Company | None) -> Iterator[None]:
    """Scope every tenant manager to `company` inside the block (None: no scoping)."""
    token = _active_company.set(company)
    try:
        yield
    finally:
        _active_company.reset(token)
