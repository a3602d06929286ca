"""dramatiq's Redis broker on a Redis Cluster (`REDIS_CLUSTER=true`, `DRAMATIQ_BROKER_URL`
redis://).

dramatiq's broker runs one Lua script per operation (enqueue, fetch, ack, nack, requeue,
maintenance) that is given a single key, the namespace, and builds every other key from it
(`<namespace>:default`, `<namespace>:__acks__.<worker>.<queue>`, ...) — keys a cluster refuses
across slots. Braces around the namespace make it a hash tag: every key of the broker lives on
one slot, so the scripts run there unchanged, through a cluster client that follows that slot
through failovers. The jobs then share one primary (with its replica); for job volumes past one
Redis primary, use RabbitMQ (`DRAMATIQ_BROKER_URL=amqp://`).
"""

from __future__ import annotations

from typing import Any

from dramatiq.brokers.redis import RedisBroker
from redis.commands.core import Script
from redis.connection import Encoder

from events.redis_clients import sync_client


class _LazyClusterClient:
    """The cluster client, made on first use: a cluster client connects as it is made, and the
    broker is made when Django starts (`manage.py migrate` must not need Redis)."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._client: Any = None

    def get_encoder(self) -> Encoder:
        return Encoder("utf-8", "strict", False)  # redis-py's defaults: scripts hash the same

    def register_script(self, script: str) -> Script:
        return Script(self, script)  # type: ignore[arg-type]  # quacks like a client

    def __getattr__(self, name: str) -> Any:
        if self._client is None:
            self._client = sync_client(self._url)
        return getattr(self._client, name)


class ClusterRedisBroker(RedisBroker):
    def __init__(self, *, url: str, namespace: str = "dramatiq", **options: Any) -> None:
        tag = namespace if namespace.startswith("{") else f"{{{namespace}}}"
        super().__init__(namespace=tag, client=_LazyClusterClient(url), **options)
