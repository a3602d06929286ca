"""Plain-dict views of chat rows: the `data` of real-time events and the console snapshot."""

from __future__ import annotations

import datetime as dt
from typing import Any

from routing_service.chats.models import ChatAssignment, Conversation, Message
from routing_service.queues.config import company_queues


def iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def conversation_data(
    conversation: Conversation, assignment: ChatAssignment | None = None
) -> dict[str, Any]:
    """What consoles and wallboards show of a chat; `assignment` is its active one, if any."""
    client = conversation.client
    return {
        "conversation_id": conversation.pk,
        "client": {
            "id": client.pk,
            "name": client.name or client.external_id,
            "vip": client.is_vip,
        },
        "channel": {"id": conversation.channel_id, "provider": conversation.channel.provider},
        "status": conversation.status,
        "priority": conversation.priority,
        "language": conversation.language,
        "category": conversation.category,
        "subject": conversation.subject,
        "assigned_to": assignment.agent_id if assignment else None,
        "assignment_id": assignment.pk if assignment else None,
        "assignment_status": assignment.status if assignment else None,
        "offer_expires_at": iso(assignment.offer_expires_at) if assignment else None,
        "first_response_due_at": iso(conversation.first_response_due_at),
        "resolution_due_at": iso(conversation.resolution_due_at),
        "first_response_at": iso(conversation.first_response_at),
        "escalation_level": conversation.escalation_level,
        "created_at": iso(conversation.created_at),
        "queued_at": iso(conversation.queued_at),
        "last_message_at": iso(conversation.last_message_at),
        "message_count": conversation.message_count,
        "labels": list(conversation.labels or []),
        # {id, name} of its named queue, from the cached configuration (no query per chat).
        "queue": company_queues(conversation.company_id).summary(conversation.queue_id),
    }


# In a message's metadata: how many files it carries. Set when the files are recorded, so the
# payload of the common message — text only — costs no look-up.
ATTACHMENT_COUNT_KEY = "attachment_count"


def message_data(
    message: Message, attachments: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """`attachments`: the files' payloads when the caller has them; else read if it has any."""
    if attachments is None:
        attachments = []
        if (message.metadata or {}).get(ATTACHMENT_COUNT_KEY):
            from routing_service.attachments.payloads import attachments_by_message

            attachments = attachments_by_message([message.pk]).get(message.pk, [])
    return {
        "conversation_id": message.conversation_id,
        "message_id": message.pk,
        "direction": message.direction,
        "kind": message.kind,
        "text": message.text,
        "sender_id": message.sender_id,
        "sent_at": iso(message.sent_at),
        "delivery_status": message.delivery_status,
        "delivery_attempts": message.delivery_attempts,
        "delivery_error": message.delivery_error,
        "attachments": attachments,
        # A queue's automatic message (arrival, out of hours): shown apart in the transcript.
        **({"automatic": True, "sender": "system"} if _automatic(message) else {}),
    }


def _automatic(message: Message) -> bool:
    metadata = message.metadata
    return isinstance(metadata, dict) and metadata.get("automatic") is True
