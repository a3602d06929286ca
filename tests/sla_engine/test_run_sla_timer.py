"""The SLA timer in-process: warnings, breaches and escalation steps fire once, at their time,
as the policy says — recorded in the assignment log and published to agents and supervisors."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from collections.abc import Callable

import pytest
import redis
from django.db import connection

from events.schema import agent_group
from routing_service.chats.actions import accept_assignment, send_agent_reply
from routing_service.chats.models import (
    AssignmentEvent,
    AssignmentStatus,
    ChatAssignment,
    Conversation,
    ConversationStatus,
    Priority,
)
from routing_service.tenancy.models import Role, User
from sla_engine import firing
from sla_engine.models import ChatSLA, SlaTimer, Stage, TimerKind
from sla_engine.timer import SlaTimerWorker
from tests.sla_engine.conftest import logged_events, london, sla_events

pytestmark = pytest.mark.django_db(transaction=True)

Receive = Callable[..., Conversation]
START = dt.datetime(2026, 3, 2, 11, 0, tzinfo=dt.UTC)


def at(minutes: float) -> dt.datetime:
    return START + dt.timedelta(minutes=minutes)


def run_timer(now: dt.datetime) -> int:
    """Everything due at `now`, as the worker's successive turns would fire it."""
    worker = SlaTimerWorker(name="test", metrics_every=0)
    total = 0
    while fired := worker.drain(now=now):
        total += fired
    return total


def log_actions(conversation: Conversation) -> list[str]:
    return list(
        AssignmentEvent.objects.filter(conversation=conversation)
        .exclude(action__in=["queued", "offered", "accepted"])
        .values_list("action", flat=True)
    )


@pytest.fixture
def held_chat(
    make_policy: Callable[..., ChatSLA], receive: Receive, make_staff: Callable[..., User]
) -> Callable[..., tuple[Conversation, User]]:
    """A chat started at START (24/7 policy: 10 min first response, 60 resolution) that an
    agent accepted."""

    def make(**policy: object) -> tuple[Conversation, User]:
        make_policy(always=True, first_response_minutes=10, resolution_minutes=60, **policy)
        agent = make_staff()
        chat = receive(at=START)
        offer = ChatAssignment.objects.get(conversation=chat)
        accept_assignment(offer.pk, agent, now=START)
        return chat, agent

    return make


def test_warning_and_breach_fire_once_each_and_reach_agent_and_supervisors(
    held_chat: Callable[..., tuple[Conversation, User]], redis_client: redis.Redis
) -> None:
    chat, agent = held_chat()
    assignment = ChatAssignment.objects.get(conversation=chat)

    assert run_timer(at(7.9)) == 0
    assert run_timer(at(8)) == 1  # 80 % of the first-response target
    assert run_timer(at(9)) == 0
    assert run_timer(at(10)) == 1
    chat.refresh_from_db()
    assert chat.first_response_met is False
    assert run_timer(at(48)) == 1
    assert run_timer(at(60)) == 1
    assert run_timer(at(600)) == 0

    chat.refresh_from_db()
    assert chat.resolution_met is False
    assert log_actions(chat) == ["sla_warning", "sla_breached", "sla_warning", "sla_breached"]
    events = sla_events(redis_client, chat.company_id)
    assert [(e["type"], e["data"]["kind"]) for e in events] == [
        ("sla.warning", "first_response"),
        ("sla.breached", "first_response"),
        ("sla.warning", "resolution"),
        ("sla.breached", "resolution"),
    ]
    assert (
        events[0]["data"].items()
        >= {
            "conversation_id": chat.pk,
            "due_at": at(10).isoformat(),
            "scheduled_at": at(8).isoformat(),
            "assignment_id": assignment.pk,
            "agent_id": agent.pk,
            "stage": "warning",
        }.items()
    )
    to_agent = [
        e["type"] for e in logged_events(redis_client, chat.company_id, agent_group(agent.pk))
    ]
    assert to_agent.count("sla.warning") == 2 and to_agent.count("sla.breached") == 2


def test_an_answer_in_time_cancels_the_first_response_warning_and_breach(
    held_chat: Callable[..., tuple[Conversation, User]],
) -> None:
    chat, agent = held_chat()
    send_agent_reply(chat.pk, agent, "Hello!", now=at(5))

    assert run_timer(at(30)) == 0
    chat.refresh_from_db()
    assert chat.first_response_met is True
    assert log_actions(chat) == []


def test_a_chat_that_closed_meanwhile_fires_nothing(
    held_chat: Callable[..., tuple[Conversation, User]],
) -> None:
    chat, _ = held_chat()
    # No action abandons chats yet: close it behind the scheduler's back.
    Conversation.objects.filter(pk=chat.pk).update(status=ConversationStatus.ABANDONED)

    assert run_timer(at(600)) == 0
    assert log_actions(chat) == []
    assert not SlaTimer.objects.filter(conversation=chat, fired_at__isnull=True).exists()


