"""Read receipts to the customer: opening a WhatsApp chat marks their last message read.

`mark_read` (the console opening a chat with news) calls `queue_read_receipt`. Only the agent
holding the chat counts (a supervisor glancing at it is not "the business read it"), and only
providers that take receipts (WhatsApp Cloud API). The message is claimed with a conditional
UPDATE on its metadata — a second opening, another console, a retried request all find it
claimed — and the dramatiq actor (routing_service/outbound/read_receipts.py) is enqueued after
commit: the customer's ticks turn blue once per message, never twice.
"""

from __future__ import annotations

from django.db import connection, transaction

from routing_service.chats.models import (
    ACTIVE_ASSIGNMENT_STATUSES,
    ChatAssignment,
    Message,
    MessageDirection,
    MessageKind,
    Provider,
)
from routing_service.tenancy.models import User

# Providers whose API takes "the business read this message".
RECEIPT_PROVIDERS = frozenset({Provider.WHATSAPP})
# Message.metadata key: "queued" once claimed, then "sent" or "failed" (the actor writes it).
RECEIPT_KEY = "read_receipt"

_CLAIM_SQL = f"""
UPDATE {Message._meta.db_table}
SET metadata = metadata || jsonb_build_object('{RECEIPT_KEY}', 'queued')
WHERE id = %s AND NOT (metadata ? '{RECEIPT_KEY}')
"""  # noqa: S608  (table and key are ours)


def queue_read_receipt(conversation_id: int, user: User) -> int | None:
    """Claim the customer's last message of the chat for a read receipt and enqueue it.

    Returns the claimed message id, or None when there is nothing to send (another provider,
    not the user's chat, no customer message with a provider id, already claimed).
    """
    if user.company_id is None:
        return None
    company_id: int = user.company_id
    holds_chat = (
        ChatAssignment.objects.unscoped()
        .filter(
            conversation_id=conversation_id,
            agent_id=user.pk,
            company_id=company_id,
            status__in=ACTIVE_ASSIGNMENT_STATUSES,
        )
        .exists()
    )
    if not holds_chat:
        return None
    last = (
        Message.objects.unscoped()
        .filter(
            conversation_id=conversation_id,
            company_id=company_id,
            direction=MessageDirection.INBOUND,
            kind=MessageKind.MESSAGE,
            channel__provider__in=RECEIPT_PROVIDERS,
            provider_message_id__isnull=False,
        )
        .order_by("-sent_at", "-pk")
        .values_list("pk", flat=True)
        .first()
    )
    if last is None:
        return None
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(_CLAIM_SQL, [last])
            claimed = cursor.rowcount == 1
        if claimed:
            transaction.on_commit(lambda: _enqueue(last), robust=True)
    return last if claimed else None


def _enqueue(message_id: int) -> None:
    from routing_service.outbound.read_receipts import send_read_receipt

    send_read_receipt.send(message_id)
