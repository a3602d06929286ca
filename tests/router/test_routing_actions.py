"""Routing decisions through the real actions: offers, expiry, decline, capacity, priority."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from django.utils import timezone

from routing_service.chats import actions
from routing_service.chats.models import (
    AssignmentEvent,
    AssignmentStatus,
    Channel,
    ChatAssignment,
    Conversation,
    ConversationStatus,
    RoutingPolicy,
)
from routing_service.tenancy.models import AgentStatus, User
from tests.support.inbound import inbound_message

pytestmark = pytest.mark.django_db


def receive(channel: Channel, client: str, text: str = "hello", **kw: object) -> Conversation:
    result = actions.receive_inbound_message(
        channel,
        inbound_message(f"{client}-{text}-{kw}", client, text, **kw),  # type: ignore[arg-type]
    )
    return Conversation.objects.get(pk=result.conversation_id)


def active(conversation: Conversation) -> ChatAssignment | None:
    return ChatAssignment.objects.filter(
        conversation=conversation, status__in=["offered", "accepted"]
    ).first()


def test_offer_expires_and_goes_to_next_agent(
    channel_a: Channel, make_agent: Callable[..., User], redis_client: object
) -> None:
    first = make_agent(channel_a.company, username="first")
    second = make_agent(channel_a.company, username="second")
    conversation = receive(channel_a, "c1")
    offer = active(conversation)
    assert offer is not None and offer.agent_id == first.pk

    later = timezone.now() + dt.timedelta(seconds=31)
    assert actions.expire_offers(now=later) == 1

    offer.refresh_from_db()
    assert offer.status == AssignmentStatus.EXPIRED
    following = active(conversation)
    assert following is not None and following.agent_id == second.pk
    first.refresh_from_db()
    assert first.active_chats == 0
    assert AssignmentEvent.objects.filter(
        conversation=conversation, action=AssignmentEvent.Action.EXPIRED
    ).exists()


def test_decline_moves_chat_to_next_agent_not_back(
    channel_a: Channel, make_agent: Callable[..., User], redis_client: object
) -> None:
    first = make_agent(channel_a.company, username="first")
    second = make_agent(channel_a.company, username="second")
    conversation = receive(channel_a, "c1")
    offer = active(conversation)
    assert offer is not None and offer.agent_id == first.pk

    actions.decline_assignment(offer.pk, first, reason="on a call")

    following = active(conversation)
    assert following is not None and following.agent_id == second.pk
    # Second declines too: everyone was tried, so the first agent may get it again.
    actions.decline_assignment(following.pk, second)
    again = active(conversation)
    assert again is not None and again.agent_id == first.pk


def test_waiting_chats_offered_when_capacity_frees_highest_priority_first(
    channel_a: Channel, make_agent: Callable[..., User], redis_client: object
) -> None:
    agent = make_agent(channel_a.company, max_chats=1)
    busy = receive(channel_a, "c1")
    low = receive(channel_a, "c2", priority="low")
    urgent = receive(channel_a, "c3", priority="urgent")
    medium = receive(channel_a, "c4")
    assert [c.status for c in (low, urgent, medium)] == [ConversationStatus.WAITING] * 3

    offer = active(busy)
    assert offer is not None
    actions.accept_assignment(offer.pk, agent)
    actions.resolve_assignment(offer.pk, agent)

    urgent.refresh_from_db()
    assert urgent.status == ConversationStatus.ASSIGNED
    assert active(low) is None and active(medium) is None


def test_agent_going_offline_reroutes_unaccepted_offers(
    channel_a: Channel, make_agent: Callable[..., User], redis_client: object
) -> None:
    leaving = make_agent(channel_a.company, username="leaving")
    staying = make_agent(channel_a.company, username="staying")
    conversation = receive(channel_a, "c1")
    assert active(conversation).agent_id == leaving.pk  # type: ignore[union-attr]

    actions.set_agent_status(leaving.pk, AgentStatus.OFFLINE, actor=leaving)

    assert active(conversation).agent_id == staying.pk  # type: ignore[union-attr]


def test_becoming_available_serves_the_queue(
    channel_a: Channel, make_agent: Callable[..., User], redis_client: object
) -> None:
    agent = make_agent(channel_a.company, status=AgentStatus.AWAY)
    conversation = receive(channel_a, "c1")
    assert active(conversation) is None

    actions.set_agent_status(agent.pk, AgentStatus.AVAILABLE, actor=agent)

    assert active(conversation).agent_id == agent.pk  # type: ignore[union-attr]


def test_manual_strategy_queues_and_agents_pick(
    channel_a: Channel, make_agent: Callable[..., User], redis_client: object
) -> None:
    RoutingPolicy.objects.filter(company=channel_a.company).update(strategy="manual")
    agent = make_agent(channel_a.company, max_chats=1)
    first = receive(channel_a, "c1")
    second = receive(channel_a, "c2")
    assert active(first) is None

    picked = actions.pick_conversation(first.pk, agent)
    assert picked.status == AssignmentStatus.ACCEPTED
    with pytest.raises(actions.ActionError) as refused:
        actions.pick_conversation(second.pk, agent)
    assert refused.value.code == "at_capacity"


def test_transfer_to_agent_and_to_queue(
    channel_a: Channel, make_agent: Callable[..., User], redis_client: object
) -> None:
    owner = make_agent(channel_a.company, username="owner")
    colleague = make_agent(channel_a.company, username="colleague", status=AgentStatus.AWAY)
    conversation = receive(channel_a, "c1")
    offer = active(conversation)
    assert offer is not None
    actions.accept_assignment(offer.pk, owner)

    moved = actions.transfer_assignment(offer.pk, owner, reason="billing", to_agent_id=colleague.pk)
    assert (moved.agent_id, moved.status) == (colleague.pk, AssignmentStatus.OFFERED)
    offer.refresh_from_db()
    assert offer.status == AssignmentStatus.TRANSFERRED

    actions.accept_assignment(moved.pk, colleague)
    actions.transfer_assignment(moved.pk, colleague, reason="wrong team", to_queue=True)
    # Back in the queue: the only available agent tried it already but is the only one left.
    assert active(conversation).agent_id == owner.pk  # type: ignore[union-attr]
    events = list(
        AssignmentEvent.objects.filter(conversation=conversation).values_list("action", flat=True)
    )
    assert "transferred" in events and "requeued" in events


def test_escalate_gives_the_chat_to_a_supervisor(
    channel_a: Channel,
    make_agent: Callable[..., User],
    make_user: Callable[..., User],
    redis_client: object,
) -> None:
    agent = make_agent(channel_a.company)
    supervisor = make_user(channel_a.company, "supervisor", status=AgentStatus.AVAILABLE)
    conversation = receive(channel_a, "c1")
    offer = active(conversation)
    assert offer is not None
    actions.accept_assignment(offer.pk, agent)

    escalated = actions.escalate_assignment(offer.pk, agent, reason="angry customer")

    assert (escalated.agent_id, escalated.status) == (supervisor.pk, AssignmentStatus.ACCEPTED)
    assert escalated.escalation_level == 1
    offer.refresh_from_db()
    assert offer.status == AssignmentStatus.ESCALATED
    agent.refresh_from_db()
    assert agent.active_chats == 0


def test_another_companys_agent_cannot_act(
    channel_a: Channel, company_b, make_agent: Callable[..., User], redis_client: object
) -> None:
    make_agent(channel_a.company)
    intruder = make_agent(company_b)
    conversation = receive(channel_a, "c1")
    offer = active(conversation)
    assert offer is not None
    for attempt in (
        lambda: actions.accept_assignment(offer.pk, intruder),
        lambda: actions.resolve_assignment(offer.pk, intruder),
        lambda: actions.send_agent_reply(conversation.pk, intruder, "hi"),
        lambda: actions.pick_conversation(conversation.pk, intruder),
    ):
        with pytest.raises(actions.ActionError) as refused:
            attempt()
        assert refused.value.status == 404


def test_urgent_keyword_and_vip_raise_priority(
    channel_a: Channel, make_agent: Callable[..., User], redis_client: object
) -> None:
    RoutingPolicy.objects.filter(company=channel_a.company).update(urgent_keywords=["fraud"])
    calm = receive(channel_a, "c1", "just a question")
    assert calm.priority == "medium"
    alarmed = receive(channel_a, "c1", "I think this is FRAUD!")
    assert alarmed.pk == calm.pk and alarmed.priority == "urgent"
    again = receive(channel_a, "c1", "thanks")
    assert again.priority == "urgent"  # never lowered by a calmer message


def test_silent_waiting_chat_is_abandoned_after_the_policy_wait(
    channel_a: Channel, make_agent: Callable[..., User], redis_client: object
) -> None:
    from routing_service.chats.actions.routing import abandon_stale_chats

    RoutingPolicy.objects.filter(company=channel_a.company).update(abandon_after_minutes=10)
    agent = make_agent(channel_a.company, max_chats=1)
    held = receive(channel_a, "c1")
    waiting = receive(channel_a, "c2")
    assert active(held).agent_id == agent.pk  # type: ignore[union-attr]

    assert abandon_stale_chats(now=timezone.now() + dt.timedelta(minutes=5)) == 0
    assert abandon_stale_chats(now=timezone.now() + dt.timedelta(minutes=11)) == 1

    waiting.refresh_from_db()
    held.refresh_from_db()
    assert waiting.status == ConversationStatus.ABANDONED
    assert held.status == ConversationStatus.ASSIGNED  # an agent holds it: theirs to close
    assert AssignmentEvent.objects.filter(
        conversation=waiting, action=AssignmentEvent.Action.ABANDONED
    ).exists()
