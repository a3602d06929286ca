"""The one place that builds Redis clients: a single server or a Redis Cluster, from settings.

With `REDIS_CLUSTER=true` every URL names a seed node of a cluster and the clients are redis-py's
`RedisCluster` (sync or asyncio): commands go to their key's slot owner, and the client follows
MOVED redirections and failovers by re-reading the slot map. Keys a script or a multi-key
command touches together share a hash tag (`{s3}` for an inbound shard, `{c42}` for a company,
`{presence}`), so such a call always lands on one slot.

The cluster clients speak the same command API as `redis.Redis`; they are typed as such so
callers keep one code path. What a cluster cannot do the same way — raw connection pools,
CLIENT KILL across nodes, SUBSCRIBE — callers check `cluster_enabled()` for.
Lives in `events/` (the bottom layer): the event log needs it, and it imports nothing above.
"""

from __future__ import annotations

from typing import Any, cast

import redis
import redis.asyncio as aioredis
from django.conf import settings
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import RedisCluster
from redis.exceptions import RedisClusterException, RedisError

# What "Redis failed" looks like: a cluster client also raises RedisClusterException (not a
# RedisError) when no node answers or a slot is not covered (mid-failover).
REDIS_ERRORS: tuple[type[Exception], ...] = (RedisError, RedisClusterException, OSError)

# Connection options a cluster client does not take (it makes its nodes' pools itself).
_NOT_FOR_CLUSTER = ("connection_pool", "redis_connect_func", "db")
_sync_clusters: dict[tuple[str, tuple[tuple[str, Any], ...]], RedisCluster] = {}


def cluster_enabled() -> bool:
    return bool(getattr(settings, "REDIS_CLUSTER", False))


def _cluster_options(options: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in options.items() if k not in _NOT_FOR_CLUSTER}


def sync_client(url: str, **options: Any) -> redis.Redis:
    """A synchronous client for `url`; with a cluster, one shared client per URL and options
    (a cluster client holds a pool per node and the slot map: worth sharing)."""
    if not cluster_enabled():
        return redis.Redis.from_url(url, **options)
    key = (url, tuple(sorted((k, repr(v)) for k, v in options.items())))
    client = _sync_clusters.get(key)
    if client is None:
        client = _sync_clusters[key] = RedisCluster.from_url(url, **_cluster_options(options))
    return cast(redis.Redis, client)


def async_client(
    url: str, *, blocking_timeout: float | None = None, **options: Any
) -> aioredis.Redis:
    """A new asyncio client for `url` (its connections belong to the running event loop, so
    callers keep one per loop). `blocking_timeout`: on one Redis, a pool that waits that long
    for a free connection instead of failing (a cluster client's node pools do not wait)."""
    if not cluster_enabled():
        if blocking_timeout is not None:
            pool = aioredis.BlockingConnectionPool.from_url(
                url, timeout=blocking_timeout, **options
            )
            return aioredis.Redis(connection_pool=pool)
        return aioredis.Redis.from_url(url, **options)
    return cast(aioredis.Redis, AsyncRedisCluster.from_url(url, **_cluster_options(options)))


def is_cluster_client(client: Any) -> bool:
    return isinstance(client, RedisCluster | AsyncRedisCluster)


def hash_tag(key: str) -> str:
    """The part of `key` that decides its slot (Redis Cluster's rule: the first non-empty
    `{...}`), or the whole key."""
    start = key.find("{")
    if start >= 0:
        end = key.find("}", start + 1)
        if end > start + 1:
            return key[start + 1 : end]
    return key
