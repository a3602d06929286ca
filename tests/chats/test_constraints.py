"""The rules PostgreSQL itself enforces, whatever code (or race) tries to break them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from routing_service.chats.models import (
    AssignmentStatus,
    Channel,
    ChatAssignment,
    Client,
    Conversation,
    ConversationStatus,
    Message,
    MessageDirection,
    Priority,
    Provider,
)
from routing_service.tenancy import actions as tenancy_actions
from routing_service.tenancy.models import Company, Role, User
from sla_engine.models import ChatSLA

pytestmark = pytest.mark.django_db


@contextmanager
def rejected() -> Iterator[None]:
    """Expect an IntegrityError, in a savepoint so the test's transaction stays usable."""
    with pytest.raises(IntegrityError), transaction.atomic():
        yield


def make_channel(company: Company, name: str = "Web") -> Channel:
    return Channel.objects.create(
        company=company, name=name, provider=Provider.GENERIC, secret="s3cret"
    )


def make_client(company: Company, external_id: str = "c-1") -> Client:
    return Client.objects.create(company=company, external_id=external_id, name=external_id)


def open_conversation(
    client: Client, channel: Channel, status: str = ConversationStatus.WAITING
) -> Conversation:
    now = timezone.now()
    return Conversation.objects.create(
        company=client.company,
        client=client,
        channel=channel,
        status=status,
        created_at=now,
        queued_at=now,
        last_message_at=now,
    )


def message(
    conversation: Conversation, channel: Channel, provider_id: str | None, **kw: Any
) -> Message:
    return Message.objects.create(
        company=conversation.company,
        conversation=conversation,
        channel=channel,
        direction=kw.pop("direction", MessageDirection.INBOUND),
        provider_message_id=provider_id,
        text="hi",
        sent_at=timezone.now(),
        **kw,
    )


# --- One open conversation per client and company ----------------------------------------------


def test_second_open_conversation_for_a_client_is_rejected(company_a: Company) -> None:
    client, channel = make_client(company_a), make_channel(company_a)
    open_conversation(client, channel)
    for status in (ConversationStatus.WAITING, ConversationStatus.ASSIGNED):
        with rejected():
            open_conversation(client, channel, status=status)


def test_a_new_conversation_is_allowed_once_the_open_one_is_resolved(company_a: Company) -> None:
    client, channel = make_client(company_a), make_channel(company_a)
    first = open_conversation(client, channel)
    first.status = ConversationStatus.RESOLVED
    first.save(update_fields=["status"])
    second = open_conversation(client, channel)
    # Closed conversations do not count, however many there are.
    second.status = ConversationStatus.ABANDONED
    second.save(update_fields=["status"])
    open_conversation(client, channel)
    assert Conversation.objects.filter(client=client).count() == 3


def test_reopening_a_resolved_conversation_beside_an_open_one_is_rejected(
    company_a: Company,
) -> None:
    client, channel = make_client(company_a), make_channel(company_a)
    old = open_conversation(client, channel, status=ConversationStatus.RESOLVED)
    open_conversation(client, channel)
    old.status = ConversationStatus.WAITING
    with rejected():
        old.save(update_fields=["status"])


def test_different_clients_each_have_their_open_conversation(company_a: Company) -> None:
    channel = make_channel(company_a)
    open_conversation(make_client(company_a, "c-1"), channel)
    open_conversation(make_client(company_a, "c-2"), channel)


# --- One message per channel and provider message id -------------------------------------------


def test_duplicate_provider_message_id_on_a_channel_is_rejected(company_a: Company) -> None:
    channel = make_channel(company_a)
    conversation = open_conversation(make_client(company_a), channel)
    message(conversation, channel, "wamid.1")
    with rejected():
        message(conversation, channel, "wamid.1")


def test_same_provider_message_id_is_allowed_on_another_channel(
    company_a: Company, company_b: Company
) -> None:
    channel, other = make_channel(company_a, "Web"), make_channel(company_a, "SMS")
    conversation = open_conversation(make_client(company_a), channel)
    message(conversation, channel, "42")
    message(conversation, other, "42")
    # Another company's channel, too: ids are only unique per provider account.
    b_channel = make_channel(company_b)
    message(open_conversation(make_client(company_b), b_channel), b_channel, "42")


