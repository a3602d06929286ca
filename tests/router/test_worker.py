"""The routing worker against real Redis streams and PostgreSQL."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable

import pytest
import redis

from routing_service.chats.models import (
    AssignmentStatus,
    ChatAssignment,
    Conversation,
    ConversationStatus,
    Message,
    Priority,
)
from routing_service.ingest import stream
from routing_service.router.models import DeadLetter
from routing_service.router.worker import Router, StreamEntry, split_by_stream
from routing_service.tenancy.models import Company, User
from sla_engine.models import ChatSLA
from tests.support.inbound import append_inbound, inbound_message

pytestmark = pytest.mark.django_db(transaction=True)


def run_router_until_idle(**kwargs: object) -> Router:
    router = Router(name="test-router", block_ms=50, **kwargs)  # type: ignore[arg-type]
    asyncio.run(router.run(max_idle_loops=3))
    return router


def pending_count(client: redis.Redis) -> int:
    total = 0
    for key in stream.all_stream_keys():
        if client.exists(key):
            total += client.xpending(key, "routers")["pending"]
    return total


def test_message_is_queued_routed_and_acknowledged(
    redis_client: redis.Redis, channel_a, make_agent: Callable[..., User]
) -> None:
    agent = make_agent(channel_a.company)
    append_inbound(redis_client, channel_a, inbound_message("m-1", "c-1", "Where is my order?"))

    router = run_router_until_idle()

    assert router.processed == 1
    conversation = Conversation.objects.get()
    assert conversation.status == ConversationStatus.ASSIGNED
    assert Message.objects.filter(conversation=conversation).count() == 1
    offer = ChatAssignment.objects.get(conversation=conversation)
    assert (offer.agent_id, offer.status) == (agent.pk, AssignmentStatus.OFFERED)
    assert pending_count(redis_client) == 0


def test_replayed_entry_records_the_message_once(
    redis_client: redis.Redis, channel_a, make_agent: Callable[..., User]
) -> None:
    make_agent(channel_a.company)
    message = inbound_message("m-dup", "c-1")
    assert append_inbound(redis_client, channel_a, message) is not None
    assert append_inbound(redis_client, channel_a, message) is None  # webhook dedupe
    # Redis forgot (e.g. TTL): the database constraint still makes the replay a no-op.
    redis_client.xadd(
        stream.stream_key(stream.shard_of(channel_a.company_id)),
        {
            "e": stream.encode(
                stream.InboundEntry(
                    channel_id=channel_a.pk,
                    company_id=channel_a.company_id,
                    received_at=message.sent_at,
                    message=message,
                )
            )
        },
    )

    run_router_until_idle()

    assert Message.objects.count() == 1
    assert ChatAssignment.objects.count() == 1
    assert pending_count(redis_client) == 0


def test_poison_entry_goes_to_dead_letter_while_others_flow(
    redis_client: redis.Redis, channel_a, company_b: Company, make_agent: Callable[..., User]
) -> None:
    make_agent(channel_a.company, max_chats=5)
    key = stream.stream_key(0)
    append_inbound(redis_client, channel_a, inbound_message("ok-1", "c-1"))
    redis_client.xadd(key, {"e": b"{not json"})
    # Decodes, but names a channel that does not exist: fails every attempt.
    ghost = stream.InboundEntry(
        channel_id=999_999,
        company_id=channel_a.company_id,
        received_at=inbound_message("x", "y").sent_at,
        message=inbound_message("ghost", "c-9"),
    )
    redis_client.xadd(key, {"e": stream.encode(ghost)})
    append_inbound(redis_client, channel_a, inbound_message("ok-2", "c-2"))

    run_router_until_idle(claim_idle_ms=100, max_attempts=2)
    # The failing entry is retried once its idle time passes, then dead-lettered.
    asyncio.run(asyncio.sleep(0.2))
    run_router_until_idle(claim_idle_ms=100, max_attempts=2)

    assert Message.objects.count() == 2
    dead = redis_client.xrange(stream.dead_letter_key(0))
    assert len(dead) == 2
    errors = sorted(fields[b"error"].decode() for _, fields in dead)
    assert errors[0].startswith("DoesNotExist")
    assert errors[1].startswith("undecodable entry")
    assert DeadLetter.objects.count() == 2
    assert pending_count(redis_client) == 0


def test_status_callback_updates_the_outbound_message(
    redis_client: redis.Redis, channel_a, make_agent: Callable[..., User]
) -> None:
    from routing_service.chats.actions import send_agent_reply
    from routing_service.ingest.adapters.base import StatusEvent

    agent = make_agent(channel_a.company)
    append_inbound(redis_client, channel_a, inbound_message("m-1", "c-1"))
    run_router_until_idle()
    conversation = Conversation.objects.get()
    reply = Message.objects.create(
        company_id=conversation.company_id,
        conversation=conversation,
        channel=channel_a,
        direction="outbound",
        provider_message_id="out-1",
        sender=agent,
        text="hi",
        sent_at=conversation.created_at,
        delivery_status="sent",
    )
    entry = stream.StatusEntry(
        channel_id=channel_a.pk,
        company_id=channel_a.company_id,
        received_at=conversation.created_at,
        status=StatusEvent(provider="generic", provider_message_id="out-1", status="read"),
    )
    keys, args = stream.append_args(entry)
    redis_client.eval(stream.APPEND_LUA, 2, *keys, *args)
    run_router_until_idle()

    reply.refresh_from_db()
    assert reply.delivery_status == "read"
    assert send_agent_reply  # the action used by the API; delivery is tested in tests/outbound


def test_lanes_get_whole_shards_in_read_order_balanced_by_size() -> None:
    items = [
        StreamEntry(stream=key, entry_id=f"{n}-0", payload=b"")
        for n, key in enumerate(["s0"] * 5 + ["s1"] * 3 + ["s2"] * 2 + ["s0"] * 1)
    ]

    parts = split_by_stream(items, 2)

    assert len(parts) == 2
    shards = [{item.stream for item in part} for part in parts]
    assert shards[0].isdisjoint(shards[1])
    assert sorted(len(part) for part in parts) == [5, 6]
    for part in parts:
        for key in {item.stream for item in part}:
            ids = [item.entry_id for item in part if item.stream == key]
            assert ids == [item.entry_id for item in items if item.stream == key]
    assert split_by_stream(items[:5], 4) == [items[:5]]
    assert split_by_stream([], 2) == []


def test_round_robin_spreads_a_steady_stream_evenly_over_batches(
    redis_client: redis.Redis, channel_a, make_agent: Callable[..., User]
) -> None:
    agents = [make_agent(channel_a.company, max_chats=100) for _ in range(5)]
    for n in range(60):
        append_inbound(redis_client, channel_a, inbound_message(f"m-{n}", f"c-{n}"))

    router = run_router_until_idle(batch_size=25)  # batches of 25, 25 and 10

    assert router.processed == 60
    loads = {a.pk: a.active_chats for a in User.objects.filter(pk__in=[a.pk for a in agents])}
    assert sorted(loads.values()) == [12] * 5, loads
    offers = ChatAssignment.objects.filter(status=AssignmentStatus.OFFERED)
    assert offers.count() == 60
    # The persisted order is strict: no two agents share a stamp for the next batch to tie on.
    stamps = User.objects.filter(pk__in=[a.pk for a in agents]).values_list(
        "last_assigned_at", flat=True
    )
    assert len(set(stamps)) == 5


def test_a_requested_low_priority_is_kept_and_its_sla_applies(
    redis_client: redis.Redis, channel_a, make_agent: Callable[..., User]
) -> None:
    always = {
        "work_start": dt.time(0),
        "work_end": dt.time(0),
        "weekdays": [0, 1, 2, 3, 4, 5, 6],
        "include_weekends": True,
    }
    ChatSLA.objects.create(
        company=channel_a.company,
        priority=Priority.LOW,
        first_response_minutes=240,
        resolution_minutes=480,
        **always,
    )
    ChatSLA.objects.create(
        company=channel_a.company,
        priority=Priority.MEDIUM,
        first_response_minutes=30,
        resolution_minutes=120,
        **always,
    )
    make_agent(channel_a.company)
    message = inbound_message(
        "m-low", "c-1", "No rush: how do I change my address?", priority="low"
    )
    append_inbound(redis_client, channel_a, message)

    run_router_until_idle()

    conversation = Conversation.objects.get()
    assert conversation.priority == Priority.LOW
    assert conversation.first_response_due_at == conversation.created_at + dt.timedelta(hours=4)
    assert conversation.resolution_due_at == conversation.created_at + dt.timedelta(hours=8)
