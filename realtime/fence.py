"""⑤ Subscription fences: proof that Redis has processed the SUBSCRIBEs a consumer sent.

channels-redis sends SUBSCRIBE without waiting for Redis' answer, on one pub/sub connection per
Redis host and process. A consumer that reads the event log right after `group_add` could
therefore read it *before* its subscription is in force, and miss an event published in
between (in neither the log read nor the live stream). Subscribing to one more, unique, channel
on that connection and waiting until Redis counts its subscriber proves the earlier SUBSCRIBEs
are in force: Redis runs one connection's commands in order. Assumes one channel-layer host,
as configured (a system check warns otherwise).

One fence covers every SUBSCRIBE sent before it, so concurrent connects share fences
(`confirm_subscriptions`): while one fence is in flight, the consumers arriving meanwhile wait
for the next one, which starts as soon as it lands. A reconnect storm costs a few fences, not
one per socket.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
import weakref
from typing import Any

from channels_redis.pubsub import RedisPubSubChannelLayer

from events.log import group_channel
from realtime.connections import async_client

logger = logging.getLogger(__name__)

_WAIT_SECONDS = 5.0


async def wait_subscribed(layer: Any, channel_name: str) -> None:
    """One fence: subscribe `channel_name` to a unique group, wait until Redis counts it."""
    if not isinstance(layer, RedisPubSubChannelLayer) or getattr(
        layer, "confirms_subscriptions", False
    ):
        return  # not pub/sub, or a layer that returns only once Redis confirmed (cluster)
    fence = f"fence.{uuid.uuid4().hex}"
    await layer.group_add(fence, channel_name)
    try:
        client = async_client()
        name = group_channel(fence)
        deadline = time.monotonic() + _WAIT_SECONDS
        delay = 0.0005
        while True:
            counts = await client.pubsub_numsub(name)
            if counts and counts[0][1]:
                return
            if time.monotonic() > deadline:
                logger.warning("subscription not confirmed after %ss", _WAIT_SECONDS)
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)
    finally:
        await layer.group_discard(fence, channel_name)


class _Fences:
    """At most one fence in flight per event loop, and one open for the callers meanwhile."""

    def __init__(self) -> None:
        self.in_flight: asyncio.Future[None] | None = None
        self.open: asyncio.Future[None] | None = None

    async def confirm(self, layer: Any, channel_name: str) -> None:
        if self.open is not None:
            # The open fence has not sent its SUBSCRIBE yet: it will come after ours.
            await asyncio.shield(self.open)
            return
        mine: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.open = mine
        try:
            if self.in_flight is not None:
                await asyncio.shield(self.in_flight)  # others join `mine` meanwhile
            self.open = None  # from here on, later callers need a later fence
            self.in_flight = mine
            await wait_subscribed(layer, channel_name)
        finally:
            if self.open is mine:
                self.open = None
            if self.in_flight is mine:
                self.in_flight = None
            if not mine.done():
                mine.set_result(None)


_fences: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Fences] = weakref.WeakKeyDictionary()


async def confirm_subscriptions(layer: Any, channel_name: str) -> None:
    """Return once every SUBSCRIBE this process sent before the call is in force.

    Precondition: the caller's `group_add` calls have returned (their SUBSCRIBEs are sent) and
    `channel_name` is a live channel of this process (it leads the fence if one must start).
    """
    fences = _fences.setdefault(asyncio.get_running_loop(), _Fences())
    await fences.confirm(layer, channel_name)
