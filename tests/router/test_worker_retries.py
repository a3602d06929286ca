"""The routing worker retrying entries that failed in the database: soon, in order per
conversation, exactly once, and dead-lettered within seconds. Real Redis and PostgreSQL; the
router runs in this process with the settings as deployed (claim idle 30 s, 5 attempts)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest
import redis
from django.db import connections

from routing_service.chats.actions.inbound import InboundItem
from routing_service.chats.models import Channel, Message
from routing_service.ingest import stream
from routing_service.router import worker
from routing_service.router.models import DeadLetter
from routing_service.router.worker import Router
from routing_service.tenancy.models import User
from tests.support.inbound import append_inbound, inbound_message

pytestmark = pytest.mark.django_db(transaction=True)


def run_router_until(condition: Callable[[], bool], timeout: float) -> float:
    """Run a router until `condition()` holds (or `timeout`); seconds it took."""

    def check() -> bool:
        try:
            return condition()
        finally:
            connections.close_all()  # this thread's: the test database is dropped at the end

    async def main() -> float:
        router = Router(name="retry-test-router", block_ms=50)
        task = asyncio.create_task(router.run())
        started = time.monotonic()
        try:
            while time.monotonic() - started < timeout and not task.done():
                if await asyncio.to_thread(check):
                    break
                await asyncio.sleep(0.05)
            return time.monotonic() - started
        finally:
            router.request_stop()
            await task

    return asyncio.run(main())


def pending(client: redis.Redis) -> int:
    return sum(
        client.xpending(key, "routers")["pending"]
        for key in stream.all_stream_keys()
        if client.exists(key)
    )


def test_poison_entry_is_dead_lettered_within_seconds_not_minutes(
    redis_client: redis.Redis, channel_a: Channel, make_agent: Callable[..., User]
) -> None:
    make_agent(channel_a.company, max_chats=5)
    shard = stream.shard_of(channel_a.company_id)
    ghost = stream.InboundEntry(  # decodes, but names a channel that does not exist
        channel_id=999_999,
        company_id=channel_a.company_id,
        received_at=inbound_message("x", "y").sent_at,
        message=inbound_message("ghost", "c-9"),
    )
    redis_client.xadd(stream.stream_key(shard), {"e": stream.encode(ghost)})
    append_inbound(redis_client, channel_a, inbound_message("ok-1", "c-1"))

    elapsed = run_router_until(lambda: DeadLetter.objects.exists(), timeout=20)

    # Back-off 0.1 + 0.5 + 2 + 2 s between the five attempts; before, 30 s each.
    assert elapsed < 8, elapsed
    [(_, fields)] = redis_client.xrange(stream.dead_letter_key(shard))
    assert fields[b"attempts"] == b"5"
    assert fields[b"error"].startswith(b"DoesNotExist")
    assert DeadLetter.objects.get().attempts == 5
    assert list(Message.objects.values_list("provider_message_id", flat=True)) == ["ok-1"]
    assert pending(redis_client) == 0
    assert not redis_client.exists(f"{stream.stream_key(shard)}:attempts")


def test_failed_entry_is_retried_soon_and_its_conversation_waits_behind_it(
    redis_client: redis.Redis,
    channel_a: Channel,
    make_agent: Callable[..., User],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    make_agent(channel_a.company, max_chats=5)
    real = worker.receive_inbound_batch
    failures = {"m-1": 2}  # fails twice for a reason of its own, then goes through

    def flaky(items: Sequence[InboundItem]) -> Any:
        for item in items:
            message_id = item.message.provider_message_id
            if failures.get(message_id, 0) > 0:
                failures[message_id] -= 1
                raise ValueError(f"{message_id} is not ready yet")
        return real(items)

    monkeypatch.setattr(worker, "receive_inbound_batch", flaky)
    append_inbound(redis_client, channel_a, inbound_message("m-1", "c-1", "first"))
    append_inbound(redis_client, channel_a, inbound_message("m-2", "c-1", "second"))
    append_inbound(redis_client, channel_a, inbound_message("m-3", "c-2", "other client"))

    elapsed = run_router_until(lambda: Message.objects.count() == 3, timeout=20)

    assert elapsed < 5, elapsed  # back-off 0.1 + 0.5 s; before, ROUTER_CLAIM_IDLE_MS (30 s)
    recorded = list(Message.objects.order_by("pk").values_list("provider_message_id", flat=True))
    # The other client's message did not wait; the failed one's conversation kept its order.
    assert recorded == ["m-3", "m-1", "m-2"]
    assert failures == {"m-1": 0}
    assert not DeadLetter.objects.exists()
    assert pending(redis_client) == 0
    shard = stream.shard_of(channel_a.company_id)
    assert not redis_client.exists(f"{stream.stream_key(shard)}:attempts")
