"""A small world of rows per company, one of every tenant model, for the isolation tests.

Every name and id of a company's rows starts with its tag ("Acme", "Globex"), so a page that
leaks another company's data is caught by looking for that tag anywhere in the HTML.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import models
from django.utils import timezone

from analytics.models import ChatResponseTracking, ChatSession, Dashboard, DataSource
from routing_service.chats.models import (
    AssignmentEvent,
    Channel,
    ChatAssignment,
    ChatNotification,
    Client,
    Conversation,
    Message,
    MessageDirection,
    Priority,
    Provider,
    RoutingPolicy,
)
from routing_service.queues import actions as queue_actions
from routing_service.queues.models import Queue, QueueRule
from routing_service.tenancy.models import Company, Role, User
from sla_engine.models import ChatSLA

PRIORITIES = [Priority.LOW, Priority.MEDIUM, Priority.HIGH, Priority.URGENT]


@dataclass
class World:
    """One company's rows, by the name the tests use for them."""

    company: Company
    agent: User
    channel: Channel
    other_channel: Channel
    client: Client
    conversation: Conversation
    message: Message
    assignment: ChatAssignment
    event: AssignmentEvent
    notification: ChatNotification
    routing_policy: RoutingPolicy
    sla: ChatSLA
    queue: Queue
    queue_rule: QueueRule
    data_source: DataSource
    session: ChatSession
    dashboard: Dashboard
    tracking: ChatResponseTracking

    def row(self, name: str) -> models.Model:
        row: models.Model = getattr(self, name)
        return row


def build_world(company: Company, tag: str, make_user: Callable[..., User], n: int = 0) -> World:
    """`tag`-named rows of every tenant model for `company`; `n` > 0 adds another set."""
    now = timezone.now()
    suffix = f"-{n}" if n else ""
    agent = make_user(company, Role.AGENT, username=f"{tag.lower()}-agent{suffix}")
    channel = Channel.objects.create(
        company=company, name=f"{tag} Web{suffix}", provider=Provider.GENERIC, secret="s3cret"
    )
    other_channel = Channel.objects.create(
        company=company, name=f"{tag} SMS{suffix}", provider=Provider.TWILIO, secret="s3cret"
    )
    client = Client.objects.create(
        company=company, external_id=f"{tag.lower()}-ext{suffix}", name=f"{tag} Customer{suffix}"
    )
    conversation = Conversation.objects.create(
        company=company,
        client=client,
        channel=channel,
        subject=f"{tag} question",
        created_at=now,
        queued_at=now,
        last_message_at=now,
    )
    message = Message.objects.create(
        company=company,
        conversation=conversation,
        channel=channel,
        direction=MessageDirection.INBOUND,
        provider_message_id=f"{tag.lower()}-m{suffix}",
        text=f"Hello from {tag}",
        sent_at=now,
    )
    assignment = ChatAssignment.objects.create(
        company=company, conversation=conversation, agent=agent, offered_at=now
    )
    event = AssignmentEvent.objects.create(
        company=company,
        conversation=conversation,
        assignment=assignment,
        action=AssignmentEvent.Action.OFFERED,
        to_agent=agent,
        reason=f"{tag} routing",
    )
    notification = ChatNotification.objects.create(
        company=company,
        recipient=agent,
        client=client,
        conversation=conversation,
        unread_count=1,
        last_text=f"Hello from {tag}",
    )
    sla = ChatSLA.objects.create(
        company=company,
        priority=PRIORITIES[n % len(PRIORITIES)],
        first_response_minutes=5,
        resolution_minutes=60,
    )
    queue = queue_actions.create_queue(company.pk, name=f"{tag} line{suffix}")
    queue_rule = queue_actions.create_rule(company.pk, queue=queue, match={"vip": True})
    data_source = DataSource.objects.create(company=company, name=f"{tag} import{suffix}")
    session = ChatSession.objects.create(
        company=company,
        data_source=data_source,
        session_id=f"{tag.lower()}-s{suffix}",
        start_time=now,
        end_time=now,
    )
    dashboard = Dashboard.objects.create(company=company, name=f"{tag} board{suffix}")
    dashboard.data_sources.add(data_source)
    tracking = ChatResponseTracking.objects.create(
        company=company, date=now.date() - dt.timedelta(days=n), chats=3
    )
    return World(
        company=company,
        agent=agent,
        channel=channel,
        other_channel=other_channel,
        client=client,
        conversation=conversation,
        message=message,
        assignment=assignment,
        event=event,
        notification=notification,
        routing_policy=RoutingPolicy.objects.unscoped().get(company=company),
        sla=sla,
        queue=queue,
        queue_rule=queue_rule,
        data_source=data_source,
        session=session,
        dashboard=dashboard,
        tracking=tracking,
    )


def pks(rows: Any) -> set[int]:
    return {row.pk for row in rows}
