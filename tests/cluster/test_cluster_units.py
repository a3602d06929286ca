"""Each Redis role on a real Redis Cluster (3 primaries, a replica each): the inbound stream
(append, per-shard reads, claims), shard leases, the event log and its seq, tickets, the cache,
dramatiq's Redis broker, and the sharded pub/sub channel layer between two "processes" (two
layers)."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from django.conf import settings
from dramatiq import Message

from events import log as event_log
from events.log import group_channel, live_group, publish_now
from events.schema import EventType, agent_group, make_event, queue_group
from realtime import replay
from realtime.cluster_layer import ShardedPubSubChannelLayer
from realtime.tickets import issue_ticket, redeem_ticket
from routing_service.cluster_broker import ClusterRedisBroker
from routing_service.cluster_cache import ClusterRedisCache
from routing_service.ingest import stream
from routing_service.ingest.adapters.base import InboundMessage
from routing_service.ingest.appender import StreamAppender
from routing_service.ingest.stream import InboundEntry
from routing_service.router.leases import ShardLeases
from routing_service.router.worker import Router
from tests.support.redis_cluster import LocalCluster

SHARDS = 6


def entry(company_id: int, message_id: str) -> InboundEntry:
    now = dt.datetime.now(dt.UTC)
    return InboundEntry(
        channel_id=company_id,
        company_id=company_id,
        received_at=now,
        message=InboundMessage(
            provider="generic",
            provider_message_id=message_id,
            client_name="Client",
            client_external_id=f"client-{company_id}",
            text="hello",
            sent_at=now,
        ),
    )


@pytest.mark.django_db
async def test_appends_spread_over_the_nodes_and_each_router_read_goes_to_its_shard(
    on_cluster: LocalCluster, settings: Any
) -> None:
    settings.INBOUND_SHARDS = SHARDS
    owners = {on_cluster.primary_port_of(key) for key in stream.all_stream_keys()}
    assert len(owners) > 1  # the shards really live on several primaries

    appender = StreamAppender()
    try:
        entries = [entry(company, f"m-{company}") for company in range(1, 13)]
        first = await appender.append(entries)
        again = await appender.append(entries[:3])
    finally:
        await appender.aclose()
    assert all(isinstance(result, str) and "-" in result for result in first), first
    assert again == [None, None, None]  # the seen keys (same slot as the stream) remember them

    router = Router(name="cluster-r1", block_ms=50)
    try:
        await router.ensure_groups()
        await router.refresh_leases()
        assert sorted(router.streams) == sorted(stream.all_stream_keys())
        read = await router._read_per_shard(dict.fromkeys(router.streams, ">"), block=50)
        assert sorted(i.entry.message.provider_message_id for i in read) == sorted(  # type: ignore[union-attr]
            f"m-{c}" for c in range(1, 13)
        )
        # Left pending (not acknowledged): another consumer claims them shard by shard.
        other = Router(name="cluster-r2")
        try:
            claimed = 0
            for key in router.streams:
                result = await other.redis.xautoclaim(key, other.group, other.name, 0, "0-0")
                claimed += len(result[1])
            assert claimed == 12
        finally:
            await other.redis.aclose()
        await router._ack(read)
    finally:
        await router.leases.release_all()
        await router.redis.aclose()
        for lane in router.lanes:
            lane.shutdown()


async def test_shard_leases_split_between_routers_on_the_cluster(
    on_cluster: LocalCluster, settings: Any
) -> None:
    settings.INBOUND_SHARDS = SHARDS
    routers = [Router(name=f"lease-{n}") for n in range(2)]
    try:
        leases = [ShardLeases(r.redis, r.name, stream.all_stream_keys()) for r in routers]
        for lease in leases:
            await lease.heartbeat()  # both known before either takes its share
        for lease in leases:
            await lease.refresh()
        for lease in leases:
            await lease.refresh()
        owned = [set(lease.owned) for lease in leases]
        assert owned[0].isdisjoint(owned[1])
        assert len(owned[0]) == len(owned[1]) == SHARDS // 2
        for lease in leases:
            await lease.release_all()
    finally:
        for router in routers:
            await router.redis.aclose()
            for lane in router.lanes:
                lane.shutdown()


@pytest.mark.django_db
async def test_event_log_seq_and_replay_per_company_on_the_cluster(
    on_cluster: LocalCluster,
) -> None:
    events = [
        make_event(EventType.QUEUE_UPDATED, company, {"n": n}, queue=True, agents=[7])
        for n in range(3)
        for company in (101, 102)
    ]
    seqs = publish_now(events)
    assert seqs == [1, 1, 2, 2, 3, 3]  # one seq per company, each its own slot
    assert on_cluster.primary_port_of(event_log.seq_key(101)) == on_cluster.primary_port_of(
        group_channel(live_group(101, agent_group(7)))
    )
    got = await replay.read_since(101, [queue_group(101), agent_group(7)], 1, limit=100)
    assert got.resync_reason is None
    assert [seq for seq, _ in got.events] == [2, 3]
    assert await replay.current_seq(102) == 3


@pytest.mark.django_db
def test_tickets_are_single_use_on_the_cluster(
    on_cluster: LocalCluster, make_user: Any, company_a: Any
) -> None:
    ticket, _ = issue_ticket(make_user(company_a))
    assert redeem_ticket(ticket) is not None
    assert redeem_ticket(ticket) is None


def test_cache_on_the_cluster_splits_multi_key_calls_by_slot(on_cluster: LocalCluster) -> None:
    cache = ClusterRedisCache(on_cluster.url, {"KEY_PREFIX": f"{settings.REDIS_KEY_PREFIX}:cache"})
    data = {f"k{n}": {"n": n} for n in range(20)}  # 20 keys: several slots
    cache.set_many(data, timeout=60)
    assert cache.get_many(list(data)) == data
    assert cache.add("k1", "other") is False and cache.get("k1") == {"n": 1}
    assert cache.incr("counter", 1) if cache.add("counter", 1) else True
    cache.delete_many(list(data))
    assert cache.get_many(list(data)) == {}


async def receive(layer: Any, channel: str, timeout: float = 3) -> dict[str, Any]:
    return dict(await asyncio.wait_for(layer.receive(channel), timeout))


async def test_channel_layer_group_send_reaches_another_process_through_sharded_pub_sub(
    on_cluster: LocalCluster,
) -> None:
    prefix = f"{settings.REDIS_KEY_PREFIX}:cl"
    web_1 = ShardedPubSubChannelLayer(hosts=[on_cluster.url], prefix=prefix)
    web_2 = ShardedPubSubChannelLayer(hosts=[on_cluster.url], prefix=prefix)
    other_deployment = ShardedPubSubChannelLayer(hosts=[on_cluster.url], prefix=f"{prefix}x")
    try:
        console = await web_1.new_channel()
        stranger = await other_deployment.new_channel()
        groups = [f"company.{n}.queue" for n in range(8)]  # spread over the primaries
        for group in groups:
            await web_1.group_add(group, console)
            await other_deployment.group_add(group, stranger)
        for n, group in enumerate(groups):
            await web_2.group_send(group, {"type": "test.message", "n": n})
        got = [await receive(web_1, console) for _ in groups]
        assert sorted(m["n"] for m in got) == list(range(8))
        # Another key prefix (deployment) on the same cluster hears nothing of it.
        with pytest.raises(TimeoutError):
            await receive(other_deployment, stranger, timeout=0.5)
        # A direct send to a consumer's own channel.
        await web_2.send(console, {"type": "test.direct"})
        assert (await receive(web_1, console))["type"] == "test.direct"
        # Discarded: nothing more arrives.
        await web_1.group_discard(groups[0], console)
        await web_2.group_send(groups[0], {"type": "test.message", "n": -1})
        with pytest.raises(TimeoutError):
            await receive(web_1, console, timeout=0.5)
    finally:
        for layer in (web_1, web_2, other_deployment):
            await layer.flush()


@pytest.mark.django_db
async def test_logged_events_reach_the_company_scoped_live_group_only(
    on_cluster: LocalCluster,
) -> None:
    """The log script SPUBLISHes agent.7's event of company 201 to company 201's live group:
    a console of company 202 whose user id is also 7 never sees it."""
    layer = ShardedPubSubChannelLayer(hosts=[on_cluster.url], prefix=settings.CHANNEL_LAYER_PREFIX)
    try:
        mine, theirs = await layer.new_channel(), await layer.new_channel()
        await layer.group_add(live_group(201, agent_group(7)), mine)
        await layer.group_add(live_group(202, agent_group(7)), theirs)
        event = make_event(EventType.NOTIFICATION, 201, {"text": "hi"}, agents=[7])
        [seq] = await asyncio.to_thread(publish_now, [event])
        message = await receive(layer, mine)
        assert (message["type"], message["seq"]) == ("sb.event", seq)
        with pytest.raises(TimeoutError):
            await receive(layer, theirs, timeout=0.5)
    finally:
        await layer.flush()


def test_dramatiq_redis_broker_runs_on_the_cluster_under_one_hash_tag(
    on_cluster: LocalCluster,
) -> None:
    namespace = f"{settings.REDIS_KEY_PREFIX}:dramatiq"
    broker = ClusterRedisBroker(url=on_cluster.url, namespace=namespace)
    try:
        broker.declare_queue("cluster-test")
        sent = Message(queue_name="cluster-test", actor_name="noop", args=(), kwargs={}, options={})
        broker.enqueue(sent)
        consumer = broker.consume("cluster-test", prefetch=1, timeout=200)
        got = None
        for _ in range(25):  # ~5 s
            got = next(consumer)
            if got is not None:
                break
        assert got is not None and got.message_id == sent.message_id
        consumer.ack(got)
        consumer.close()
    finally:
        client = on_cluster.client()
        try:
            for key in client.scan_iter(match=f"{{{namespace}}}*", count=1000):
                client.delete(key)
        finally:
            client.close()
