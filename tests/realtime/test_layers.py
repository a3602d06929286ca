"""realtime.layers: the pub/sub layer with batched, cancellation-safe subscription changes."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
import redis
from django.conf import settings
from django.test import override_settings
from redis.asyncio.client import PubSub

from events.log import publish_now
from events.schema import EventType, make_event
from realtime.layers import RedisPubSubChannelLayer
from realtime.tickets import issue_ticket
from routing_service.tenancy.models import Company, User
from tests.realtime.sockets import Socket

BATCHING = {
    "default": {
        "BACKEND": "realtime.layers.RedisPubSubChannelLayer",
        "CONFIG": {
            "hosts": [settings.CHANNEL_LAYER_REDIS_URL],
            "prefix": settings.CHANNEL_LAYER_PREFIX,
        },
    }
}


@pytest.fixture
def layer() -> Iterator[RedisPubSubChannelLayer]:
    yield RedisPubSubChannelLayer(
        hosts=[settings.CHANNEL_LAYER_REDIS_URL], prefix=f"{settings.REDIS_KEY_PREFIX}:lt"
    )


@pytest.fixture
def subscribe_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many channels each SUBSCRIBE command sent carried."""
    calls: list[int] = []
    original = PubSub.subscribe

    async def counting(self: PubSub, *args: Any, **kwargs: Any) -> Any:
        calls.append(len(args) + len(kwargs))
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(PubSub, "subscribe", counting)
    return calls


def numsub(client: redis.Redis, layer: RedisPubSubChannelLayer, group: str) -> int:
    name = f"{settings.REDIS_KEY_PREFIX}:lt__group__{group}"
    return int(client.pubsub_numsub(name)[0][1])


async def test_concurrent_joins_share_a_few_subscribe_commands_and_all_receive(
    layer: RedisPubSubChannelLayer, subscribe_calls: list[int]
) -> None:
    channels = await asyncio.gather(*(layer.new_channel() for _ in range(300)))
    await asyncio.gather(*(layer.group_add(f"g{n % 50}", c) for n, c in enumerate(channels)))

    assert sum(subscribe_calls) == 300 + 50  # every channel and group, once
    assert len(subscribe_calls) <= 20  # in a few batches, not 350 commands

    await asyncio.sleep(0.05)  # let Redis confirm before publishing (no fence here)
    await asyncio.gather(*(layer.group_send(f"g{n}", {"type": "hi", "n": n}) for n in range(50)))
    got = await asyncio.wait_for(asyncio.gather(*(layer.receive(c) for c in channels)), 10)
    assert sorted(m["n"] for m in got) == sorted(n % 50 for n in range(300))
    await layer.flush()


async def test_cancelled_consumers_never_break_the_shared_connection(
    layer: RedisPubSubChannelLayer, redis_client: redis.Redis
) -> None:
    """Consumers killed while their unsubscribe is pending (daphne's close timeout)."""
    channels = await asyncio.gather(*(layer.new_channel() for _ in range(200)))
    await asyncio.gather(*(layer.group_add(f"agent.{n}", c) for n, c in enumerate(channels)))

    async def consumer(n: int, channel: str) -> None:
        try:
            await layer.receive(channel)
        finally:
            await layer.group_discard(f"agent.{n}", channel)

    tasks = [asyncio.create_task(consumer(n, c)) for n, c in enumerate(channels)]
    await asyncio.sleep(0.05)
    for task in tasks:
        task.cancel()
    await asyncio.sleep(0)
    for task in tasks:  # again, while their clean-up waits
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.sleep(0.2)

    assert all(numsub(redis_client, layer, f"agent.{n}") == 0 for n in range(0, 200, 20))
    fresh = await layer.new_channel()
    await layer.group_add("after", fresh)
    await asyncio.sleep(0.05)
    await layer.group_send("after", {"type": "still.alive"})
    assert (await asyncio.wait_for(layer.receive(fresh), 5))["type"] == "still.alive"
    await layer.flush()


async def test_add_and_discard_in_one_batch_end_in_the_last_state(
    layer: RedisPubSubChannelLayer, redis_client: redis.Redis
) -> None:
    channel = await layer.new_channel()
    await asyncio.gather(layer.group_add("flip", channel), layer.group_discard("flip", channel))
    await asyncio.sleep(0.05)
    assert numsub(redis_client, layer, "flip") == 0

    other = await layer.new_channel()
    await layer.group_add("flop", other)
    await asyncio.gather(layer.group_discard("flop", other), layer.group_add("flop", other))
    await asyncio.sleep(0.05)
    assert numsub(redis_client, layer, "flop") == 1
    await layer.flush()


@pytest.mark.django_db(transaction=True)
@override_settings(CHANNEL_LAYERS=BATCHING)
async def test_reconnect_seam_is_exact_on_the_batching_layer(
    ws: Callable[..., Awaitable[Socket]], agent_a: User, company_a: Company
) -> None:
    sock = await ws(f"/ws/agent/?ticket={issue_ticket(agent_a)[0]}")
    start = (await sock.frame())["seq"]
    await sock.disconnect()
    published: list[int] = []
    stop = threading.Event()

    def publisher() -> None:
        while not stop.is_set() or len(published) < 50:
            event = make_event(EventType.QUEUE_UPDATED, company_a.pk, {}, queue=True)
            published.extend(publish_now([event]))
            time.sleep(0.0005)

    thread = threading.Thread(target=publisher)
    thread.start()
    try:
        await asyncio.sleep(0.05)
        sock = await ws(f"/ws/agent/?ticket={issue_ticket(agent_a)[0]}&last_seq={start}")
        await asyncio.sleep(0.3)
    finally:
        stop.set()
        await asyncio.to_thread(thread.join)
    [marker] = publish_now([make_event(EventType.QUEUE_UPDATED, company_a.pk, {}, queue=True)])
    received = []
    while not received or received[-1] != marker:
        received.append((await sock.frame())["seq"])
    assert received == [*published, marker]