def test_the_paused_clock_does_not_warn_or_breach_until_the_customer_answers(
    held_chat: Callable[..., tuple[Conversation, User]], receive: Receive
) -> None:
    chat, agent = held_chat(pause_while_waiting_on_customer=True)
    send_agent_reply(chat.pk, agent, "Could you send a screenshot?", now=at(5))

    assert run_timer(at(65)) == 0  # resolution warning and breach fall in the pause
    chat = receive(text="Here it is", at=at(70))
    assert chat.resolution_due_at == at(125)  # the 65-minute pause does not count

    assert run_timer(at(112.9)) == 0
    assert run_timer(at(113)) == 1  # 48 minutes of clock + the pause
    assert run_timer(at(125)) == 1
    assert log_actions(chat) == ["sla_warning", "sla_breached"]


def test_escalation_notifies_then_reassigns_to_a_supervisor_as_the_ladder_says(
    held_chat: Callable[..., tuple[Conversation, User]],
    make_staff: Callable[..., User],
    redis_client: redis.Redis,
) -> None:
    supervisor = make_staff(Role.SUPERVISOR)
    chat, agent = held_chat(
        escalation_ladder=[
            {"after_minutes": 0, "action": "notify_supervisors"},
            {"after_minutes": 15, "action": "reassign", "to": "supervisor"},
        ]
    )

    assert run_timer(at(10)) == 3  # warning (overdue), breach, then step 1 on the next turn
    assert (
        ChatAssignment.objects.get(conversation=chat, status=AssignmentStatus.ACCEPTED).agent
        == agent
    )
    assert run_timer(at(24.9)) == 0
    assert run_timer(at(25)) == 1

    chat.refresh_from_db()
    active = ChatAssignment.objects.get(conversation=chat, status=AssignmentStatus.ACCEPTED)
    assert active.agent == supervisor
    assert chat.escalation_level == 1
    assert ChatAssignment.objects.get(conversation=chat, agent=agent).status == "escalated"
    escalated = AssignmentEvent.objects.filter(conversation=chat, action="escalated")
    assert [(e.from_agent_id, e.to_agent_id) for e in escalated] == [
        (agent.pk, None),  # step 1: supervisors notified
        (agent.pk, supervisor.pk),  # step 2: reassigned
    ]
    steps = [
        e["data"]["escalation"]
        for e in sla_events(redis_client, chat.company_id)
        if e["data"]["stage"] == "escalation"
    ]
    assert [(s["step"], s["action"], s["outcome"]) for s in steps] == [
        (1, "notify_supervisors", "supervisors notified"),
        (2, "reassign", f"reassigned to supervisor {supervisor.pk}"),
    ]


def test_reassign_to_agent_takes_the_chat_to_another_agent(
    make_policy: Callable[..., ChatSLA], receive: Receive, make_staff: Callable[..., User]
) -> None:
    make_policy(
        always=True,
        first_response_minutes=10,
        resolution_minutes=60,
        escalation_ladder=[{"after_minutes": 5, "action": "reassign", "to": "agent"}],
    )
    first = make_staff()
    chat = receive(at=START)
    offer = ChatAssignment.objects.get(conversation=chat)
    assert offer.agent == first
    second = make_staff()

    run_timer(at(15))

    assert ChatAssignment.objects.get(pk=offer.pk).status == AssignmentStatus.TRANSFERRED
    now_with = ChatAssignment.objects.get(conversation=chat, status=AssignmentStatus.OFFERED)
    assert now_with.agent == second
    assert AssignmentEvent.objects.filter(
        conversation=chat, action="escalated", from_agent=first, data__ladder_to="agent"
    ).exists()


def test_raise_priority_step_moves_the_chat_up_and_recomputes_its_due_times(
    make_policy: Callable[..., ChatSLA], receive: Receive
) -> None:
    make_policy(
        always=True,
        first_response_minutes=10,
        resolution_minutes=60,
        escalation_ladder=[{"after_minutes": 0, "action": "raise_priority"}],
    )
    make_policy(Priority.HIGH, always=True, first_response_minutes=5, resolution_minutes=90)
    chat = receive(at=START)

    run_timer(at(10))

    chat.refresh_from_db()
    assert chat.priority == Priority.HIGH
    assert (chat.first_response_due_at, chat.resolution_due_at) == (at(5), at(90))
    assert AssignmentEvent.objects.filter(conversation=chat, action="priority_changed").exists()
    pending = dict(
        SlaTimer.objects.filter(conversation=chat, fired_at__isnull=True).values_list(
            "stage", "due_at"
        )
    )
    assert pending == {Stage.WARNING: at(72), Stage.BREACH: at(90)}  # resolution, high policy
    # The first-response breach already fired: it does not fire again for the new priority.
    assert run_timer(at(11)) == 0


