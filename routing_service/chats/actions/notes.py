"""Internal notes on a chat, and the mentions in them.

A note is a `Message` of kind `note`: it sits in the transcript for the company's staff, is
never delivered to the customer (no delivery task is queued, and the delivery worker refuses
notes) and never counts as a response for the SLA. `@username` of someone in the same company
raises their notification for the chat and sends them a `mention` event, on every console they
have open.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from events.outbox import publish_on_commit
from events.schema import EventType, make_event
from routing_service.chats.actions.errors import ActionError, company_of, not_found
from routing_service.chats.actions.inbound import notification_data
from routing_service.chats.models import (
    ACTIVE_ASSIGNMENT_STATUSES,
    ChatAssignment,
    ChatNotification,
    Conversation,
    DeliveryStatus,
    Message,
    MessageDirection,
    MessageKind,
)
from routing_service.chats.payloads import message_data
from routing_service.chats.workspace_rules import mentioned_usernames
from routing_service.tenancy.models import Role, User

MAX_NOTE_LENGTH = 4096
# Who may write notes: everyone who works chats (viewers read).
NOTE_WRITERS = frozenset({Role.SUPERADMIN, Role.COMPANY_ADMIN, Role.SUPERVISOR, Role.AGENT})


def add_note(
    conversation_id: int, author: User, text: str, *, now: dt.datetime | None = None
) -> Message:
    """Store an internal note on the chat and notify the colleagues it mentions."""
    now = now or timezone.now()
    text = (text or "").strip()
    if not text:
        raise ActionError("invalid", "The note is empty.", field="text", status=400)
    if len(text) > MAX_NOTE_LENGTH:
        raise ActionError(
            "invalid", f"Notes are at most {MAX_NOTE_LENGTH} characters.", field="text", status=400
        )
    if author.role not in NOTE_WRITERS:
        raise ActionError("forbidden", "Your role does not allow notes.", status=403)
    company_id = company_of(author)
    conversation = (
        Conversation.objects.unscoped()
        .select_related("client")
        .filter(pk=conversation_id, company_id=company_id)
        .first()
    )
    if conversation is None:
        raise not_found("Conversation", "conversation_id")
    mentioned = list(
        User.objects.filter(
            company_id=company_id,
            is_active=True,
            username__in=mentioned_usernames(text),
        )
        .exclude(pk=author.pk)
        .order_by("pk")
    )
    with transaction.atomic():
        note = Message.objects.create(
            company_id=company_id,
            conversation=conversation,
            channel_id=conversation.channel_id,
            direction=MessageDirection.OUTBOUND,
            kind=MessageKind.NOTE,
            sender=author,
            text=text,
            sent_at=now,
            # Nothing to deliver: `received` is the state of a message that stays here.
            delivery_status=DeliveryStatus.RECEIVED,
            metadata={"mentions": [user.pk for user in mentioned]},
        )
        holder = (
            ChatAssignment.objects.unscoped()
            .filter(conversation_id=conversation.pk, status__in=ACTIVE_ASSIGNMENT_STATUSES)
            .values_list("agent_id", flat=True)
            .first()
        )
        data = {**message_data(note), "sender_name": display_name(author)}
        events = [
            make_event(
                EventType.CHAT_MESSAGE,
                company_id,
                data,
                supervisors=True,
                agents=[author.pk, holder, *(user.pk for user in mentioned)],
            )
        ]
        for user in mentioned:
            notification = _bump_notification(user, conversation, text, now)
            events.append(
                make_event(
                    EventType.NOTIFICATION,
                    company_id,
                    notification_data(notification),
                    agents=[user.pk],
                )
            )
            events.append(
                make_event(
                    EventType.MENTION,
                    company_id,
                    mention_data(note, conversation, author, user),
                    agents=[user.pk],
                )
            )
        publish_on_commit(events)
    return note


def display_name(user: User) -> str:
    return user.get_full_name() or user.username


def mention_data(
    note: Message, conversation: Conversation, author: User, mentioned: User
) -> dict[str, Any]:
    return {
        "conversation_id": conversation.pk,
        "message_id": note.pk,
        "user_id": mentioned.pk,
        "client": {
            "id": conversation.client_id,
            "name": conversation.client.name or conversation.client.external_id,
        },
        "author": {"id": author.pk, "username": author.username, "name": display_name(author)},
        "text": note.text[:500],
        "sent_at": note.sent_at.isoformat(),
    }


def _bump_notification(
    user: User, conversation: Conversation, text: str, now: dt.datetime
) -> ChatNotification:
    """One more unread for the mentioned user on this client (the row is unique per recipient,
    company and client); a dismissed notification comes back."""
    notification, created = ChatNotification.objects.unscoped().get_or_create(
        recipient=user,
        company_id=conversation.company_id,
        client_id=conversation.client_id,
        defaults={
            "conversation": conversation,
            "unread_count": 1,
            "last_message_at": now,
            "last_text": text[:200],
        },
    )
    if not created:
        ChatNotification.objects.unscoped().filter(pk=notification.pk).update(
            unread_count=F("unread_count") + 1,
            conversation=conversation,
            last_message_at=now,
            last_text=text[:200],
            dismissed_at=None,
        )
        notification.refresh_from_db()
    return notification
