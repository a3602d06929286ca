"""Shard leases against real Redis: one owner per shard, fair shares, takeover after expiry."""

from __future__ import annotations

import asyncio

import pytest
import redis
import redis.asyncio as aioredis
from django.conf import settings

from routing_service.router.leases import ShardLeases, fair_share, lease_key, members_key

STREAMS = [f"{settings.INBOUND_STREAM}:lease-test:{{s{n}}}" for n in range(8)]


@pytest.fixture(autouse=True)
def clean(redis_client: redis.Redis) -> None:
    redis_client.delete(members_key(), *(lease_key(k) for k in STREAMS))


def test_fair_share_rounds_up() -> None:
    assert [fair_share(8, live) for live in (0, 1, 2, 3, 8, 9)] == [8, 8, 4, 3, 1, 1]
    assert fair_share(1, 3) == 1


def test_lease_key_keeps_the_shard_hash_tag() -> None:
    assert lease_key("sb:inbound:{s3}") == "sb:inbound:{s3}:lease"


def test_routers_split_the_shards_and_never_share_one(redis_client: redis.Redis) -> None:
    async def scenario() -> None:
        client = aioredis.Redis.from_url(settings.STREAM_REDIS_URL)
        a, b, c = (ShardLeases(client, name, STREAMS, ttl_ms=5_000) for name in "abc")
        await a.refresh()
        assert len(a.owned) == 8  # alone: everything
        await b.heartbeat()
        await c.heartbeat()
        await a.refresh()  # three live: a gives back down to ceil(8 / 3) = 3
        assert len(a.owned) == 3
        await b.refresh()
        await c.refresh()
        assert (len(b.owned), len(c.owned)) == (3, 2)
        assert sorted(a.owned + b.owned + c.owned) == sorted(STREAMS)
        for router in (a, b, c):
            for key in router.owned:
                assert redis_client.get(lease_key(key)) == router.name.encode()
        # c stops cleanly: its shards are free at once and the others take them.
        await c.release_all()
        await a.refresh()
        await b.refresh()
        assert (len(a.owned), len(b.owned)) == (4, 4)
        assert sorted(a.owned + b.owned) == sorted(STREAMS)
        await client.aclose()

    asyncio.run(scenario())


def test_dead_routers_shards_are_taken_after_the_lease_expires(redis_client: redis.Redis) -> None:
    async def scenario() -> None:
        client = aioredis.Redis.from_url(settings.STREAM_REDIS_URL)
        dead = ShardLeases(client, "dead", STREAMS[:2], ttl_ms=300)
        alive = ShardLeases(client, "alive", STREAMS[:2], ttl_ms=300)
        await dead.refresh()
        assert len(dead.owned) == 2
        changes = await alive.refresh()
        assert alive.owned == [] and changes.gained == []  # hot standby while dead lives
        await asyncio.sleep(0.4)  # dead stops renewing (kill -9)
        changes = await alive.refresh()
        assert sorted(changes.gained) == sorted(STREAMS[:2])
        # Had it only been paused, it learns it lost them and never reads them again.
        changes = await dead.refresh()
        assert sorted(changes.lost) == sorted(STREAMS[:2]) and dead.owned == []
        await client.aclose()

    asyncio.run(scenario())