def test_escalation_steps_count_business_minutes_from_the_breach(
    make_policy: Callable[..., ChatSLA], receive: Receive
) -> None:
    make_policy(
        first_response_minutes=30,
        resolution_minutes=480,
        escalation_ladder=[{"after_minutes": 15, "action": "notify_supervisors"}],
    )
    chat = receive(at=london(2026, 1, 9, 16, 20))  # Friday

    run_timer(london(2026, 1, 9, 16, 50))

    step = SlaTimer.objects.get(conversation=chat, stage=Stage.FIRST_STEP)
    assert (step.kind, step.due_at) == (TimerKind.FIRST_RESPONSE, london(2026, 1, 12, 9, 5))
    assert step.step == {"after_minutes": 15, "action": "notify_supervisors"}


def test_a_batch_that_dies_before_commit_loses_no_deadline(
    held_chat: Callable[..., tuple[Conversation, User]], monkeypatch: pytest.MonkeyPatch
) -> None:
    chat, _ = held_chat()

    def crash(self: object) -> None:
        raise RuntimeError("killed mid-batch")

    with monkeypatch.context() as patched:
        patched.setattr(firing._Batch, "run", crash)
        with pytest.raises(RuntimeError):
            firing.fire_due(now=at(10))
    assert SlaTimer.objects.filter(conversation=chat, fired_at__isnull=True).count() == 4

    assert run_timer(at(10)) == 2
    assert log_actions(chat) == ["sla_warning", "sla_breached"]


def test_concurrent_claimers_fire_each_deadline_once(
    make_policy: Callable[..., ChatSLA], receive: Receive
) -> None:
    make_policy(always=True, first_response_minutes=10, resolution_minutes=60)
    for n in range(60):
        receive(f"client-{n}", at=START + dt.timedelta(seconds=n))
    results: list[int] = []

    def claimer() -> None:
        try:
            worker = SlaTimerWorker(name=threading.current_thread().name, batch_size=7)
            results.append(worker.drain(now=at(61)))
        finally:
            connection.close()

    threads = [threading.Thread(target=claimer, name=f"t{n}") for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    run_timer(at(61))  # anything a busy company lock left over

    counts = Counter(
        AssignmentEvent.objects.filter(action__in=["sla_warning", "sla_breached"]).values_list(
            "conversation_id", "action", "data__kind"
        )
    )
    assert len(counts) == 60 * 4
    assert set(counts.values()) == {1}


def test_a_chat_a_supervisor_already_holds_stays_with_them(
    held_chat: Callable[..., tuple[Conversation, User]],
    make_staff: Callable[..., User],
    redis_client: redis.Redis,
) -> None:
    supervisor = make_staff(Role.SUPERVISOR)
    chat, _ = held_chat(escalation_ladder=[{"after_minutes": 0, "action": "reassign"}])

    run_timer(at(10))  # first response missed: to the supervisor
    run_timer(at(60))  # resolution missed too: nobody above them to take it

    active = ChatAssignment.objects.get(conversation=chat, status=AssignmentStatus.ACCEPTED)
    assert active.agent == supervisor
    outcomes = [
        (e["data"]["kind"], e["data"]["escalation"]["outcome"])
        for e in sla_events(redis_client, chat.company_id)
        if e["data"]["stage"] == "escalation"
    ]
    assert outcomes == [
        ("first_response", f"reassigned to supervisor {supervisor.pk}"),
        ("resolution", "already with a supervisor"),
    ]


def test_a_deadline_that_cannot_be_fired_is_dropped_without_blocking_the_others(
    make_policy: Callable[..., ChatSLA], receive: Receive, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_policy(always=True, first_response_minutes=10, resolution_minutes=60)
    chats = [receive(f"client-{n}", at=START) for n in range(3)]
    bad = chats[1]
    record = firing._Batch._record

    def fails_for_one_chat(self: firing._Batch, row: firing.Due, chat: dict[str, object]) -> None:
        if chat["id"] == bad.pk:
            raise ValueError("corrupt chat")
        record(self, row, chat)

    monkeypatch.setattr(firing._Batch, "_record", fails_for_one_chat)

    assert run_timer(at(10)) == 4  # warning and breach of the two good chats
    assert [log_actions(chat) for chat in chats] == [
        ["sla_warning", "sla_breached"],
        [],
        ["sla_warning", "sla_breached"],
    ]
    dropped = SlaTimer.objects.filter(conversation=bad, cancelled=True, stage__lte=Stage.BREACH)
    assert dropped.filter(kind=TimerKind.FIRST_RESPONSE).count() == 2
