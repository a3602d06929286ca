"""Django's Redis cache on a Redis Cluster (`REDIS_CLUSTER=true`).

Django's `RedisCacheClient` builds plain `redis.Redis` clients from a pool and sends multi-key
commands (MGET, MSET, DEL) that a cluster refuses across slots. Here every call goes through
one cluster client from the factory, and the multi-key calls are split by slot.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient

from events.redis_clients import sync_client


class ClusterCacheClient(RedisCacheClient):
    _servers: list[str]
    _serializer: Any

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        return sync_client(self._servers[0])

    def get_many(self, keys: Any) -> dict[Any, Any]:
        keys = list(keys)
        values = self.get_client().mget_nonatomic(keys)
        pairs = zip(keys, values, strict=True)
        return {k: self._serializer.loads(v) for k, v in pairs if v is not None}

    def set_many(self, data: Mapping[Any, Any], timeout: Any) -> None:
        pipe = self.get_client(write=True).pipeline(transaction=False)
        for key, value in data.items():
            pipe.set(key, self._serializer.dumps(value), ex=timeout if timeout else None)
            if timeout == 0:
                pipe.delete(key)
        pipe.execute()

    def delete_many(self, keys: Any) -> None:
        keys = list(keys)
        if keys:
            self.get_client(write=True).delete(*keys)  # split by slot by the cluster client


class ClusterRedisCache(RedisCache):
    def __init__(self, server: Any, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = ClusterCacheClient
