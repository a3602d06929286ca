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

from events.redis_clients import sync_client


class ClusterRedisBroker(RedisBroker):
    def __init__(self, *, url: str, namespace: str = "dramatiq", **options: Any) -> None:
        tag = namespace if namespace.startswith("{") else f"{{{namespace}}}"
        super().__init__(namespace=tag, client=sync_client(url), **options)
