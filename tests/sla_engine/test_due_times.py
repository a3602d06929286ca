"""Due times through the real inbound path: business hours, priority changes, pauses."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from routing_service.chats.actions import send_agent_reply
from routing_service.chats.models import (
    AssignmentEvent,
    ChatAssignment,
    Conversation,
    Priority,
)
from routing_service.tenancy.models import User
from sla_engine.models import ChatSLA, SlaPause, SlaTimer, Stage, TimerKind
from tests.sla_engine.conftest import london

pytestmark = pytest.mark.django_db

Receive = Callable[..., Conversation]


def timers(conversation: Conversation) -> dict[tuple[str, int], dt.datetime]:
    """The pending timer rows of a chat: {(kind, stage): due_at}."""
    return {
        (t.kind, t.stage): t.due_at
        for t in SlaTimer.objects.unscoped().filter(
            conversation=conversation, fired_at__isnull=True
        )
    }


def test_friday_1650_plus_30_minutes_is_due_monday_0920(
    make_policy: Callable[..., ChatSLA], receive: Receive
) -> None:
    make_policy(first_response_minutes=30, resolution_minutes=120)

    chat = receive(at=london(2026, 1, 9, 16, 50))

    assert chat.first_response_due_at == london(2026, 1, 12, 9, 20)
    # 10 minutes on Friday, 110 on Monday morning.
    assert chat.resolution_due_at == london(2026, 1, 12, 10, 50)
    assert timers(chat) == {
        # 80 % of 30 minutes: 10 on Friday, 14 on Monday.
        (TimerKind.FIRST_RESPONSE, Stage.WARNING): london(2026, 1, 12, 9, 14),
        (TimerKind.FIRST_RESPONSE, Stage.BREACH): london(2026, 1, 12, 9, 20),
        # 80 % of 120 minutes = 96: 10 on Friday, 86 on Monday.
        (TimerKind.RESOLUTION, Stage.WARNING): london(2026, 1, 12, 10, 26),
        (TimerKind.RESOLUTION, Stage.BREACH): london(2026, 1, 12, 10, 50),
    }


def test_the_clock_starts_when_the_message_arrives_not_when_an_agent_is_found(
    make_policy: Callable[..., ChatSLA], receive: Receive, make_staff: Callable[..., User]
) -> None:
    make_policy(always=True, first_response_minutes=10, resolution_minutes=60)
    arrived = london(2026, 3, 2, 11, 0)
    chat = receive(at=arrived)
    make_staff()  # an agent only turns up later: the due times do not move
    chat = receive(at=arrived + dt.timedelta(minutes=7))

    assert chat.first_response_due_at == arrived + dt.timedelta(minutes=10)
    assert chat.resolution_due_at == arrived + dt.timedelta(minutes=60)


def test_priority_change_recomputes_due_times_and_timers_from_the_first_message(
    make_policy: Callable[..., ChatSLA], receive: Receive, make_staff: Callable[..., User]
) -> None:
    make_policy(Priority.MEDIUM, first_response_minutes=30, resolution_minutes=120)
    make_policy(Priority.URGENT, first_response_minutes=5, resolution_minutes=60)
    agent = make_staff()
    chat = receive(at=london(2026, 1, 9, 16, 50))
    offer = ChatAssignment.objects.get(conversation=chat)
    assert offer.agent_id == agent.pk

    chat = receive(text="Still broken!", at=london(2026, 1, 12, 9, 5), priority="urgent")

    assert chat.priority == Priority.URGENT
    assert chat.first_response_due_at == london(2026, 1, 9, 16, 55)
    assert chat.resolution_due_at == london(2026, 1, 12, 9, 50)  # 10 on Friday + 50
    assert timers(chat) == {
        (TimerKind.FIRST_RESPONSE, Stage.WARNING): london(2026, 1, 9, 16, 54),
        (TimerKind.FIRST_RESPONSE, Stage.BREACH): london(2026, 1, 9, 16, 55),
        (TimerKind.RESOLUTION, Stage.WARNING): london(2026, 1, 12, 9, 38),  # 48 minutes
        (TimerKind.RESOLUTION, Stage.BREACH): london(2026, 1, 12, 9, 50),
    }
    # The agent holding the chat works to the new due times too.
    offer.refresh_from_db()
    assert offer.resolution_due_at == chat.resolution_due_at
    assert AssignmentEvent.objects.filter(
        conversation=chat, action=AssignmentEvent.Action.PRIORITY_CHANGED
    ).exists()


def test_waiting_on_the_customer_pushes_the_resolution_due_time_by_the_pause(
    make_policy: Callable[..., ChatSLA], receive: Receive, make_staff: Callable[..., User]
) -> None:
    make_policy(
        first_response_minutes=30, resolution_minutes=120, pause_while_waiting_on_customer=True
    )
    agent = make_staff()
    chat = receive(at=london(2026, 1, 12, 9, 0))
    assert chat.resolution_due_at == london(2026, 1, 12, 11, 0)

    send_agent_reply(chat.pk, agent, "Let me check", now=london(2026, 1, 12, 9, 30))
    chat = receive(text="Here you go", at=london(2026, 1, 12, 10, 15))
    # 45 minutes waiting on the customer do not count.
    assert chat.resolution_due_at == london(2026, 1, 12, 11, 45)
    assert chat.waiting_on_customer_since is None
    assert timers(chat)[TimerKind.RESOLUTION, Stage.BREACH] == london(2026, 1, 12, 11, 45)

    send_agent_reply(chat.pk, agent, "Try this", now=london(2026, 1, 12, 11, 0))
    chat = receive(text="Works, thanks", at=london(2026, 1, 13, 9, 30))
    # Monday 11:00-17:00 and Tuesday 09:00-09:30: 390 business minutes; 45 were left.
    assert chat.resolution_due_at == london(2026, 1, 13, 10, 15)
    assert SlaPause.objects.unscoped().filter(conversation=chat).count() == 2
    # The first response is never paused: it was on time and stays so.
    assert chat.first_response_met is True


def test_a_pause_after_the_resolution_target_was_missed_does_not_unmiss_it(
    make_policy: Callable[..., ChatSLA], receive: Receive, make_staff: Callable[..., User]
) -> None:
    make_policy(
        first_response_minutes=30, resolution_minutes=60, pause_while_waiting_on_customer=True
    )
    agent = make_staff()
    chat = receive(at=london(2026, 1, 12, 9, 0))
    send_agent_reply(chat.pk, agent, "Sorry for the wait", now=london(2026, 1, 12, 10, 30))
    chat = receive(text="ok", at=london(2026, 1, 12, 11, 0))

    assert chat.resolution_due_at == london(2026, 1, 12, 10, 0)


def test_without_the_pause_rule_waiting_on_the_customer_counts(
    make_policy: Callable[..., ChatSLA], receive: Receive, make_staff: Callable[..., User]
) -> None:
    make_policy(first_response_minutes=30, resolution_minutes=120)
    agent = make_staff()
    chat = receive(at=london(2026, 1, 12, 9, 0))
    send_agent_reply(chat.pk, agent, "Let me check", now=london(2026, 1, 12, 9, 30))
    chat = receive(text="Here you go", at=london(2026, 1, 12, 10, 15))

    assert chat.resolution_due_at == london(2026, 1, 12, 11, 0)
    assert not SlaPause.objects.unscoped().exists()


def test_a_priority_change_after_a_pause_keeps_the_pause(
    make_policy: Callable[..., ChatSLA], receive: Receive, make_staff: Callable[..., User]
) -> None:
    for priority, resolution in ((Priority.MEDIUM, 120), (Priority.URGENT, 60)):
        make_policy(
            priority,
            first_response_minutes=30,
            resolution_minutes=resolution,
            pause_while_waiting_on_customer=True,
        )
    agent = make_staff()
    chat = receive(at=london(2026, 1, 12, 9, 0))
    send_agent_reply(chat.pk, agent, "Let me check", now=london(2026, 1, 12, 9, 30))
    chat = receive(text="Now it is urgent", at=london(2026, 1, 12, 10, 15), priority="urgent")

    # Urgent: 60 minutes from 09:00, plus the 45-minute pause that began before 10:00.
    assert chat.resolution_due_at == london(2026, 1, 12, 10, 45)


def test_first_response_stops_its_timers_and_resolving_stops_the_rest(
    make_policy: Callable[..., ChatSLA], receive: Receive, make_staff: Callable[..., User]
) -> None:
    from routing_service.chats.actions import resolve_assignment

    make_policy(always=True, first_response_minutes=10, resolution_minutes=60)
    agent = make_staff()
    start = london(2026, 3, 2, 11, 0)
    chat = receive(at=start)

    send_agent_reply(chat.pk, agent, "Hi!", now=start + dt.timedelta(minutes=3))
    assert set(timers(chat)) == {
        (TimerKind.RESOLUTION, Stage.WARNING),
        (TimerKind.RESOLUTION, Stage.BREACH),
    }
    assignment = ChatAssignment.objects.get(conversation=chat)
    resolve_assignment(assignment.pk, agent, now=start + dt.timedelta(minutes=20))
    assert timers(chat) == {}
    assert SlaTimer.objects.unscoped().filter(conversation=chat, cancelled=True).count() == 4


def test_a_batch_of_chats_is_scheduled_with_a_fixed_number_of_queries(
    make_policy: Callable[..., ChatSLA],
    receive: Receive,
    make_staff: Callable[..., User],
    django_assert_max_num_queries: Callable[..., Any],
) -> None:
    from sla_engine.scheduler import customer_answered_many

    make_policy(always=True, pause_while_waiting_on_customer=True)
    agent = make_staff(max_chats=30)
    start = london(2026, 3, 2, 11, 0)
    chats = [receive(f"client-{n}", at=start) for n in range(20)]
    for chat in chats:
        send_agent_reply(chat.pk, agent, "Anything else?", now=start + dt.timedelta(minutes=5))
    chats = list(Conversation.objects.filter(pk__in=[c.pk for c in chats]))
    SlaTimer.objects.all().delete()

    with django_assert_max_num_queries(8):
        customer_answered_many([(c, start + dt.timedelta(minutes=15), False) for c in chats])

    assert SlaPause.objects.count() == 20
    for chat in chats:  # resolution: 120 minutes + the 10-minute pause
        assert chat.resolution_due_at == start + dt.timedelta(minutes=130)
        assert timers(chat)[TimerKind.RESOLUTION, Stage.BREACH] == chat.resolution_due_at
    assert (
        ChatAssignment.objects.filter(resolution_due_at=start + dt.timedelta(minutes=130)).count()
        == 20
    )
