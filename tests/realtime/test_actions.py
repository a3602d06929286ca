"""Actions over the socket: ack or error with the request id, the same rules as REST."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from channels.db import database_sync_to_async
from rest_framework.test import APIClient

from realtime.tickets import issue_ticket
from routing_service.chats.models import (
    AssignmentStatus,
    ChatAssignment,
    ChatNotification,
    Conversation,
    ConversationStatus,
)
from routing_service.tenancy.models import AgentStatus, Company, User
from tests.realtime.sockets import Socket

pytestmark = pytest.mark.django_db(transaction=True)

Open = Callable[..., Awaitable[Socket]]


async def console(ws: Open, user: User, query: str = "") -> tuple[Socket, dict[str, Any]]:
    ticket, _ = issue_ticket(user)
    sock = await ws(f"/ws/agent/?ticket={ticket}{query}")
    return sock, await sock.frame()


@database_sync_to_async
def db(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return func(*args, **kwargs)


def active_assignment(conversation_id: int) -> ChatAssignment | None:
    return ChatAssignment.objects.filter(
        conversation_id=conversation_id,
        status__in=[AssignmentStatus.OFFERED, AssignmentStatus.ACCEPTED],
    ).first()


async def test_snapshot_shows_status_chats_with_due_times_queue_and_unread(
    ws: Open, make_agent: Callable[..., User], company_a: Company, channel_a, sla_a, inbound
) -> None:
    agent = await db(make_agent, company_a, max_chats=1)
    offered = await db(inbound, channel_a, "client-1", "Where is my parcel?")
    await db(inbound, channel_a, "client-1", "Hello? It was due yesterday.")  # unread: 1
    waiting = await db(inbound, channel_a, "client-2", "Hello?")

    _, snapshot = await console(ws, agent)

    assert snapshot["type"] == "snapshot"
    data = snapshot["data"]
    assert data["agent"]["status"] == AgentStatus.AVAILABLE
    [chat] = data["chats"]
    assert chat["conversation_id"] == offered
    assert chat["assignment_status"] == AssignmentStatus.OFFERED
    assert chat["first_response_due_at"] and chat["resolution_due_at"] and chat["offer_expires_at"]
    assert [c["conversation_id"] for c in data["queue"]] == [waiting]
    assert data["queue_total"] == 1
    [note] = data["notifications"]
    assert (note["conversation_id"], note["unread_count"]) == (offered, 1)
    assert snapshot["seq"] >= 1


async def test_accept_reply_mark_read_resolve_each_ack_and_publish(
    ws: Open, agent_a: User, channel_a, inbound
) -> None:
    chat = await db(inbound, channel_a, "client-1")
    await db(inbound, channel_a, "client-1", "Still there?")  # unread: 1
    sock, _ = await console(ws, agent_a)

    ack = await sock.request("accept", conversation_id=chat)
    assert ack["type"] == "ack"
    assert ack["data"]["assignment_status"] == AssignmentStatus.ACCEPTED
    assigned = await sock.frame_of("chat.assigned")
    assert assigned["data"]["conversation_id"] == chat
    assert assigned["seq"] > ack["seq"]

    ack = await sock.request("reply", conversation_id=chat, text="Happy to help!")
    assert ack["type"] == "ack" and ack["data"]["message_id"]
    message = await sock.frame_of("chat.message")
    assert message["data"]["text"] == "Happy to help!"

    ack = await sock.request("mark_read", conversation_id=chat)
    assert ack["type"] == "ack"
    notification = await sock.frame_of("notification")
    assert notification["data"]["unread_count"] == 0

    ack = await sock.request("resolve", conversation_id=chat, reason="answered")
    assert ack["data"]["assignment_status"] == AssignmentStatus.RESOLVED
    resolved = await sock.frame_of("chat.resolved")
    assert resolved["data"]["status"] == ConversationStatus.RESOLVED

    error = await sock.request("resolve", conversation_id=chat)
    assert error["type"] == "error"
    assert error["data"]["code"] == "not_found"
    assert error["data"]["field"] == "conversation_id"


async def test_decline_passes_the_offer_to_the_next_agent(
    ws: Open, make_agent: Callable[..., User], company_a: Company, channel_a, inbound
) -> None:
    first = await db(make_agent, company_a)
    second = await db(make_agent, company_a, status=AgentStatus.AWAY)
    chat = await db(inbound, channel_a, "client-1")
    await db(
        lambda: User.objects.filter(pk=second.pk).update(status=AgentStatus.AVAILABLE)
    )  # available, but the chat is already offered to `first`
    sock, _ = await console(ws, first)

    ack = await sock.request("decline", conversation_id=chat, reason="busy")

    assert ack["type"] == "ack"
    assert ack["data"]["assignment_status"] == AssignmentStatus.DECLINED
    assert ack["data"]["cooldown_seconds"] == 60  # what the console tells the agent
    assert ack["data"]["cooldown_until"] is not None
    offer = await db(active_assignment, chat)
    assert offer is not None and offer.agent_id == second.pk


async def test_transfer_to_an_away_agent_is_an_error_naming_the_field(
    ws: Open, make_agent: Callable[..., User], company_a: Company, channel_a, inbound
) -> None:
    agent = await db(make_agent, company_a)
    chat = await db(inbound, channel_a, "client-1")
    away = await db(make_agent, company_a, status=AgentStatus.AWAY)
    sock, _ = await console(ws, agent)
    await sock.request("accept", conversation_id=chat)

    error = await sock.request("transfer", conversation_id=chat, to_agent_id=away.pk, reason="x")

    assert error["type"] == "error"
    assert (error["data"]["code"], error["data"]["field"]) == ("agent_unavailable", "to_agent_id")
    assert "away" in error["data"]["message"]
    offer = await db(active_assignment, chat)
    assert offer is not None and offer.agent_id == agent.pk


async def test_escalate_hands_the_chat_to_a_supervisor(
    ws: Open, agent_a: User, supervisor_a: User, channel_a, inbound
) -> None:
    chat = await db(inbound, channel_a, "client-1")
    sock, _ = await console(ws, agent_a)
    await sock.request("accept", conversation_id=chat)

    ack = await sock.request("escalate", conversation_id=chat, reason="angry customer")

    assert ack["type"] == "ack"
    assert ack["data"]["agent_id"] == supervisor_a.pk
    transferred = await sock.frame_of("chat.transferred")
    assert transferred["data"]["kind"] == "escalation"
    assert transferred["data"]["reason"] == "angry customer"


async def test_transfer_to_the_queue_and_to_a_named_agent(
    ws: Open, make_agent: Callable[..., User], company_a: Company, channel_a, inbound
) -> None:
    agent = await db(make_agent, company_a)
    chat = await db(inbound, channel_a, "client-1")
    colleague = await db(make_agent, company_a)
    sock, _ = await console(ws, agent)
    await sock.request("accept", conversation_id=chat)

    ack = await sock.request(
        "transfer", conversation_id=chat, to_agent_id=colleague.pk, reason="billing"
    )
    assert ack["type"] == "ack"
    assert (ack["data"]["agent_id"], ack["data"]["assignment_status"]) == (
        colleague.pk,
        AssignmentStatus.OFFERED,
    )

    await db(lambda: User.objects.filter(pk=colleague.pk).update(status=AgentStatus.AWAY))
    other = await db(inbound, channel_a, "client-2")
    await sock.request("accept", conversation_id=other)
    ack = await sock.request("transfer", conversation_id=other, to_queue=True, reason="later")
    assert ack["type"] == "ack"
    transferred = await sock.event_for("chat.transferred", other)
    assert transferred["data"]["to_queue"] is True


async def test_set_status_acks_and_reaches_the_console(ws: Open, agent_a: User) -> None:
    sock, _ = await console(ws, agent_a)

    ack = await sock.request("set_status", status="away")
    assert ack["data"] == {
        "request_id": ack["data"]["request_id"],
        "agent_id": agent_a.pk,
        "status": "away",
    }
    event = await sock.frame_of("agent.status")
    assert event["data"]["status"] == "away"

    error = await sock.request("set_status", status="sleeping")
    assert (error["type"], error["data"]["field"]) == ("error", "status")


async def test_acting_on_someone_elses_offer_is_refused(
    ws: Open, make_agent: Callable[..., User], company_a: Company, channel_a, inbound
) -> None:
    holder = await db(make_agent, company_a)
    chat = await db(inbound, channel_a, "client-1")
    bystander = await db(make_agent, company_a)
    sock, _ = await console(ws, bystander)

    for action, fields in [
        ("decline", {}),
        ("resolve", {}),
        ("reply", {"text": "hi"}),
        ("accept", {}),
    ]:
        error = await sock.request(action, conversation_id=chat, **fields)
        assert error["type"] == "error", action
        assert error["data"]["code"] in {"forbidden", "invalid_state"}, error
    offer = await db(active_assignment, chat)
    assert offer is not None and offer.agent_id == holder.pk


async def test_malformed_frames_get_errors_and_the_socket_stays_open(
    ws: Open, agent_a: User
) -> None:
    sock, _ = await console(ws, agent_a)

    await sock.send("this is not json")
    error = await sock.frame()
    assert (error["type"], error["data"]["code"], error["data"]["request_id"]) == (
        "error",
        "bad_frame",
        None,
    )

    await sock.send("[1, 2, 3]")
    assert (await sock.frame())["data"]["code"] == "bad_frame"

    await sock.send(b"\x00\x01binary")
    assert (await sock.frame())["data"]["code"] == "bad_frame"

    await sock.send({"action": "teleport", "request_id": "t-1"})
    error = await sock.frame()
    assert (error["data"]["code"], error["data"]["request_id"]) == ("unknown_action", "t-1")

    await sock.send({"action": "accept", "request_id": "t-2"})
    error = await sock.frame()
    assert (error["data"]["code"], error["data"]["field"], error["data"]["request_id"]) == (
        "invalid",
        "conversation_id",
        "t-2",
    )

    await sock.send({"action": "accept", "request_id": "t-3", "conversation_id": 999_999})
    error = await sock.frame()
    assert (error["data"]["code"], error["data"]["request_id"]) == ("not_found", "t-3")

    ack = await sock.request("ping")
    assert ack["type"] == "ack" and ack["data"]["pong"] is True


async def test_frame_over_64_kib_closes_with_1009(ws: Open, agent_a: User) -> None:
    sock, _ = await console(ws, agent_a)
    await sock.send({"action": "ping", "request_id": "big", "pad": "x" * (64 * 1024)})
    assert await sock.expect_close() == 1009


async def test_flood_closes_with_4408(ws: Open, agent_a: User) -> None:
    sock, _ = await console(ws, agent_a)
    for n in range(100):
        await sock.send({"action": "ping", "request_id": f"p{n}"})
    assert await sock.expect_close() == 4408


async def test_steady_pings_under_the_rate_are_fine(ws: Open, agent_a: User) -> None:
    import asyncio

    sock, _ = await console(ws, agent_a)
    for _ in range(30):
        assert (await sock.request("ping"))["type"] == "ack"
        await asyncio.sleep(0.06)  # ~16 frames/s, under the 20/s rate


async def test_read_and_dismiss_clear_the_count_on_every_console(
    ws: Open, agent_a: User, channel_a, inbound
) -> None:
    chat = await db(inbound, channel_a, "client-1")
    await db(inbound, channel_a, "client-1", "Still there?")  # unread: 1
    first, _ = await console(ws, agent_a)
    second, _ = await console(ws, agent_a)

    await first.request("mark_read", conversation_id=chat)
    for sock in (first, second):
        seen = await sock.frame_of("notification")
        assert (seen["data"]["conversation_id"], seen["data"]["unread_count"]) == (chat, 0)

    await db(inbound, channel_a, "client-1", "Anyone there?")
    for sock in (first, second):
        bumped = await sock.frame_of("notification")
        assert bumped["data"]["unread_count"] == 1

    notification = await db(ChatNotification.objects.get, recipient=agent_a)

    def dismiss_over_rest() -> int:
        client = APIClient()
        client.force_authenticate(agent_a)
        return client.post(f"/api/v1/notifications/{notification.pk}/dismiss/").status_code

    assert await db(dismiss_over_rest) == 200
    for sock in (first, second):
        dismissed = await sock.frame_of("notification")
        assert dismissed["data"]["dismissed"] is True
        assert dismissed["data"]["unread_count"] == 0


async def test_supervisor_can_reply_on_a_chat_of_their_team(
    ws: Open, agent_a: User, supervisor_a: User, channel_a, inbound
) -> None:
    chat = await db(inbound, channel_a, "client-1")
    sock, _ = await console(ws, supervisor_a)
    ack = await sock.request("reply", conversation_id=chat, text="Supervisor here.")
    assert ack["type"] == "ack"
    conversation = await db(Conversation.objects.get, pk=chat)
    assert conversation.first_response_at is not None


async def test_wallboard_is_read_only(ws: Open, supervisor_a: User, channel_a, inbound) -> None:
    chat = await db(inbound, channel_a, "client-1")
    ticket, _ = issue_ticket(supervisor_a)
    sock = await ws(f"/ws/wallboard/?ticket={ticket}")
    await sock.frame_of("snapshot")
    error = await sock.request("resolve", conversation_id=chat)
    assert error["data"]["code"] == "unknown_action"
    assert (await sock.request("ping"))["type"] == "ack"
