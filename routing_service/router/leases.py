"""Shard leases: at any moment exactly one router reads a given inbound shard.

Routers in one consumer group would otherwise take batches of the same shard concurrently, and
two batches holding messages of the same client could commit in the opposite order to the
stream's. So each shard has a lease, a Redis key ``<stream key>:lease`` (it keeps the shard's
hash tag) holding the owner's name, taken with ``SET NX PX`` and renewed every
``ROUTER_LEASE_RENEW_MS``. Live routers announce themselves in a small sorted set (member: name,
score: heartbeat expiry in ms); each takes free shards up to its fair share,
``ceil(shards / live routers)``, and gives back what it holds above it, so a router that joins
gets work and one that dies has its shards taken over once its lease expires.

With one shard, one router processes the stream and the others are hot standbys: throughput
scales with shards, not routers.
"""

from __future__ import annotations

import math
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from django.conf import settings

from events.redis_clients import is_cluster_client

# KEYS[1] lease, ARGV[1] owner, ARGV[2] ttl ms. 1 if renewed (still ours), 0 if lost.
RENEW_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
# KEYS[1] lease, ARGV[1] owner. Deletes only our own lease, never a successor's.
RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def lease_key(stream_key: str) -> str:
    return f"{stream_key}:lease"


def members_key() -> str:
    return f"{settings.INBOUND_STREAM}:routers"


def fair_share(shards: int, live: int) -> int:
    return math.ceil(shards / max(1, live))


def preference(name: str, streams: Sequence[str]) -> list[str]:
    """The order in which a router tries free shards: rotated by its name, so routers starting
    together do not all race for shard 0 first."""
    if not streams:
        return []
    start = zlib.crc32(name.encode()) % len(streams)
    return [*streams[start:], *streams[:start]]


@dataclass
class LeaseChanges:
    gained: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    released: list[str] = field(default_factory=list)


class ShardLeases:
    """The shards one router holds; `refresh` renews, balances and takes over."""

    def __init__(
        self,
        client: aioredis.Redis,
        name: str,
        streams: Sequence[str],
        *,
        ttl_ms: int | None = None,
    ) -> None:
        self.client = client
        self.name = name
        self.streams = list(streams)
        self.ttl_ms = ttl_ms or settings.ROUTER_LEASE_TTL_MS
        self.owned: list[str] = []
        self._renew = client.register_script(RENEW_LUA)
        self._release = client.register_script(RELEASE_LUA)

    async def heartbeat(self) -> int:
        """Say we are alive; return how many routers are (ourselves included)."""
        now_ms = int(time.time() * 1000)
        # MULTI on one Redis; on a cluster plain pipelining (one key, so one node anyway: redis-py's
        # transactional cluster pipeline keeps a connection bound to its first event loop).
        pipe = self.client.pipeline(transaction=not is_cluster_client(self.client))
        pipe.zremrangebyscore(members_key(), "-inf", now_ms)
        pipe.zadd(members_key(), {self.name: now_ms + self.ttl_ms})
        pipe.zcard(members_key())
        result = await pipe.execute()
        return max(1, int(result[-1]))

    async def refresh(self) -> LeaseChanges:
        """Renew what we hold, give back what is above our fair share, take free shards."""
        changes = LeaseChanges()
        live = await self.heartbeat()
        share = fair_share(len(self.streams), live)
        for key in list(self.owned):
            if not await self._renew(keys=[lease_key(key)], args=[self.name, self.ttl_ms]):
                self.owned.remove(key)
                changes.lost.append(key)
        while len(self.owned) > share:
            key = self.owned.pop()  # the most recently taken
            await self._release(keys=[lease_key(key)], args=[self.name])
            changes.released.append(key)
        for key in preference(self.name, self.streams):
            if len(self.owned) >= share:
                break
            if key in self.owned:
                continue
            if await self.client.set(lease_key(key), self.name, nx=True, px=self.ttl_ms):
                self.owned.append(key)
                changes.gained.append(key)
        return changes

    async def release_all(self) -> None:
        """On a clean stop: free our shards at once instead of after the TTL."""
        for key in self.owned:
            await self._release(keys=[lease_key(key)], args=[self.name])
        self.owned = []
        await self.client.zrem(members_key(), self.name)
