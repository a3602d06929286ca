"""Unread and urgent counts: cleared by reading, hidden by dismissing, on every open console."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from events.outbox import publish_on_commit
from events.schema import EventType, make_event
from routing_service.chats.actions.errors import company_of, not_found
from routing_service.chats.actions.inbound import notification_data
from routing_service.chats.actions.read_receipts import queue_read_receipt
from routing_service.chats.models import ChatNotification, Conversation
from routing_service.tenancy.models import User


def mark_read(user: User, *, conversation_id: int) -> ChatNotification | None:
    """Zero the user's unread and urgent counts for the chat's client; the customer of a
    WhatsApp chat the user holds gets a read receipt for their last message (once)."""
    client_id = (
        Conversation.objects.unscoped()
        .filter(pk=conversation_id, company_id=company_of(user))
        .values_list("client_id", flat=True)
        .first()
    )
    if client_id is None:
        raise not_found("Conversation", "conversation_id")
    with transaction.atomic():
        notification = (
            ChatNotification.objects.unscoped()
            .select_for_update()
            .filter(recipient=user, company_id=company_of(user), client_id=client_id)
            .first()
        )
        queue_read_receipt(conversation_id, user)
        if notification is None:
            return None
        if notification.unread_count or notification.urgent_count:
            notification.unread_count = notification.urgent_count = 0
            notification.save(update_fields=["unread_count", "urgent_count", "updated_at"])
            _publish(notification)
    return notification


def dismiss_notification(user: User, notification_id: int) -> ChatNotification:
    with transaction.atomic():
        notification = (
            ChatNotification.objects.unscoped()
            .select_for_update()
            .filter(pk=notification_id, recipient=user)
            .first()
        )
        if notification is None:
            raise not_found("Notification", "notification_id")
        if notification.dismissed_at is None:
            notification.dismissed_at = timezone.now()
            notification.unread_count = notification.urgent_count = 0
            notification.save()
            _publish(notification)
    return notification


def _publish(notification: ChatNotification) -> None:
    publish_on_commit(
        [
            make_event(
                EventType.NOTIFICATION,
                notification.company_id,
                notification_data(notification),
                agents=[notification.recipient_id],
            )
        ]
    )
