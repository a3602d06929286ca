"""Typing indicators (`chat.typing`): the customer's (generic webhook `typing` event → stream →
router) reaches the console of the agent holding the chat, live only; the agent's (socket
action `typing`) reaches the supervisors. Nothing is stored, logged or replayed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from channels.db import database_sync_to_async

from realtime.tickets import issue_ticket
from routing_service.chats.models import Message
from routing_service.ingest.adapters.base import TypingSignal
from routing_service.ingest.stream import TypingEntry
from routing_service.router.worker import StreamEntry, process_batch
from routing_service.tenancy.models import AgentStatus, Company, Role, User
from tests.realtime.sockets import Socket

pytestmark = pytest.mark.django_db(transaction=True)

Open = Callable[..., Awaitable[Socket]]


async def console(ws: Open, user: User) -> tuple[Socket, int]:
    ticket, _ = issue_ticket(user)
    sock = await ws(f"/ws/agent/?ticket={ticket}")
    snapshot = await sock.frame()
    assert snapshot["type"] == "snapshot"
    return sock, snapshot["seq"]


@database_sync_to_async
def db(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return func(*args, **kwargs)


def route_typing(channel: Any, client: str, typing: bool = True) -> None:
    """One typing entry through the router's batch path, as if read from the stream."""
    entry = TypingEntry(
        channel_id=channel.pk,
        company_id=channel.company_id,
        received_at=dt.datetime.now(dt.UTC),
        typing=TypingSignal(provider="generic", client_external_id=client, typing=typing),
    )
    outcome = process_batch([StreamEntry("inbound", "1-0", b"", entry)])
    assert len(outcome.acked) == 1, outcome


async def test_customer_typing_reaches_only_the_handling_agent_unlogged(
    ws: Open,
    agent_a: User,
    agent_b: User,
    make_agent: Callable[..., User],
    company_a: Company,
    channel_a: Any,
    inbound: Callable[..., int],
) -> None:
    chat = await db(inbound, channel_a, "client-1", "Hello?")
    colleague = await db(make_agent, company_a, username="colleague", status=AgentStatus.AWAY)
    holder, seq = await console(ws, agent_a)
    bystander, _ = await console(ws, colleague)
    outsider, _ = await console(ws, agent_b)
    messages_before = await db(Message.objects.unscoped().count)

    await db(route_typing, channel_a, "client-1")

    frame = await holder.frame_of("chat.typing")
    assert frame["data"]["conversation_id"] == chat
    assert frame["data"]["by"] == "customer"
    assert frame["data"]["typing"] is True
    assert frame["data"]["ttl_seconds"] > 0
    # Not logged: it carries the seq the socket is at, no new one.
    assert frame["seq"] == seq
    assert await bystander.nothing()
    assert await outsider.nothing()
    assert await db(Message.objects.unscoped().count) == messages_before

    await db(route_typing, channel_a, "client-1", False)
    stopped = await holder.frame_of("chat.typing")
    assert stopped["data"]["typing"] is False

    # A reconnect replays no typing: only logged events come back.
    ticket, _ = issue_ticket(agent_a)
    again = await ws(f"/ws/agent/?ticket={ticket}&last_seq={seq}")
    assert await again.nothing()


async def test_typing_for_a_client_without_an_open_chat_is_dropped(
    ws: Open, agent_a: User, channel_a: Any
) -> None:
    holder, _ = await console(ws, agent_a)
    await db(route_typing, channel_a, "nobody")
    assert await holder.nothing()


async def test_agent_typing_reaches_the_supervisors_and_needs_the_chat(
    ws: Open,
    agent_a: User,
    agent_b: User,
    make_agent: Callable[..., User],
    company_a: Company,
    channel_a: Any,
    inbound: Callable[..., int],
) -> None:
    chat = await db(inbound, channel_a, "client-1", "Hello?")
    supervisor = await db(
        make_agent, company_a, role=Role.SUPERVISOR, username="sup", status=AgentStatus.OFFLINE
    )
    ticket, _ = issue_ticket(supervisor)
    board = await ws(f"/ws/wallboard/?ticket={ticket}")
    assert (await board.frame_of("snapshot"))["type"] == "snapshot"
    holder, _ = await console(ws, agent_a)
    outsider, _ = await console(ws, agent_b)

    ack = await holder.request("accept", conversation_id=chat)
    assert ack["type"] == "ack", ack
    ack = await holder.request("typing", conversation_id=chat)
    assert ack["type"] == "ack", ack
    assert ack["data"]["typing"] is True
    frame = await board.frame_of("chat.typing")
    assert frame["data"]["by"] == "agent"
    assert frame["data"]["agent_id"] == agent_a.pk
    assert frame["data"]["conversation_id"] == chat

    # Company B's agent cannot type "in" company A's chat; a bad flag is a field error.
    refused = await outsider.request("typing", conversation_id=chat)
    assert refused["type"] == "error"
    assert refused["data"]["field"] == "conversation_id"
    bad = await holder.request("typing", conversation_id=chat, typing="yes")
    assert bad["type"] == "error"
    assert bad["data"]["field"] == "typing"
