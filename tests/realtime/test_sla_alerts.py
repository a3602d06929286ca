"""SLA alerts on real sockets: a breach and its escalation ladder's steps reach the people each
one concerns — the ladder's steps are the supervisors' business, not a second breach alert on
the agent's console."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from channels.db import database_sync_to_async

from realtime.tickets import issue_ticket
from routing_service.chats.actions import accept_assignment
from routing_service.chats.models import ChatAssignment, Conversation, Priority
from routing_service.tenancy.models import Company, Role, User
from sla_engine.models import ChatSLA
from sla_engine.timer import SlaTimerWorker
from tests.realtime.sockets import Socket

pytestmark = pytest.mark.django_db(transaction=True)

Open = Callable[..., Awaitable[Socket]]


@database_sync_to_async
def db(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return func(*args, **kwargs)


def held_chat_with_ladder(
    company: Company, channel: Any, agent: User, inbound: Callable[..., int]
) -> tuple[int, dt.datetime]:
    """A chat the agent accepted, under a ladder that notifies supervisors and raises the
    priority as soon as the first response is missed."""
    ChatSLA.objects.filter(company=company, priority=Priority.MEDIUM).update(
        escalation_ladder=[
            {"after_minutes": 0, "action": "notify_supervisors"},
            {"after_minutes": 0, "action": "raise_priority"},
        ]
    )
    conversation_id = inbound(channel, "client-1")
    offer = ChatAssignment.objects.get(conversation_id=conversation_id)
    accept_assignment(offer.pk, agent)
    return conversation_id, Conversation.objects.get(pk=conversation_id).created_at


def fire_everything_due(now: dt.datetime) -> None:
    worker = SlaTimerWorker(name="test", metrics_every=0)
    while worker.drain(now=now):
        pass


async def sla_frames_until(sock: Socket, done: Callable[[dict[str, Any]], bool]) -> list[Any]:
    frames = []
    while True:
        frame = await sock.frame_of("sla.breached", "sla.warning")
        frames.append(frame)
        if done(frame):
            return frames


def stage(frame: dict[str, Any]) -> tuple[str, str | None]:
    escalation = frame["data"].get("escalation")
    return frame["data"]["stage"], escalation["action"] if escalation else None


async def test_ladder_steps_reach_supervisors_and_only_a_raised_priority_reaches_the_agent(
    ws: Open,
    make_agent: Callable[..., User],
    company_a: Company,
    channel_a: Any,
    sla_a: None,
    inbound: Callable[..., int],
) -> None:
    agent = await db(make_agent, company_a)
    supervisor = await db(make_agent, company_a, Role.SUPERVISOR)
    chat, started = await db(held_chat_with_ladder, company_a, channel_a, agent, inbound)
    console = await ws(f"/ws/agent/?ticket={issue_ticket(agent)[0]}")
    await console.frame_of("snapshot")
    board = await ws(f"/ws/wallboard/?ticket={issue_ticket(supervisor)[0]}")
    await board.frame_of("snapshot")

    await db(fire_everything_due, started + dt.timedelta(minutes=10, seconds=1))

    def raised(frame: dict[str, Any]) -> bool:
        return stage(frame) == ("escalation", "raise_priority")

    board_frames = await sla_frames_until(board, raised)
    console_frames = await sla_frames_until(console, raised)
    assert {f["data"]["conversation_id"] for f in board_frames + console_frames} == {chat}
    on_board = [stage(f) for f in board_frames]
    on_console = [stage(f) for f in console_frames]
    assert on_board == [
        ("warning", None),
        ("breach", None),
        ("escalation", "notify_supervisors"),
        ("escalation", "raise_priority"),
    ]
    # The agent hears of the breach once, and of the step that changed their chat's targets.
    assert on_console == [("warning", None), ("breach", None), ("escalation", "raise_priority")]
