"""Company isolation: a socket of company A never sees, and never acts on, company B."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from channels.db import database_sync_to_async

from events.log import publish_now
from events.schema import EventType, make_event
from realtime.tickets import issue_ticket
from routing_service.chats.models import AssignmentStatus, ChatAssignment, Conversation
from routing_service.tenancy.models import Company, User
from tests.realtime.sockets import Socket

pytestmark = pytest.mark.django_db(transaction=True)

Open = Callable[..., Awaitable[Socket]]


@database_sync_to_async
def db(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return func(*args, **kwargs)


async def test_agent_of_a_receives_nothing_of_b_s_thousand_events(
    ws: Open,
    agent_a: User,
    agent_b: User,
    supervisor_a: User,
    company_a: Company,
    company_b: Company,
) -> None:
    console = await ws(f"/ws/agent/?ticket={issue_ticket(agent_a)[0]}")
    wallboard = await ws(f"/ws/wallboard/?ticket={issue_ticket(supervisor_a)[0]}")
    await console.frame_of("snapshot")
    await wallboard.frame_of("snapshot")

    noise = [
        make_event(
            EventType.QUEUE_UPDATED,
            company_b.pk,
            {"n": n},
            queue=n % 3 == 0,
            supervisors=n % 3 == 1,
            agents=[agent_b.pk] if n % 3 == 2 else [],
        )
        for n in range(1000)
    ]
    for start in range(0, 1000, 200):
        publish_now(noise[start : start + 200])
    marker = make_event(EventType.QUEUE_UPDATED, company_a.pk, {"marker": True}, queue=True)
    publish_now([marker])

    for sock in (console, wallboard):
        frame = await sock.frame_of(EventType.QUEUE_UPDATED)
        assert frame["id"] == marker.id  # the first queue event it sees is A's own
        for extra in await drain(sock):  # the wallboard may get A's stats; nothing of B
            assert extra["type"] == EventType.WALLBOARD_STATS
            assert extra["data"]["company_id"] == company_a.pk


async def drain(sock: Socket, quiet: float = 0.5) -> list[dict[str, Any]]:
    """Frames until the socket has been quiet for `quiet` seconds (without a timeout: a timed
    out receive cancels the application under test)."""
    frames = []
    while not await sock.nothing(quiet):
        frames.append(await sock.frame())
    return frames


async def test_agent_of_a_cannot_act_on_b_s_chat(
    ws: Open, agent_a: User, agent_b: User, channel_a, channel_b, inbound
) -> None:
    theirs = await db(inbound, channel_b, "b-client")
    mine = await db(inbound, channel_a, "a-client")
    console = await ws(f"/ws/agent/?ticket={issue_ticket(agent_a)[0]}")
    snapshot = await console.frame_of("snapshot")
    assert [c["conversation_id"] for c in snapshot["data"]["chats"]] == [mine]
    assert snapshot["data"]["queue"] == []

    for action, fields in [
        ("accept", {}),
        ("decline", {}),
        ("reply", {"text": "hello from A"}),
        ("resolve", {}),
        ("escalate", {"reason": "x"}),
        ("transfer", {"to_queue": True}),
        ("mark_read", {}),
    ]:
        error = await console.request(action, conversation_id=theirs, **fields)
        assert (error["type"], error["data"]["code"]) == ("error", "not_found"), action

    await console.request("accept", conversation_id=mine)
    error = await console.request("transfer", conversation_id=mine, to_agent_id=agent_b.pk)
    assert (error["type"], error["data"]["code"]) == ("error", "not_found")

    offer = await db(
        ChatAssignment.objects.get, conversation_id=theirs, status=AssignmentStatus.OFFERED
    )
    assert offer.agent_id == agent_b.pk
    conversation = await db(Conversation.objects.get, pk=theirs)
    assert conversation.message_count == 1  # no reply from A
