"""⑤ Database calls from the event loop: small synchronous helpers run on worker threads."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from channels.db import database_sync_to_async
from django.db import close_old_connections

T = TypeVar("T")


def in_thread(func: Callable[..., T]) -> Callable[..., Awaitable[T]]:
    """ORM work off the event loop, on the shared pool (not one thread per process: connects,
    snapshots and actions of different sockets run side by side).

    The connection is closed (or handed back to the pool) inside the call: with asgiref 3.13
    the database connection opened in the worker's copied context is not always the one
    `database_sync_to_async`'s own clean-up sees, and an idle connection would be left behind.
    """

    @functools.wraps(func)
    def run(*args: Any, **kwargs: Any) -> T:
        try:
            return func(*args, **kwargs)
        finally:
            close_old_connections()

    return database_sync_to_async(run, thread_sensitive=False)
