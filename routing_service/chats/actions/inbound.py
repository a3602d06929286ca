"""② → ③ An inbound customer message becomes a client, a queued chat, a message and an offer.

Called by the router for every stream entry (and by `create_sample_data`). Idempotent: the same
provider message id on the same channel is recorded once, whatever the number of deliveries.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from realtime.events import EventType, make_event
from realtime.publish import publish_on_commit
from routing_service.chats.actions.audit import log_event
from routing_service.chats.actions.routing import queue_event, route_waiting, routing_policy
from routing_service.chats.locks import lock_company_routing
from routing_service.chats.models import (
    ACTIVE_ASSIGNMENT_STATUSES,
    OPEN_CONVERSATION_STATUSES,
    PRIORITY_RANK,
    AssignmentEvent,
    Channel,
    ChatAssignment,
    ChatNotification,
    Client,
    Conversation,
    ConversationStatus,
    DeliveryStatus,
    Message,
    MessageDirection,
    Priority,
)
from routing_service.chats.payloads import conversation_data, message_data
from routing_service.ingest.adapters.base import InboundMessage
from routing_service.router import rules
from sla_engine.deadlines import due_times, policy_for
from sla_engine.scheduler import customer_answered


@dataclass(frozen=True)
class InboundResult:
    conversation_id: int | None
    message_id: int | None
    duplicate: bool
    new_conversation: bool = False


def receive_inbound_message(
    channel: Channel, inbound: InboundMessage, *, received_at: dt.datetime | None = None
) -> InboundResult:
    """Record one customer message and route its chat; a replay returns `duplicate=True`.

    `received_at` is when the webhook accepted it (the SLA clock starts then, not when an agent
    is found); it defaults to now.
    """
    received_at = received_at or timezone.now()
    if (
        Message.objects.unscoped()
        .filter(channel_id=channel.pk, provider_message_id=inbound.provider_message_id)
        .exists()
    ):
        return InboundResult(None, None, duplicate=True)
    with transaction.atomic():
        lock_company_routing(channel.company_id)
        return _record(channel, inbound, received_at)


def _upsert_client(channel: Channel, inbound: InboundMessage) -> Client:
    client, created = Client.objects.unscoped().get_or_create(
        company_id=channel.company_id,
        external_id=inbound.client_external_id,
        defaults={
            "name": inbound.client_name,
            "email": inbound.client_email or "",
            "phone": inbound.client_phone or "",
            "language": inbound.language or "",
        },
    )
    if not created:
        changed = {
            field: value
            for field, value in (
                ("name", inbound.client_name),
                ("email", inbound.client_email),
                ("phone", inbound.client_phone),
                ("language", inbound.language),
            )
            if value and getattr(client, field) != value
        }
        if changed:
            for field, value in changed.items():
                setattr(client, field, value)
            client.save(update_fields=list(changed))
    return client


def _open_conversation(
    channel: Channel, client: Client, inbound: InboundMessage, received_at: dt.datetime
) -> tuple[Conversation, bool]:
    existing = (
        Conversation.objects.unscoped()
        .select_for_update(of=("self",))
        .select_related("client", "channel")
        .filter(company_id=channel.company_id, client=client, status__in=OPEN_CONVERSATION_STATUSES)
        .first()
    )
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            conversation = Conversation.objects.create(
                company_id=channel.company_id,
                client=client,
                channel=channel,
                status=ConversationStatus.WAITING,
                priority=Priority.MEDIUM,
                priority_rank=PRIORITY_RANK[Priority.MEDIUM],
                language=(inbound.language or client.language or "").lower(),
                category=(inbound.category or "").lower(),
                subject=inbound.text[:255],
                created_at=received_at,
                queued_at=received_at,
                last_message_at=received_at,
            )
    except IntegrityError:
        # Another router opened it first (the unique open-conversation constraint): use theirs.
        conversation = (
            Conversation.objects.unscoped()
            .select_for_update(of=("self",))
            .select_related("client", "channel")
            .get(
                company_id=channel.company_id, client=client, status__in=OPEN_CONVERSATION_STATUSES
            )
        )
        return conversation, False
    conversation.client = client
    conversation.channel = channel
    return conversation, True


def _record(channel: Channel, inbound: InboundMessage, received_at: dt.datetime) -> InboundResult:
    client = _upsert_client(channel, inbound)
    conversation, created = _open_conversation(channel, client, inbound, received_at)
    try:
        with transaction.atomic():
            message = Message.objects.create(
                company_id=channel.company_id,
                conversation=conversation,
                channel=channel,
                direction=MessageDirection.INBOUND,
                provider_message_id=inbound.provider_message_id,
                text=inbound.text,
                sent_at=inbound.sent_at,
                delivery_status=DeliveryStatus.RECEIVED,
                metadata=inbound.metadata,
            )
    except IntegrityError:
        return InboundResult(conversation.pk, None, duplicate=True)

    policy = routing_policy(channel.company_id)
    priority = rules.detect_priority(
        inbound.text,
        inbound.priority,
        is_vip=client.is_vip,
        urgent_keywords=policy.urgent_keywords or [],
        vip_priority=policy.vip_priority,
        current=None if created else conversation.priority,
    )
    priority_changed = created or priority != conversation.priority
    became_urgent = priority == Priority.URGENT and (created or conversation.priority != priority)
    if priority_changed:
        if not created:
            log_event(
                conversation,
                AssignmentEvent.Action.PRIORITY_CHANGED,
                reason="inbound message",
                old=conversation.priority,
                new=priority,
            )
        conversation.priority = priority
        conversation.priority_rank = PRIORITY_RANK[Priority(priority)]
        # Due times follow the priority; the clock still starts at the chat's first message.
        due = due_times(policy_for(channel.company_id, priority), conversation.created_at)
        conversation.first_response_due_at = due.first_response
        conversation.resolution_due_at = due.resolution
    customer_answered(conversation, received_at, due_changed=priority_changed)
    conversation.last_message_at = max(conversation.last_message_at, received_at)
    conversation.message_count = F("message_count") + 1
    conversation.waiting_on_customer_since = None
    conversation.save()
    conversation.refresh_from_db(fields=["message_count"])

    if created:
        log_event(conversation, AssignmentEvent.Action.QUEUED, reason="first message")

    assignment = (
        ChatAssignment.objects.unscoped()
        .filter(conversation=conversation, status__in=ACTIVE_ASSIGNMENT_STATUSES)
        .first()
    )
    events = []
    company_id = channel.company_id
    if assignment is not None:
        notification = _bump_notification(
            assignment.agent_id, conversation, message, urgent=priority == Priority.URGENT
        )
        events += [
            make_event(
                EventType.CHAT_MESSAGE,
                company_id,
                message_data(message),
                agents=[assignment.agent_id],
            ),
            make_event(
                EventType.NOTIFICATION,
                company_id,
                notification_data(notification),
                agents=[assignment.agent_id],
            ),
        ]
    if created or priority_changed or conversation.status == ConversationStatus.WAITING:
        events.append(queue_event(conversation, assignment))
    if became_urgent:
        events.append(
            make_event(
                EventType.ALERT_URGENT,
                company_id,
                {**conversation_data(conversation, assignment), "text": inbound.text[:500]},
                queue=True,
                supervisors=True,
            )
        )
    publish_on_commit(events)
    if conversation.status == ConversationStatus.WAITING:
        route_waiting(company_id)
    return InboundResult(conversation.pk, message.pk, duplicate=False, new_conversation=created)


def _bump_notification(
    agent_id: int, conversation: Conversation, message: Message, *, urgent: bool
) -> ChatNotification:
    notification, _ = ChatNotification.objects.unscoped().get_or_create(
        recipient_id=agent_id, company_id=conversation.company_id, client_id=conversation.client_id
    )
    notification.unread_count += 1
    notification.urgent_count += int(urgent)
    notification.last_message_at = message.sent_at
    notification.last_text = message.text[:200]
    notification.conversation = conversation
    notification.dismissed_at = None
    notification.save()
    return notification


def notification_data(notification: ChatNotification) -> dict[str, object]:
    return {
        "notification_id": notification.pk,
        "conversation_id": notification.conversation_id,
        "client_id": notification.client_id,
        "unread_count": notification.unread_count,
        "urgent_count": notification.urgent_count,
        "last_text": notification.last_text,
        "last_message_at": notification.last_message_at.isoformat()
        if notification.last_message_at
        else None,
        "dismissed": notification.dismissed_at is not None,
    }
