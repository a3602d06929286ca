"""Notes and mentions over the socket: the `note` action, and a `mention` on every console of
the mentioned colleague — nobody else's."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from channels.db import database_sync_to_async

from realtime.tickets import issue_ticket
from routing_service.chats.models import Message, MessageKind
from routing_service.tenancy.models import AgentStatus, Company, User
from tests.realtime.sockets import Socket

pytestmark = pytest.mark.django_db(transaction=True)

Open = Callable[..., Awaitable[Socket]]


async def console(ws: Open, user: User) -> Socket:
    ticket, _ = issue_ticket(user)
    sock = await ws(f"/ws/agent/?ticket={ticket}")
    assert (await sock.frame())["type"] == "snapshot"
    return sock


@database_sync_to_async
def db(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return func(*args, **kwargs)


async def test_a_mention_reaches_every_console_of_the_mentioned_user_and_no_one_else(
    ws: Open,
    agent_a: User,
    agent_b: User,
    make_agent: Callable[..., User],
    company_a: Company,
    channel_a,
    inbound,
) -> None:
    chat = await db(inbound, channel_a, "client-1", "My invoice is wrong")
    # Colleagues who join after the chat was offered to agent A (and take no offers).
    grace = await db(make_agent, company_a, username="grace", status=AgentStatus.OFFLINE)
    linus = await db(make_agent, company_a, username="linus", status=AgentStatus.OFFLINE)
    author = await console(ws, agent_a)
    grace_desk, grace_laptop = await console(ws, grace), await console(ws, grace)
    bystander = await console(ws, linus)
    outsider = await console(ws, agent_b)

    ack = await author.request(
        "note", conversation_id=chat, text=f"@grace please check; @{agent_b.username} too"
    )

    assert ack["type"] == "ack", ack
    assert ack["data"]["kind"] == "note"
    assert ack["data"]["mentions"] == [grace.pk]
    shown = await author.event_for("chat.message", chat)
    assert shown["data"]["kind"] == "note"
    assert shown["data"]["message_id"] == ack["data"]["message_id"]
    for sock in (grace_desk, grace_laptop):
        got = {}
        while len(got) < 2:
            frame = await sock.frame_of("mention", "notification")
            got[frame["type"]] = frame["data"]
        assert got["mention"]["conversation_id"] == chat
        assert got["mention"]["author"]["username"] == agent_a.username
        assert got["mention"]["text"].startswith("@grace please check")
        assert got["notification"]["conversation_id"] == chat
        assert got["notification"]["unread_count"] == 1
    assert await bystander.nothing()
    assert await outsider.nothing()
    note = await db(Message.objects.unscoped().get, pk=ack["data"]["message_id"])
    assert note.kind == MessageKind.NOTE


async def test_a_note_needs_text_and_a_chat_of_ones_own_company(
    ws: Open, agent_a: User, agent_b: User, channel_a, channel_b, inbound
) -> None:
    theirs = await db(inbound, channel_b, "client-b")
    sock = await console(ws, agent_a)
    empty = await sock.request("note", conversation_id=theirs, text="  ")
    assert (empty["type"], empty["data"]["field"]) == ("error", "text")
    foreign = await sock.request("note", conversation_id=theirs, text="hello")
    assert (foreign["type"], foreign["data"]["code"]) == ("error", "not_found")
