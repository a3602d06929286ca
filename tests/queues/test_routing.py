"""Routing per named queue through the real actions: rules, membership, strategy, offer
timeout, overflow, transfers to a queue, SLA per queue, and the queue in every chat payload."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from realtime.snapshots import agent_snapshot
from routing_service.chats import actions
from routing_service.chats.actions.errors import ActionError
from routing_service.chats.actions.routing import routing_policy
from routing_service.chats.models import (
    ACTIVE_ASSIGNMENT_STATUSES,
    AssignmentEvent,
    Channel,
    ChatAssignment,
    Conversation,
    Provider,
    RoutingPolicy,
)
from routing_service.chats.payloads import conversation_data
from routing_service.queues import actions as queue_actions
from routing_service.queues.config import company_queues
from routing_service.queues.models import Queue, QueueMembership
from routing_service.tenancy import actions as tenancy_actions
from routing_service.tenancy.models import AgentStatus, Company, Role, User
from sla_engine.models import ChatSLA
from tests.support.inbound import inbound_message

pytestmark = pytest.mark.django_db


def receive(channel: Channel, client: str, text: str = "hello", **kw: object) -> Conversation:
    result = actions.receive_inbound_message(
        channel,
        inbound_message(f"{client}-{text}-{kw}", client, text, **kw),  # type: ignore[arg-type]
    )
    return Conversation.objects.unscoped().get(pk=result.conversation_id)


def active(conversation: Conversation) -> ChatAssignment | None:
    return ChatAssignment.objects.filter(
        conversation=conversation, status__in=ACTIVE_ASSIGNMENT_STATUSES
    ).first()


def default_queue(company: Company) -> Queue:
    return Queue.objects.unscoped().get(company=company, is_default=True)


@pytest.fixture
def two_teams(
    channel_a: Channel, agent_factory: Callable[..., User]
) -> tuple[Queue, Queue, User, User]:
    """Default queue with `general`; a billing queue with `billing` only, fed by a rule."""
    company = channel_a.company
    general = agent_factory(company, username="general")
    billing_agent = agent_factory(company, username="billing")
    default = default_queue(company)
    queue_actions.update_queue(default, members=[(general.pk, 5)])
    billing = queue_actions.create_queue(
        company.pk, name="Billing", members=[(billing_agent.pk, 7)]
    )
    queue_actions.create_rule(company.pk, queue=billing, order=1, match={"keywords": ["refund"]})
    return default, billing, general, billing_agent


def test_every_company_gets_a_default_queue_and_new_agents_join_it(
    company_a: Company, make_user: Callable[..., User]
) -> None:
    queue = default_queue(company_a)
    agent = make_user(company_a, Role.AGENT)
    supervisor = make_user(company_a, Role.SUPERVISOR)
    viewer = make_user(company_a, Role.VIEWER)
    members = set(QueueMembership.objects.filter(queue=queue).values_list("user_id", flat=True))
    assert members == {agent.pk, supervisor.pk}
    assert viewer.pk not in members
    tenancy_actions.update_user(viewer, role=Role.AGENT)
    assert QueueMembership.objects.filter(queue=queue, user=viewer).exists()
    tenancy_actions.update_user(agent, role=Role.VIEWER)
    assert not QueueMembership.objects.filter(user=agent).exists()


def test_rule_sends_chat_to_its_queue_and_only_members_are_offered(
    channel_a: Channel, two_teams: tuple[Queue, Queue, User, User], redis_client: object
) -> None:
    default, billing, general, billing_agent = two_teams
    refund = receive(channel_a, "c1", "I want a refund")
    hello = receive(channel_a, "c2", "hello there")
    assert refund.queue_id == billing.pk
    assert hello.queue_id == default.pk
    assert active(refund).agent_id == billing_agent.pk  # type: ignore[union-attr]
    assert active(hello).agent_id == general.pk  # type: ignore[union-attr]


def test_queue_offer_timeout_and_members_only_even_when_busy(
    channel_a: Channel, two_teams: tuple[Queue, Queue, User, User], redis_client: object
) -> None:
    _default, billing, general, billing_agent = two_teams
    queue_actions.update_queue(billing, offer_timeout_seconds=90)
    tenancy_actions.update_user(billing_agent, max_chats=1)
    first = receive(channel_a, "c1", "refund please")
    offer = active(first)
    assert offer is not None and offer.agent_id == billing_agent.pk
    assert offer.offer_expires_at - offer.offered_at == dt.timedelta(seconds=90)  # type: ignore[operator]
    # The billing member is full: the general agent is free but not a member, so it waits.
    second = receive(channel_a, "c2", "another refund")
    assert second.queue_id == billing.pk
    assert active(second) is None
    general.refresh_from_db()
    assert general.active_chats == 0


def test_overflow_by_time(
    channel_a: Channel, two_teams: tuple[Queue, Queue, User, User], redis_client: object
) -> None:
    default, billing, general, billing_agent = two_teams
    actions.set_agent_status(billing_agent.pk, AgentStatus.AWAY, actor=billing_agent)
    queue_actions.update_queue(billing, overflow_queue=default.pk, overflow_after_seconds=60)
    chat = receive(channel_a, "c1", "refund")
    assert chat.queue_id == billing.pk and active(chat) is None

    assert queue_actions.overflow_waiting_chats(now=timezone.now() + dt.timedelta(seconds=30)) == 0
    moved = queue_actions.overflow_waiting_chats(now=timezone.now() + dt.timedelta(seconds=61))
    assert moved == 1
    chat.refresh_from_db()
    assert chat.queue_id == default.pk
    assert active(chat).agent_id == general.pk  # type: ignore[union-attr]
    event = AssignmentEvent.objects.get(conversation=chat, action=AssignmentEvent.Action.OVERFLOWED)
    assert event.data["from_queue"] == billing.pk and event.data["to_queue"] == default.pk


def test_overflow_when_no_member_available(
    channel_a: Channel, two_teams: tuple[Queue, Queue, User, User], redis_client: object
) -> None:
    default, billing, general, billing_agent = two_teams
    actions.set_agent_status(billing_agent.pk, AgentStatus.OFFLINE, actor=billing_agent)
    queue_actions.update_queue(
        billing, overflow_queue=default.pk, overflow_when_no_member_available=True
    )
    chat = receive(channel_a, "c1", "refund")
    assert chat.queue_id == default.pk  # moved on at once: nobody is there to answer
    assert active(chat).agent_id == general.pk  # type: ignore[union-attr]
    assert AssignmentEvent.objects.filter(
        conversation=chat, action=AssignmentEvent.Action.OVERFLOWED
    ).exists()


def test_overflow_cycle_is_refused(two_teams: tuple[Queue, Queue, User, User]) -> None:
    default, billing, _g, _b = two_teams
    queue_actions.update_queue(billing, overflow_queue=default.pk)
    with pytest.raises(queue_actions.QueueConfigError) as refused:
        queue_actions.update_queue(default, overflow_queue=billing.pk)
    assert "overflow_queue" in refused.value.errors
    with pytest.raises(queue_actions.QueueConfigError):
        queue_actions.update_queue(default, overflow_queue=default.pk)


def test_transfer_to_a_named_queue_and_refused_for_another_company(
    channel_a: Channel,
    two_teams: tuple[Queue, Queue, User, User],
    company_b: Company,
    redis_client: object,
) -> None:
    _default, billing, general, billing_agent = two_teams
    chat = receive(channel_a, "c1", "hello")
    offer = active(chat)
    assert offer is not None and offer.agent_id == general.pk
    foreign = default_queue(company_b)
    with pytest.raises(ActionError) as refused:
        actions.transfer_assignment(offer.pk, general, reason="x", to_queue=foreign.pk)
    assert refused.value.field == "to_queue" and refused.value.status == 404

    actions.transfer_assignment(offer.pk, general, reason="billing question", to_queue=billing.pk)
    chat.refresh_from_db()
    assert chat.queue_id == billing.pk
    assert active(chat).agent_id == billing_agent.pk  # type: ignore[union-attr]
    # `to_queue: true` keeps meaning "back to its own queue".
    again = active(chat)
    assert again is not None
    actions.transfer_assignment(again.pk, billing_agent, reason="later", to_queue=True)
    chat.refresh_from_db()
    assert chat.queue_id == billing.pk


def test_delete_queue_moves_open_chats_and_default_cannot_go(
    channel_a: Channel, two_teams: tuple[Queue, Queue, User, User], redis_client: object
) -> None:
    default, billing, _general, _billing_agent = two_teams
    chat = receive(channel_a, "c1", "refund")
    with pytest.raises(ActionError) as refused:
        queue_actions.delete_queue(default)
    assert refused.value.field == "is_default"
    assert queue_actions.delete_queue(billing) == 1
    chat.refresh_from_db()
    assert chat.queue_id == default.pk


def test_queue_sla_policy_wins_over_the_company_one(
    channel_a: Channel, two_teams: tuple[Queue, Queue, User, User], redis_client: object
) -> None:
    _default, billing, _g, _b = two_teams
    always = {"work_start": dt.time(0), "work_end": dt.time(0), "include_weekends": True}
    company = channel_a.company
    ChatSLA.objects.create(
        company=company,
        priority="medium",
        first_response_minutes=60,
        resolution_minutes=120,
        **always,
    )
    ChatSLA.objects.create(
        company=company,
        queue=billing,
        priority="medium",
        first_response_minutes=5,
        resolution_minutes=30,
        **always,
    )
    refund = receive(channel_a, "c1", "refund")
    hello = receive(channel_a, "c2", "hello")
    assert refund.first_response_due_at - refund.created_at == dt.timedelta(minutes=5)  # type: ignore[operator]
    assert hello.first_response_due_at - hello.created_at == dt.timedelta(minutes=60)  # type: ignore[operator]


def test_payloads_and_snapshot_carry_the_queue(
    channel_a: Channel, two_teams: tuple[Queue, Queue, User, User], redis_client: object
) -> None:
    _default, billing, _general, billing_agent = two_teams
    chat = receive(channel_a, "c1", "refund")
    assert conversation_data(chat)["queue"] == {"id": billing.pk, "name": "Billing"}
    snapshot = agent_snapshot(billing_agent, channel_a.company)
    assert snapshot["chats"][0]["queue"] == {"id": billing.pk, "name": "Billing"}


# --- properties over arrivals and memberships -----------------------------------------------


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    memberships=st.lists(st.sampled_from(["default", "billing", "both"]), min_size=1, max_size=4),
    capacities=st.lists(st.integers(1, 2), min_size=4, max_size=4),
    arrivals=st.lists(st.tuples(st.integers(0, 7), st.booleans()), min_size=1, max_size=10),
)
def test_routing_properties_with_queues(
    company_a: Company,
    company_b: Company,
    make_user: Callable[..., User],
    redis_client: object,
    memberships: list[str],
    capacities: list[int],
    arrivals: list[tuple[int, bool]],
) -> None:
    with transaction.atomic():
        channel = Channel.objects.create(
            company=company_a, name="Web", provider=Provider.GENERIC, secret="s"
        )
        default = default_queue(company_a)
        billing = queue_actions.create_queue(company_a.pk, name="Billing")
        queue_actions.create_rule(company_a.pk, queue=billing, match={"keywords": ["refund"]})
        agents = []
        for i in range(len(memberships)):
            agent = make_user(
                company_a,
                Role.AGENT,
                status=AgentStatus.AVAILABLE,
                max_chats=capacities[i],
                password=None,
            )
            agents.append(agent)
        # Another company's free agent must never get company A's chats.
        stranger = make_user(
            company_b, Role.AGENT, status=AgentStatus.AVAILABLE, max_chats=5, password=None
        )
        queue_actions.update_queue(
            default,
            members=[(a.pk, 5) for a, w in zip(agents, memberships, strict=True) if w != "billing"],
        )
        queue_actions.update_queue(
            billing,
            members=[(a.pk, 5) for a, w in zip(agents, memberships, strict=True) if w != "default"],
        )
        for n, (client, refund) in enumerate(arrivals):
            text = "refund now" if refund else "hello"
            actions.receive_inbound_message(channel, inbound_message(f"m{n}", f"p{client}", text))

        members = {
            q.pk: set(q.memberships.values_list("user_id", flat=True)) for q in (default, billing)
        }
        live = (
            ChatAssignment.objects.unscoped()
            .filter(company=company_a, status__in=ACTIVE_ASSIGNMENT_STATUSES)
            .select_related("conversation")
        )
        per_chat: dict[int, int] = {}
        per_agent: dict[int, int] = {}
        for assignment in live:
            per_chat[assignment.conversation_id] = per_chat.get(assignment.conversation_id, 0) + 1
            per_agent[assignment.agent_id] = per_agent.get(assignment.agent_id, 0) + 1
            assert assignment.agent_id in members[assignment.conversation.queue_id]  # type: ignore[index]
            assert assignment.agent_id != stranger.pk
        assert all(count == 1 for count in per_chat.values())
        for agent in agents:
            agent.refresh_from_db()
            assert per_agent.get(agent.pk, 0) == agent.active_chats <= agent.max_chats
        transaction.set_rollback(True)


def test_sweep_overflows_a_queue_whose_members_all_left(
    channel_a: Channel, two_teams: tuple[Queue, Queue, User, User], redis_client: object
) -> None:
    default, billing, general, billing_agent = two_teams
    tenancy_actions.update_user(billing_agent, max_chats=1)
    queue_actions.update_queue(
        billing, overflow_queue=default.pk, overflow_when_no_member_available=True
    )
    held = receive(channel_a, "c1", "refund")
    waiting = receive(channel_a, "c2", "refund too")
    assert active(held).agent_id == billing_agent.pk  # type: ignore[union-attr]
    assert waiting.queue_id == billing.pk and active(waiting) is None  # busy, not absent
    assert queue_actions.overflow_waiting_chats() == 0

    User.objects.filter(pk=billing_agent.pk).update(status=AgentStatus.OFFLINE)
    assert queue_actions.overflow_waiting_chats() == 1
    waiting.refresh_from_db()
    assert waiting.queue_id == default.pk
    assert active(waiting).agent_id == general.pk  # type: ignore[union-attr]


def test_router_cache_follows_the_version_written_by_another_process(
    channel_a: Channel, two_teams: tuple[Queue, Queue, User, User]
) -> None:
    company_id = channel_a.company_id
    before = company_queues(company_id, routing_policy(company_id))
    # Another process renames a queue: its own cache is dropped, ours only sees the version.
    Queue.objects.unscoped().filter(pk=two_teams[1].pk).update(name="Accounts")
    assert company_queues(company_id, routing_policy(company_id)) is before  # same version
    RoutingPolicy.objects.unscoped().filter(company_id=company_id).update(
        queues_version=F("queues_version") + 1
    )
    after = company_queues(company_id, routing_policy(company_id))
    assert after is not before and after.queues[two_teams[1].pk].name == "Accounts"
