"""⑤ Redis clients for the websocket side: one asyncio client per event loop and URL.

asyncio connections belong to the loop that opened them, so a client is cached per running
loop (daphne has one; a test suite makes one per test). Synchronous code — the presence loop,
the stats computation in worker threads — uses `sync_client`.
"""

from __future__ import annotations

import asyncio
import functools
import weakref

import redis
import redis.asyncio as aredis
from django.conf import settings
from redis.commands.core import AsyncScript

from events import redis_clients

_POOL_SIZE = 64
_POOL_TIMEOUT_SECONDS = 20
_scripts: weakref.WeakKeyDictionary[aredis.Redis, dict[str, AsyncScript]] = (
    weakref.WeakKeyDictionary()
)
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, aredis.Redis]] = (
    weakref.WeakKeyDictionary()
)


def async_client(url: str | None = None) -> aredis.Redis:
    """The current loop's client for `url` (default: the channel layer's Redis, home of the
    event log)."""
    url = url or settings.CHANNEL_LAYER_REDIS_URL
    per_loop = _clients.setdefault(asyncio.get_running_loop(), {})
    client = per_loop.get(url)
    if client is None:
        # Blocking on one Redis: a reconnect storm waits for a free connection instead of
        # failing (redis-py's default pool raises past 100 connections in use). A cluster
        # client's node pools do not wait: give them room instead.
        size = _POOL_SIZE * 4 if redis_clients.cluster_enabled() else _POOL_SIZE
        client = per_loop[url] = redis_clients.async_client(
            url, max_connections=size, blocking_timeout=_POOL_TIMEOUT_SECONDS
        )
    return client


def script(client: aredis.Redis, source: str) -> AsyncScript:
    """A registered (EVALSHA) script, made once per client."""
    per_client = _scripts.setdefault(client, {})
    found = per_client.get(source)
    if found is None:
        found = per_client[source] = client.register_script(source)
    return found


def presence_async_client() -> aredis.Redis:
    return async_client(settings.REDIS_URL)


@functools.cache
def sync_client(url: str) -> redis.Redis:
    return redis_clients.sync_client(url)


def presence_sync_client() -> redis.Redis:
    return sync_client(settings.REDIS_URL)
