"""Routing decisions through the real actions: offers, expiry, decline, capacity, priority."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from django.utils import timezone

from routing_service.chats import actions
from routing_service.chats.actions.inbound import InboundItem, receive_inbound_batch
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


def accepted_chat(channel: Channel, agent: User) -> tuple[Conversation, ChatAssignment]:
    """A new chat from customer "c1", offered to `agent` (the only one free) and accepted."""
    conversation = receive(channel, "c1")
    offer = active(conversation)
    assert offer is not None and offer.agent_id == agent.pk
    actions.accept_assignment(offer.pk, agent)
    return conversation, offer


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
    now = timezone.now()

    actions.decline_assignment(offer.pk, first, reason="on a call", now=now)

    following = active(conversation)
    assert following is not None and following.agent_id == second.pk
    # Second declines too: everyone was tried, but both are cooling down, so the chat waits.
    actions.decline_assignment(following.pk, second, now=now + dt.timedelta(seconds=1))
    assert active(conversation) is None
    # The first decline's cool-down ends first: the round starts over with the first agent.
    assert actions.end_decline_cooldowns(now=now + dt.timedelta(seconds=60)) == 1
    again = active(conversation)
    assert again is not None and again.agent_id == first.pk


def test_declined_chat_is_not_offered_back_to_the_only_agent_until_the_cooldown_ends(
    channel_a: Channel, make_agent: Callable[..., User], redis_client: object
) -> None:
    agent = make_agent(channel_a.company)
    conversation = receive(channel_a, "c1")
    offer = active(conversation)
    assert offer is not None and offer.agent_id == agent.pk
    now = timezone.now()

    declined = actions.decline_assignment(offer.pk, agent, reason="wrong team", now=now)

    assert active(conversation) is None
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.WAITING
    assert declined.cooldown_until == now + dt.timedelta(seconds=60)
    log = AssignmentEvent.objects.get(conversation=conversation, action="declined")
    assert log.data == {"cooldown_seconds": 60}
    # Nothing else happens meanwhile (a new chat, freed capacity): still not back to them.
    receive(channel_a, "c2")
    assert active(conversation) is None
    assert actions.end_decline_cooldowns(now=now + dt.timedelta(seconds=59)) == 0
    assert active(conversation) is None

    assert actions.end_decline_cooldowns(now=now + dt.timedelta(seconds=60)) == 1

    again = active(conversation)
    assert again is not None and again.agent_id == agent.pk
    assert actions.end_decline_cooldowns(now=now + dt.timedelta(seconds=61)) == 0


def test_an_agent_may_pick_a_chat_they_declined_during_the_cooldown(
    channel_a: Channel, make_agent: Callable[..., User], redis_client: object
) -> None:
    agent = make_agent(channel_a.company)
    conversation = receive(channel_a, "c1")
    offer = active(conversation)
    assert offer is not None
    actions.decline_assignment(offer.pk, agent, reason="later")

    picked = actions.pick_conversation(conversation.pk, agent)

    assert (picked.agent_id, picked.status) == (agent.pk, AssignmentStatus.ACCEPTED)


def test_the_decline_cooldown_follows_the_policy_and_zero_turns_it_off(
    channel_a: Channel, make_agent: Callable[..., User], redis_client: object
) -> None:
    RoutingPolicy.objects.filter(company=channel_a.company).update(decline_cooldown_seconds=0)
    agent = make_agent(channel_a.company)
    conversation = receive(channel_a, "c1")
    offer = active(conversation)
    assert offer is not None

    declined = actions.decline_assignment(offer.pk, agent, reason="oops")

    assert declined.cooldown_until is None
    again = active(conversation)
    assert again is not None and again.agent_id == agent.pk


def test_round_robin_order_holds_when_another_routers_clock_ran_ahead(
    channel_a: Channel, make_agent: Callable[..., User], redis_client: object
) -> None:
    agents = [make_agent(channel_a.company, max_chats=100) for _ in range(5)]
    now = timezone.now()
    # Agents 1 and 2 were last given chats by a router whose clock is a minute ahead of ours;
    # 3 to 5 longer ago. The rotation must go on 3, 4, 5, 1, 2 — not back to 3 at our `now`.
    for n, a in enumerate(agents):
        ahead = dt.timedelta(minutes=1, seconds=n) if n < 2 else dt.timedelta(minutes=-10 + n)
        User.objects.filter(pk=a.pk).update(last_assigned_at=now + ahead)
    items = [InboundItem(channel_a, inbound_message(f"m-{n}", f"c-{n}"), now) for n in range(10)]

    receive_inbound_batch(items)

    offered = list(
        ChatAssignment.objects.filter(status=AssignmentStatus.OFFERED)
        .order_by("conversation_id")
        .values_list("agent_id", flat=True)
    )
    order = [a.pk for a in agents[2:] + agents[:2]]
    assert offered == order * 2


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
    owner = make_agent(channel_a.company, username="owner", max_chats=1)
    conversation = receive(channel_a, "c1")
    offer = active(conversation)
    assert offer is not None
    actions.accept_assignment(offer.pk, owner)
    colleague = make_agent(channel_a.company, username="colleague")

    moved = actions.transfer_assignment(offer.pk, owner, reason="billing", to_agent_id=colleague.pk)
    assert (moved.agent_id, moved.status) == (colleague.pk, AssignmentStatus.OFFERED)
    offer.refresh_from_db()
    assert offer.status == AssignmentStatus.TRANSFERRED

    actions.accept_assignment(moved.pk, colleague)
    actions.transfer_assignment(moved.pk, colleague, reason="wrong team", to_queue=True)
    # Back in the queue: the other available agent takes it (not the one who let it go).
    assert active(conversation).agent_id == owner.pk  # type: ignore[union-attr]
    events = list(
        AssignmentEvent.objects.filter(conversation=conversation).values_list("action", flat=True)
    )
    assert "transferred" in events and "requeued" in events


@pytest.mark.parametrize("status", [AgentStatus.AWAY, AgentStatus.OFFLINE])
def test_transfer_to_an_unavailable_agent_is_refused_and_the_chat_stays(
    channel_a: Channel, make_agent: Callable[..., User], redis_client: object, status: str
) -> None:
    owner = make_agent(channel_a.company, username="owner")
    conversation = receive(channel_a, "c1")
    offer = active(conversation)
    assert offer is not None
    actions.accept_assignment(offer.pk, owner)
    colleague = make_agent(channel_a.company, username="colleague", status=status)

    with pytest.raises(actions.ActionError) as refused:
        actions.transfer_assignment(offer.pk, owner, reason="billing", to_agent_id=colleague.pk)

    assert (refused.value.code, refused.value.field, refused.value.status) == (
        "agent_unavailable",
        "to_agent_id",
        409,
    )
    assert status in refused.value.message
    offer.refresh_from_db()
    assert (offer.status, offer.agent_id) == (AssignmentStatus.ACCEPTED, owner.pk)
    colleague.refresh_from_db()
    assert colleague.active_chats == 0


def test_escalate_gives_the_chat_to_a_supervisor(
    channel_a: Channel,
    make_agent: Callable[..., User],
    make_user: Callable[..., User],
    redis_client: object,
) -> None:
    agent = make_agent(channel_a.company)
    supervisor = make_user(channel_a.company, "supervisor", status=AgentStatus.AVAILABLE)
    conversation, offer = accepted_chat(channel_a, agent)

    escalated = actions.escalate_assignment(offer.pk, agent, reason="angry customer")

    assert (escalated.agent_id, escalated.status) == (supervisor.pk, AssignmentStatus.ACCEPTED)
    assert escalated.escalation_level == 1
    offer.refresh_from_db()
    assert offer.status == AssignmentStatus.ESCALATED
    agent.refresh_from_db()
    assert agent.active_chats == 0
    log = AssignmentEvent.objects.get(conversation=conversation, action="escalated")
    assert (log.to_agent_id, log.data["outcome"]) == (supervisor.pk, "supervisor")


def test_escalation_skips_away_and_offline_supervisors_and_queues_as_urgent(
    channel_a: Channel,
    make_agent: Callable[..., User],
    make_user: Callable[..., User],
    redis_client: object,
) -> None:
    agent = make_agent(channel_a.company)
    make_user(channel_a.company, "supervisor", status=AgentStatus.AWAY)
    make_user(channel_a.company, "supervisor", status=AgentStatus.OFFLINE)
    conversation, offer = accepted_chat(channel_a, agent)

    result = actions.escalate_assignment(offer.pk, agent, reason="needs a manager")

    assert result.pk == offer.pk and result.status == AssignmentStatus.ESCALATED
    conversation.refresh_from_db()
    assert conversation.priority == "urgent"
    # Back in the queue; the only agent just let it go, but is the only one left.
    assert active(conversation).agent_id == agent.pk  # type: ignore[union-attr]
    log = AssignmentEvent.objects.get(conversation=conversation, action="escalated")
    assert log.to_agent_id is None
    assert log.data["outcome"] == "queued_urgent"
    assert "no supervisor is available" in log.data["why"]


def test_escalation_passes_over_a_supervisor_at_capacity(
    channel_a: Channel,
    make_agent: Callable[..., User],
    make_user: Callable[..., User],
    redis_client: object,
) -> None:
    """max_chats holds for supervisors too: a full one is skipped, and the log says why."""
    agent = make_agent(channel_a.company)
    full = make_user(channel_a.company, "supervisor", status=AgentStatus.AVAILABLE)
    User.objects.filter(pk=full.pk).update(max_chats=1, active_chats=1)
    conversation, offer = accepted_chat(channel_a, agent)

    result = actions.escalate_assignment(offer.pk, agent, reason="needs a manager")

    assert result.pk == offer.pk and result.status == AssignmentStatus.ESCALATED
    full.refresh_from_db()
    assert full.active_chats == 1
    log = AssignmentEvent.objects.get(conversation=conversation, action="escalated")
    assert (log.to_agent_id, log.data["outcome"]) == (None, "queued_urgent")
    assert "1 at capacity" in log.data["why"]


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


def test_a_batchs_new_chats_are_written_whole_with_their_messages_priority_and_due_times(
    channel_a: Channel, redis_client: object
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from sla_engine.models import ChatSLA

    RoutingPolicy.objects.filter(company=channel_a.company).update(urgent_keywords=["fraud"])
    ChatSLA.objects.create(
        company=channel_a.company,
        priority="urgent",
        first_response_minutes=5,
        resolution_minutes=60,
    )
    start = timezone.now().replace(microsecond=0)
    later = start + dt.timedelta(seconds=3)
    items = [
        InboundItem(channel_a, inbound_message("m-1", "c-1", "a question"), start),
        InboundItem(channel_a, inbound_message("m-2", "c-2", "calm"), start),
        InboundItem(channel_a, inbound_message("m-3", "c-1", "this is FRAUD"), later),
    ]

    with CaptureQueriesContext(connection) as queries:
        results = receive_inbound_batch(items)

    # Nobody is available: nothing is offered, and no chat of the batch is written twice.
    updates = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    assert not [sql for sql in updates if "chats_conversation" in sql], updates
    urgent = Conversation.objects.get(pk=results[0].conversation_id)
    assert results[2].conversation_id == urgent.pk and results[0].new_conversation
    assert (urgent.priority, urgent.priority_rank, urgent.message_count) == ("urgent", 3, 2)
    assert (urgent.created_at, urgent.last_message_at) == (start, later)
    assert urgent.first_response_due_at is not None
    assert urgent.first_response_due_at > start
    calm = Conversation.objects.get(pk=results[1].conversation_id)
    assert (calm.priority, calm.message_count, calm.first_response_due_at) == ("medium", 1, None)
    assert (
        list(
            AssignmentEvent.objects.filter(conversation__in=[urgent, calm])
            .order_by("conversation_id")
            .values_list("action", "reason")
        )
        == [("queued", "first message")] * 2
    )
