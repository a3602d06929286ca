"""Reads from a PostgreSQL streaming replica, chosen explicitly and guarded.

With ``DATABASE_REPLICA_URL`` set, settings add a ``replica`` alias and ``ReplicaRouter``.
Nothing reads from the replica by default: only code inside ``reading_from_replica(request)``
(dashboards, the session search and detail, exports) does, so a write path can never act on
stale rows. Two guards keep those pages honest:

* read-your-writes: a user who wrote within ``DATABASE_REPLICA_PIN_SECONDS`` (any unsafe
  request, see ``PinWritersMiddleware``, or an import of theirs that just finished) reads from
  the primary, so a saved dashboard or a finished import shows at once;
* lag: the replica's replay lag is measured (at most once a second per process) and past
  ``DATABASE_REPLICA_MAX_LAG_SECONDS``, or when the replica cannot be reached, reads go to the
  primary with a warning in the log; the page never fails for it.

Streamed responses (CSV exports) are read after the view returns: ``follow_reads`` carries the
view's choice into their iterator.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Final, TypeVar

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import MiddlewareNotUsed
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.http import HttpRequest, HttpResponseBase

logger = logging.getLogger(__name__)

REPLICA: Final = "replica"
LAG_CHECK_EVERY_SECONDS: Final = 1.0
_PIN_KEY: Final = "replica-pin:user:{}"

# The alias reads go to in this context (None: Django's default, the primary).
_read_alias: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "replica_read_alias", default=None
)

# LAG_QUERY: "caught up" when everything received has been replayed (an idle primary sends no
# WAL, so the last replayed transaction may be old without any lag); otherwise the age of the
# last replayed transaction. Not in recovery (a URL naming a primary): no lag.
LAG_QUERY: Final = """
SELECT CASE
    WHEN NOT pg_is_in_recovery() THEN 0.0
    WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0.0
    ELSE EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float8
END
"""


class ReplicaRouter:
    """Reads go to the replica only inside ``reading_from_replica``; writes and migrations
    always to the primary; rows of both aliases may be related (they are the same rows)."""

    def db_for_read(self, model: type, **hints: Any) -> str | None:
        # Inside a transaction on the primary (a roll-up built on demand, a locked read) the
        # reads belong to that transaction.
        if connections[DEFAULT_DB_ALIAS].in_atomic_block:
            return None
        return _read_alias.get()

    def db_for_write(self, model: type, **hints: Any) -> str:
        # A write while reading from the replica (a dashboard building a missing roll-up):
        # the rest of those reads must see it, so they move to the primary.
        if _read_alias.get() is not None:
            _read_alias.set(None)
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool:
        return True

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool:
        return db == DEFAULT_DB_ALIAS


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


# --- read-your-writes -------------------------------------------------------------------------


def pin_to_primary(user_id: int | None) -> None:
    """The user wrote: their reads stay on the primary for DATABASE_REPLICA_PIN_SECONDS."""
    if user_id is None or not replica_configured():
        return
    seconds = settings.DATABASE_REPLICA_PIN_SECONDS
    if seconds > 0:
        cache.set(_PIN_KEY.format(user_id), time.time(), timeout=seconds)


def pinned_to_primary(user_id: int | None) -> bool:
    return user_id is not None and cache.get(_PIN_KEY.format(user_id)) is not None


class PinWritersMiddleware:
    """Any unsafe request by a signed-in user pins them (saved dashboards, uploads, imports)."""

    UNSAFE: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        if not replica_configured():
            raise MiddlewareNotUsed  # no cost on the webhook path without a replica
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if request.method in self.UNSAFE:
            user = getattr(request, "user", None)
            if user is not None and user.is_authenticated:
                pin_to_primary(user.pk)
        return response


# --- lag ------------------------------------------------------------------------------------


class _LagProbe:
    """The replica's health, measured at most once a LAG_CHECK_EVERY_SECONDS per process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._checked_at = float("-inf")
        self._usable = False
        self.last_lag: float | None = None

    def reset(self) -> None:
        with self._lock:
            self._checked_at = float("-inf")

    def usable(self) -> bool:
        with self._lock:
            if time.monotonic() - self._checked_at < LAG_CHECK_EVERY_SECONDS:
                return self._usable
            self._usable = self._measure()
            self._checked_at = time.monotonic()
            return self._usable

    def _measure(self) -> bool:
        limit = settings.DATABASE_REPLICA_MAX_LAG_SECONDS
        try:
            with connections[REPLICA].cursor() as cursor:
                cursor.execute(LAG_QUERY)
                row = cursor.fetchone()
        except DatabaseError as exc:
            logger.warning("read replica unreachable, reading from the primary: %s", exc)
            connections[REPLICA].close()
            self.last_lag = None
            return False
        lag = row[0] if row else None
        self.last_lag = None if lag is None else float(lag)
        if self.last_lag is None or self.last_lag > limit:
            logger.warning(
                "read replica lags %s s (limit %s s), reading from the primary",
                "unknown" if lag is None else f"{self.last_lag:.1f}",
                limit,
            )
            return False
        return True


lag_probe = _LagProbe()


# --- choosing -------------------------------------------------------------------------------


def choose_read_alias(request: HttpRequest | None) -> str | None:
    """``replica`` when configured, the user has not written lately and it is fresh enough."""
    if not replica_configured():
        return None
    user = getattr(request, "user", None) if request is not None else None
    if user is not None and user.is_authenticated and pinned_to_primary(user.pk):
        return None
    return REPLICA if lag_probe.usable() else None


@contextmanager
def reading_from(alias: str | None) -> Iterator[None]:
    token = _read_alias.set(alias)
    try:
        yield
    finally:
        _read_alias.reset(token)


@contextmanager
def reading_from_replica(request: HttpRequest | None) -> Iterator[str | None]:
    """Reads inside go to the replica when ``choose_read_alias`` allows; yields the alias."""
    alias = choose_read_alias(request)
    with reading_from(alias):
        yield alias


def current_read_alias() -> str | None:
    return _read_alias.get()


T = TypeVar("T")


class follow_reads(Iterator[T]):
    """An iterator that reads where the code that made it was reading (a streamed export is
    consumed after its view, and its context, have returned)."""

    def __init__(self, inner: Iterator[T]) -> None:
        self._inner = inner
        self._alias = _read_alias.get()

    def __next__(self) -> T:
        with reading_from(self._alias):
            return next(self._inner)


F = TypeVar("F", bound=Callable[..., Any])


def replica_reads(view: F) -> F:
    """View decorator: the whole view reads inside ``reading_from_replica(request)``."""
    from functools import wraps

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        with reading_from_replica(request):
            return view(request, *args, **kwargs)

    return wrapped  # type: ignore[return-value]
