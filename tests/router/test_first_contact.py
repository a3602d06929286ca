"""Issue 16: a router batch's queue changes reach each console as one `queue.updated`.

The merge (events/coalesce.py) is checked on plain events, then end to end: new clients of two
companies through the router, what the companies' event logs hold, and what a console
resuming with `?last_seq=` is replayed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
import redis
from django.conf import settings

from events.coalesce import coalesce_queue_updates
from events.log import log_key
from events.redis_clients import sync_client
from events.schema import Event, EventType, agent_group, make_event, queue_group
from realtime.replay import read_since
from routing_service.chats.models import Conversation, ConversationStatus
from routing_service.router.worker import Router
from routing_service.tenancy.models import User
from tests.support.inbound import append_inbound, inbound_message


def queue_change(company_id: int, conversation_id: int, **groups: Any) -> Event:
    return make_event(
        EventType.QUEUE_UPDATED,
        company_id,
        {"conversation_id": conversation_id},
        queue=True,
        **groups,
    )


def offer(company_id: int, conversation_id: int, agent_id: int) -> Event:
    return make_event(
        EventType.CHAT_OFFERED, company_id, {"conversation_id": conversation_id}, agents=[agent_id]
    )


def test_queue_changes_of_one_company_and_audience_merge_in_order_at_the_last_place() -> None:
    events = [
        queue_change(1, 10),
        offer(1, 11, 7),
        queue_change(1, 11),
        queue_change(2, 20),  # another company: never merged with company 1's
        queue_change(1, 12, agents=[7]),  # another audience (an ended offer): apart
        queue_change(1, 13),
    ]

    merged = coalesce_queue_updates(events)

    assert [(e.type, e.company_id) for e in merged] == [
        ("chat.offered", 1),
        ("queue.updated", 2),
        ("queue.updated", 1),
        ("queue.updated", 1),
    ]
    assert merged[0] is events[1]  # an offer is never touched (nor delayed past its batch)
    assert merged[1].data == {"conversation_id": 20}  # a lone change keeps its shape
    assert merged[2].data == {"conversation_id": 12}
    assert merged[2].groups == (queue_group(1), agent_group(7))
    assert merged[3].groups == (queue_group(1),)
    assert merged[3].data == {"changes": [{"conversation_id": c} for c in (10, 11, 13)]}


def test_nothing_to_merge_leaves_the_events_as_they_are() -> None:
    events = [queue_change(1, 10), offer(1, 10, 7), queue_change(2, 20)]

    assert coalesce_queue_updates(events) == events


@pytest.mark.django_db(transaction=True)
def test_a_batch_of_new_clients_sends_each_console_one_queue_frame_replayed_as_sent(
    redis_client: redis.Redis, channel_a, channel_b, make_agent: Callable[..., User]
) -> None:
    agent = make_agent(channel_a.company, max_chats=2)
    other = make_agent(channel_b.company, max_chats=5)
    for n in range(3):  # three new clients of A: two offered, one left waiting
        append_inbound(redis_client, channel_a, inbound_message(f"a-{n}", f"client-a-{n}"))
    append_inbound(redis_client, channel_b, inbound_message("b-0", "client-b-0"))

    asyncio.run(Router(name="test-router", block_ms=50).run(max_idle_loops=3))

    log = sync_client(settings.CHANNEL_LAYER_REDIS_URL)
    company_a = channel_a.company_id

    def logged(company_id: int, group: str) -> list[dict[str, Any]]:
        return [json.loads(f[b"e"]) for _, f in log.xrange(log_key(company_id, group))]

    chats_a = {c.pk: c for c in Conversation.objects.filter(company_id=company_a)}
    assert sorted(c.status for c in chats_a.values()) == [
        ConversationStatus.ASSIGNED,
        ConversationStatus.ASSIGNED,
        ConversationStatus.WAITING,
    ]
    (frame,) = logged(company_a, queue_group(company_a))  # one frame for the whole batch
    assert frame["type"] == "queue.updated"
    changes = frame["data"]["changes"]
    # One change per chat (no "waiting" before an offer of the same batch), final states.
    assert sorted(c["conversation_id"] for c in changes) == sorted(chats_a)
    assert {c["conversation_id"]: c["status"] for c in changes} == {
        pk: c.status for pk, c in chats_a.items()
    }
    # The agent's offers stay one event each, in their own group.
    offers = logged(company_a, agent_group(agent.pk))
    assert [o["type"] for o in offers] == ["chat.offered", "chat.offered"]
    # Company B's queue frame carries only its own chat.
    (frame_b,) = logged(channel_b.company_id, queue_group(channel_b.company_id))
    (chat_b,) = Conversation.objects.filter(company_id=channel_b.company_id)
    assert frame_b["data"]["conversation_id"] == chat_b.pk
    assert logged(channel_b.company_id, agent_group(other.pk))[0]["type"] == "chat.offered"
    assert all(c["conversation_id"] in chats_a for c in changes)
    # A console resuming from before the batch is replayed the same frame, once.
    replay = asyncio.run(
        read_since(company_a, [queue_group(company_a), agent_group(agent.pk)], 0, limit=100)
    )
    texts = [json.loads(text) for _, text in replay.events]
    assert [t["type"] for t in texts].count("queue.updated") == 1
    assert next(t for t in texts if t["type"] == "queue.updated") == frame