def test_outbound_messages_without_a_provider_id_do_not_collide(company_a: Company) -> None:
    channel = make_channel(company_a)
    conversation = open_conversation(make_client(company_a), channel)
    for _ in range(3):
        message(conversation, channel, None, direction=MessageDirection.OUTBOUND)
    assert conversation.messages.filter(provider_message_id__isnull=True).count() == 3


# --- At most one active assignment per conversation --------------------------------------------


@pytest.fixture
def conversation(company_a: Company) -> Conversation:
    return open_conversation(make_client(company_a), make_channel(company_a))


def assign(conversation: Conversation, agent: User, status: str) -> ChatAssignment:
    return ChatAssignment.objects.create(
        company=conversation.company,
        conversation=conversation,
        agent=agent,
        status=status,
        offered_at=timezone.now(),
    )


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (AssignmentStatus.OFFERED, AssignmentStatus.OFFERED),
        (AssignmentStatus.OFFERED, AssignmentStatus.ACCEPTED),
        (AssignmentStatus.ACCEPTED, AssignmentStatus.OFFERED),
    ],
)
def test_second_active_assignment_is_rejected(
    conversation: Conversation,
    make_user: Callable[..., User],
    company_a: Company,
    first: str,
    second: str,
) -> None:
    assign(conversation, make_user(company_a), first)
    with rejected():
        assign(conversation, make_user(company_a), second)


@pytest.mark.parametrize(
    "ended",
    [
        AssignmentStatus.EXPIRED,
        AssignmentStatus.DECLINED,
        AssignmentStatus.TRANSFERRED,
        AssignmentStatus.ESCALATED,
        AssignmentStatus.RESOLVED,
    ],
)
def test_a_new_assignment_is_allowed_once_the_previous_one_ended(
    conversation: Conversation, make_user: Callable[..., User], company_a: Company, ended: str
) -> None:
    previous = assign(conversation, make_user(company_a), AssignmentStatus.OFFERED)
    previous.status = ended
    previous.save(update_fields=["status"])
    assign(conversation, make_user(company_a), AssignmentStatus.OFFERED)
    assert conversation.assignments.count() == 2


# --- Clients, SLAs, users ----------------------------------------------------------------------


def test_duplicate_client_external_id_in_a_company_is_rejected(
    company_a: Company, company_b: Company
) -> None:
    make_client(company_a, "+4930123")
    make_client(company_b, "+4930123")  # another company's customer may share the id
    with rejected():
        make_client(company_a, "+4930123")


def test_duplicate_sla_priority_in_a_company_is_rejected(
    company_a: Company, company_b: Company
) -> None:
    def sla(company: Company, priority: str) -> ChatSLA:
        return ChatSLA.objects.create(
            company=company, priority=priority, first_response_minutes=5, resolution_minutes=60
        )

    sla(company_a, Priority.HIGH)
    sla(company_a, Priority.URGENT)
    sla(company_b, Priority.HIGH)
    with rejected():
        sla(company_a, Priority.HIGH)


@pytest.mark.parametrize("percent", [0, 101])
def test_sla_warning_percent_out_of_range_is_rejected(company_a: Company, percent: int) -> None:
    with rejected():
        ChatSLA.objects.create(
            company=company_a,
            priority=Priority.LOW,
            first_response_minutes=5,
            resolution_minutes=60,
            warning_percent=percent,
        )


@pytest.mark.parametrize("role", [Role.COMPANY_ADMIN, Role.SUPERVISOR, Role.AGENT, Role.VIEWER])
def test_a_user_without_a_company_is_rejected_unless_superadmin(role: str) -> None:
    with rejected():
        tenancy_actions.create_user(username=f"lost-{role}", password=None, role=role, company=None)


def test_a_superadmin_needs_no_company(company_a: Company) -> None:
    user = tenancy_actions.create_user(
        username="root", password=None, role=Role.SUPERADMIN, company=company_a
    )
    # The model drops the company of a superadmin: they belong to every company.
    assert user.company_id is None
    assert user.is_superuser and user.is_staff


def test_an_unknown_role_is_rejected_by_the_database(company_a: Company) -> None:
    with rejected():
        User.objects.create(username="odd", role="owner", company=company_a)
