"""① Webhook ingestion: who is this webhook for? Channel lookup by the UUID in the URL.

Every webhook needs its channel's secrets before it can verify anything, so the lookup sits on
the hot path. A per-process TTL cache of small immutable records keeps it off the database:
a secret rotation or deactivation takes effect within `ttl` seconds. Unknown UUIDs are cached
too (briefly, in a bucket of their own) so a flood of made-up URLs neither reaches the database
on every request nor evicts real channels. Concurrent misses for one UUID share one query, and
at most `max_concurrent_queries` queries run at once, so a flood of random UUIDs cannot drain
the database pool.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import msgspec
from asgiref.sync import sync_to_async
from django.db import close_old_connections

from routing_service.chats.models import Channel
from routing_service.ingest.adapters.base import ChannelSecrets

_FIELDS = (
    "id",
    "company_id",
    "provider",
    "secret",
    "previous_secret",
    "config",
    "max_body_bytes",
    "is_active",
)


class ChannelInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What the webhook needs of a channel; shared between requests, so never mutate `config`."""

    id: int
    company_id: int
    provider: str
    secret: str
    previous_secret: str
    config: dict[str, Any]
    max_body_bytes: int | None
    is_active: bool
    secrets: ChannelSecrets

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ChannelInfo:
        config = row["config"] if isinstance(row["config"], dict) else {}
        return cls(
            id=row["id"],
            company_id=row["company_id"],
            provider=row["provider"],
            secret=row["secret"],
            previous_secret=row["previous_secret"],
            config=config,
            max_body_bytes=row["max_body_bytes"],
            is_active=row["is_active"],
            secrets=ChannelSecrets(
                secret=row["secret"],
                previous_secret=row["previous_secret"] or None,
                config=config,
            ),
        )


def parse_uuid(text: str) -> uuid.UUID | None:
    """The UUID a URL segment spells, or None (→ 404 without touching the database)."""
    if len(text) not in (32, 36):  # hex, or the canonical dashed form
        return None
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


async def _query(key: uuid.UUID) -> dict[str, Any] | None:
    try:
        # `.unscoped()`: the webhook acts for no company; the channel row tells us which one.
        return await Channel.objects.unscoped().filter(uuid=key).values(*_FIELDS).afirst()
    finally:
        # No request_finished signal on this path: hand the connection back (to the pool, or
        # closed when CONN_MAX_AGE is 0) and drop broken ones, as Django does after a request.
        await sync_to_async(close_old_connections)()


class ChannelCache:
    """In-process TTL cache of `ChannelInfo` by the UUID segment of the URL.

    Keyed by the segment as sent, so a hit costs one dict lookup; only a miss parses it
    (`uuid.UUID()` costs more than the rest of the lookup). The few spellings of one UUID
    (case, dashes) are cached separately, which is harmless.
    """

    def __init__(
        self,
        *,
        ttl: float = 10.0,
        miss_ttl: float = 2.0,
        max_size: int = 10_000,
        max_misses: int = 10_000,
        max_concurrent_queries: int = 4,
    ) -> None:
        self.ttl = ttl
        self.miss_ttl = miss_ttl
        self.max_size = max_size
        self.max_misses = max_misses
        self.max_concurrent_queries = max_concurrent_queries
        self._hits: dict[str, tuple[float, ChannelInfo]] = {}
        self._misses: dict[str, float] = {}
        self._inflight: dict[str, asyncio.Future[ChannelInfo | None]] = {}
        self._limiter: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def clear(self) -> None:
        self._hits.clear()
        self._misses.clear()

    async def get(self, key: str | uuid.UUID) -> ChannelInfo | None:
        """The channel with this UUID (active or not), or None if there is none or `key` is
        not a UUID (then without a query)."""
        if not isinstance(key, str):
            key = str(key)
        now = time.monotonic()
        hit = self._hits.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        miss = self._misses.get(key)
        if miss is not None and miss > now:
            return None
        parsed = parse_uuid(key)
        if parsed is None:
            return None
        self._bind_loop()
        pending = self._inflight.get(key)
        if pending is not None:
            # Another request is already asking the database: wait for its answer.
            try:
                return await asyncio.shield(pending)
            except asyncio.CancelledError:
                if not pending.cancelled():
                    raise  # this request was cancelled, not the one asking
                return await self._load(key, parsed)
        future: asyncio.Future[ChannelInfo | None] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            info = await self._load(key, parsed)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters (if any) re-raise it themselves
            raise
        else:
            future.set_result(info)
            return info
        finally:
            if self._inflight.get(key) is future:
                del self._inflight[key]

    async def _load(self, key: str, parsed: uuid.UUID) -> ChannelInfo | None:
        assert self._limiter is not None
        async with self._limiter:
            row = await _query(parsed)
        now = time.monotonic()
        if row is None:
            _store(self._misses, key, now + self.miss_ttl, self.max_misses, now)
            return None
        info = ChannelInfo.from_row(row)
        self._misses.pop(key, None)
        _store(self._hits, key, (now + self.ttl, info), self.max_size, now)
        return info

    def _bind_loop(self) -> None:
        """asyncio primitives belong to one loop; tests (and reloads) may bring a new one."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._loop = loop
            self._limiter = asyncio.Semaphore(self.max_concurrent_queries)
            self._inflight = {}


def _store(table: dict[str, Any], key: str, value: Any, limit: int, now: float) -> None:
    """Insert, keeping `table` under `limit`: drop expired entries, then the oldest tenth."""
    table.pop(key, None)  # re-insert at the end: the dict's order is the insertion order
    if len(table) >= limit:
        for stale in [k for k, v in table.items() if _expiry(v) <= now]:
            del table[stale]
        if len(table) >= limit:
            for oldest in list(table)[: max(1, limit // 10)]:
                del table[oldest]
    table[key] = value


def _expiry(value: float | tuple[float, ChannelInfo]) -> float:
    return value[0] if isinstance(value, tuple) else value
