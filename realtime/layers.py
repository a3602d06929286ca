"""⑤ A channel layer for thousands of sockets per process: channels-redis' pub/sub layer, with
SUBSCRIBE and UNSUBSCRIBE sent in batches by one writer task.

channels-redis (4.3) sends one SUBSCRIBE or UNSUBSCRIBE per channel and group, each under one
lock per Redis connection, awaited by the consumer that asked. Every socket costs about three of
them to open and two to close, and under a reconnect storm thousands queue on that lock: each
hand-over waits for a turn of a crowded event loop, so sockets take longer to set up than
daphne waits for (handshakes time out, closing consumers are killed after
`application_close_timeout`), and a consumer cancelled while its command is being written makes
redis-py drop the shared pub/sub connection and every subscription of the process with it.
tests/perf/bench_ws.py measures the difference.

Here a request only records the wanted state of its channel and waits (shielded: cancelling a
consumer never interrupts a write) for the writer task, which sends everything that was asked
meanwhile as one SUBSCRIBE and one UNSUBSCRIBE. Later requests win (add-then-discard of a group
ends unsubscribed, as the layer's own bookkeeping expects), and a request returns only once its
command is on the wire, after every earlier one — the ordering `realtime.fence` relies on.
Messages, groups and serialization are channels-redis' own.

Configure with ``CHANNEL_LAYERS["default"]["BACKEND"] = "realtime.layers.RedisPubSubChannelLayer"``.
Written against channels-redis 4.x internals (`RedisSingleShardConnection`, `_wrap_close`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from channels_redis import pubsub
from channels_redis.utils import _wrap_close, decode_hosts


class SubscriptionBatches:
    """Subscription changes asked for meanwhile, written by one writer task as one batch.

    A request records the wanted state of its channel (later requests win) and gets the
    future of the next batch, which resolves once `_write` has written it — after every
    earlier batch. Subclasses say how a batch is written; the sharded layer on a Redis Cluster
    (`realtime.cluster_layer`) shares this with the single-server one below."""

    def _init_batches(self) -> None:
        self._wanted: dict[str, bool] = {}  # channel → subscribed after the next batch?
        self._next_batch: asyncio.Future[None] | None = None
        self._writer: asyncio.Task[None] | None = None

    def _request(self, channel: str, *, subscribed: bool) -> asyncio.Future[None]:
        self._wanted[channel] = subscribed
        if self._next_batch is None:
            self._next_batch = asyncio.get_running_loop().create_future()
        if self._writer is None or self._writer.done():
            self._writer = asyncio.ensure_future(self._write_batches())
        return self._next_batch

    async def _write_batches(self) -> None:
        while self._wanted:
            wanted, self._wanted = self._wanted, {}
            done, self._next_batch = self._next_batch, None
            assert done is not None
            try:
                await self._write(wanted)
            except BaseException as exc:
                if not done.done():
                    done.set_exception(exc)
                    done.exception()  # retrieved: the caller may have gone
                if isinstance(exc, asyncio.CancelledError):
                    raise
            else:
                if not done.done():
                    done.set_result(None)

    async def _write(self, wanted: dict[str, bool]) -> None:
        raise NotImplementedError

    def _drop_batches(self) -> None:
        """Forget what was asked and not yet written (the connection is being flushed)."""
        if self._writer is not None:
            self._writer.cancel()
            self._writer = None
        if self._next_batch is not None and not self._next_batch.done():
            self._next_batch.cancel()
        self._next_batch = None
        self._wanted = {}


class BatchingShardConnection(SubscriptionBatches, pubsub.RedisSingleShardConnection):
    """One Redis connection's subscriptions, changed in batches by a single writer task."""

    def __init__(self, host: Any, channel_layer: Any) -> None:
        super().__init__(host, channel_layer)
        self._init_batches()

    async def subscribe(self, channel: str) -> None:
        await asyncio.shield(self._request(channel, subscribed=True))

    async def unsubscribe(self, channel: str) -> None:
        await asyncio.shield(self._request(channel, subscribed=False))

    async def _write(self, wanted: dict[str, bool]) -> None:
        async with self._lock:
            self._ensure_redis()
            self._ensure_receiver()
            add = [c for c, on in wanted.items() if on and c not in self._subscribed_to]
            remove = [c for c, on in wanted.items() if not on and c in self._subscribed_to]
            if add:
                await self._pubsub.subscribe(*add)
                self._subscribed_to.update(add)
            if remove:
                await self._pubsub.unsubscribe(*remove)
                self._subscribed_to.difference_update(remove)

    async def flush(self) -> None:
        self._drop_batches()
        await super().flush()


class BatchingLoopLayer(pubsub.RedisPubSubLoopLayer):
    def __init__(self, hosts: Any = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(hosts, *args, **kwargs)
        self._shards = [BatchingShardConnection(host, self) for host in decode_hosts(hosts)]


class RedisPubSubChannelLayer(pubsub.RedisPubSubChannelLayer):
    """channels-redis' RedisPubSubChannelLayer with batched subscription changes."""

    def _get_layer(self) -> BatchingLoopLayer:
        loop = asyncio.get_running_loop()
        layer = self._layers.get(loop)
        if layer is None:
            layer = self._layers[loop] = BatchingLoopLayer(
                *self._args, **self._kwargs, channel_layer=self
            )
            _wrap_close(self, loop)
        return layer
