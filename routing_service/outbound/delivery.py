"""Outbound delivery: the writes that record what happened to an agent's reply.

`send_agent_reply` stores a reply as `pending`; the `deliver_message` worker then calls, per
attempt, `begin_attempt` (claim it and count the attempt), sends, and records the outcome with
`mark_sent` or `mark_failed`; `give_up` closes it when dramatiq's retries run out. These are the
only writes of a message's delivery fields, and each publishes the updated message
(`chat.message`) to the agents who see the chat once it changes state.

Every step is conditional on the state it expects, under the message's row lock, so a worker
that runs late or twice changes nothing. A claim is a lease in the message's metadata, naming
the task (dramatiq message id) that holds it: while one worker is talking to the provider, a
*duplicate* task waits instead of sending a second copy. The *same* task coming back while its
lease is live means the broker gave it up for lost — its worker died mid-send (the broker
redelivers only the unacknowledged messages of dead workers) or its time limit cut it short —
so it takes the lease over at once instead of waiting out the lease. The provider may then see
the reply twice; both carry the same `Idempotency-Key` (generic) so the receiver can drop one.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Iterable

from django.db import IntegrityError, transaction

from events.outbox import publish_on_commit
from events.schema import EventType, make_event
from routing_service.chats.models import (
    ACTIVE_ASSIGNMENT_STATUSES,
    Channel,
    ChatAssignment,
    Conversation,
    DeliveryStatus,
    Message,
    MessageDirection,
    MessageKind,
)
from routing_service.chats.payloads import ATTACHMENT_COUNT_KEY, message_data
from routing_service.outbound.clients.base import OutboundFile, OutboundMessage
from routing_service.tenancy.models import User

logger = logging.getLogger(__name__)

PARTS_KEY = "delivery_parts_done"
LEASE_KEY = "delivery_lease_until"
LEASE_TASK_KEY = "delivery_lease_task"
# Longer than the actor's time limit (240 s), so a slow attempt is never overlapped by another.
LEASE_SECONDS = 270.0
MAX_ERROR_LENGTH = 2000


class DeliveryBusy(Exception):
    """Another worker holds the message's lease; try again in `retry_after` seconds."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"another worker is delivering this message ({retry_after:.0f} s left)")
        self.retry_after = retry_after


def lock_message(message_id: int) -> Message | None:
    """Lock one message row (`SELECT … FOR UPDATE`) for a delivery step.

    Protects the claim and the outcome of a delivery attempt: two workers never both send, and
    a late outcome never overwrites a newer one. Taken on its own — no chat lock is held with it
    — so it cannot form a cycle with the routing locks. Precondition: inside a transaction.
    """
    return Message.objects.unscoped().select_for_update().filter(pk=message_id).first()


def begin_attempt(
    message_id: int, *, now: float | None = None, task_id: str | None = None
) -> OutboundMessage | None:
    """Claim a pending outbound message for one attempt and return what the client needs.

    `task_id` is the dramatiq message id of the running task. Returns None when there is
    nothing to do: the message is gone, inbound, already sent or failed for good (a re-sent
    task is a no-op), or its channel was disabled (then it is failed here). Raises DeliveryBusy
    while another task's lease on it is live; a live lease of `task_id` itself is taken over.
    """
    now = time.time() if now is None else now
    with transaction.atomic():
        message = lock_message(message_id)
        if (
            message is None
            or message.direction != MessageDirection.OUTBOUND
            # An internal note is never sent, whoever queued a task for it.
            or message.kind == MessageKind.NOTE
            or message.delivery_status != DeliveryStatus.PENDING
        ):
            return None
        lease = message.metadata.get(LEASE_KEY)
        if isinstance(lease, int | float) and lease > now:
            holder = message.metadata.get(LEASE_TASK_KEY)
            if task_id is None or holder != task_id:
                raise DeliveryBusy(lease - now)
            logger.warning(
                "message %s: task %s was redelivered during its own attempt (its worker died "
                "or timed out); sending again",
                message_id,
                task_id,
            )
        channel = Channel.objects.unscoped().get(pk=message.channel_id)
        if not channel.is_active:
            _finish(message, "The channel is disabled.", final=True)
            return None
        message.delivery_attempts += 1
        message.metadata = {
            **message.metadata,
            LEASE_KEY: now + LEASE_SECONDS,
            LEASE_TASK_KEY: task_id,
        }
        message.save(update_fields=["delivery_attempts", "metadata"])
        return _outbound(message, channel)


def _outbound(message: Message, channel: Channel) -> OutboundMessage:
    conversation = (
        Conversation.objects.unscoped().select_related("client").get(pk=message.conversation_id)
    )
    agent = User.objects.filter(pk=message.sender_id).first() if message.sender_id else None
    # The customer's latest message on this channel: replies go back where they came from.
    last_inbound = (
        Message.objects.unscoped()
        .filter(
            conversation_id=message.conversation_id,
            channel_id=message.channel_id,
            direction=MessageDirection.INBOUND,
        )
        .order_by("-sent_at", "-id")
        .values_list("provider_message_id", "metadata")
        .first()
    )
    last_id, last_metadata = last_inbound or (None, {})
    parts_done = message.metadata.get(PARTS_KEY, 0)
    return OutboundMessage(
        message_id=message.pk,
        conversation_id=message.conversation_id,
        provider=channel.provider,
        text=message.text,
        sent_at=message.sent_at,
        agent_id=agent.pk if agent else None,
        agent_name=(agent.get_full_name() or agent.username) if agent else "",
        client_external_id=conversation.client.external_id,
        secret=channel.secret,
        config=dict(channel.config or {}),
        last_inbound_id=last_id,
        last_inbound_metadata=last_metadata if isinstance(last_metadata, dict) else {},
        attachments=outbound_files(message),
        parts_done=parts_done if isinstance(parts_done, int) else 0,
        quick_replies=_quick_replies(message.metadata),
    )


def _quick_replies(metadata: object) -> tuple[tuple[str, str], ...]:
    options = metadata.get("quick_replies") if isinstance(metadata, dict) else None
    if not isinstance(options, list):
        return ()
    return tuple(
        (str(o["id"]), str(o["title"]))
        for o in options
        if isinstance(o, dict) and "id" in o and "title" in o
    )


def outbound_files(message: Message) -> tuple[OutboundFile, ...]:
    """The reply's files with fresh public signed URLs (each attempt signs anew)."""
    if not (message.metadata or {}).get(ATTACHMENT_COUNT_KEY):
        return ()
    from routing_service.attachments import signing, storage
    from routing_service.attachments.models import Attachment, AttachmentStatus

    files = Attachment.objects.unscoped().filter(
        message_id=message.pk, status=AttachmentStatus.READY
    )
    return tuple(
        OutboundFile(
            name=a.name or f"file-{a.pk}",
            content_type=a.content_type,
            size=a.size or 0,
            url=signing.public_url(a.company_id, a.pk),
            open=functools.partial(storage.open_file, a.storage_name),
        )
        for a in files.order_by("pk")
    )


def record_part_sent(message_id: int, parts_done: int) -> None:
    """A multi-part send got part `parts_done` accepted: a retry starts after it."""
    with transaction.atomic():
        message = lock_message(message_id)
        if message is None or message.delivery_status != DeliveryStatus.PENDING:
            return
        message.metadata = {**message.metadata, PARTS_KEY: parts_done}
        message.save(update_fields=["metadata"])


def mark_sent(message_id: int, provider_message_id: str | None) -> bool:
    """Record that the provider accepted the message; False if that was already recorded.

    Also applies to a message already marked failed: the provider's acceptance is the fact
    that matters to the customer (a slow attempt may outlive the give-up).
    """
    with transaction.atomic():
        message = lock_message(message_id)
        if message is None or message.delivery_status not in (
            DeliveryStatus.PENDING,
            DeliveryStatus.FAILED,
        ):
            return False
        message.delivery_status = DeliveryStatus.SENT
        message.delivery_error = ""
        message.metadata = _without_lease(message)
        message.provider_message_id = provider_message_id
        fields = ["delivery_status", "delivery_error", "metadata", "provider_message_id"]
        try:
            with transaction.atomic():
                message.save(update_fields=fields)
        except IntegrityError:
            # The id collides with another message of the channel (a generic sender that
            # chose "sb-…" ids). The reply is sent all the same: raising here would make the
            # worker retry and send it twice. Keep the id in metadata instead.
            logger.warning(
                "provider id %r of message %s is taken on its channel",
                provider_message_id,
                message_id,
            )
            message.provider_message_id = None
            message.metadata = {**message.metadata, "provider_message_id": provider_message_id}
            message.save(update_fields=fields)
        _publish(message)
    return True


def mark_failed(message_id: int, error: str, final: bool) -> bool:
    """Record a failed attempt; `final` marks the message failed, otherwise it stays pending
    for the next retry. False if the message is no longer pending (nothing recorded)."""
    with transaction.atomic():
        message = lock_message(message_id)
        if message is None or message.delivery_status != DeliveryStatus.PENDING:
            return False
        _finish(message, error, final=final)
    return True


def give_up(message_id: int, fallback_error: str = "") -> bool:
    """Retries are exhausted: fail the message, keeping the last attempt's error."""
    with transaction.atomic():
        message = lock_message(message_id)
        if message is None or message.delivery_status != DeliveryStatus.PENDING:
            return False
        last = message.delivery_error or fallback_error or "unknown error"
        attempts = message.delivery_attempts
        plural = "" if attempts == 1 else "s"
        _finish(message, f"Gave up after {attempts} attempt{plural}. Last error: {last}", True)
    return True


def _finish(message: Message, error: str, final: bool) -> None:
    message.delivery_error = _clip(error)
    message.metadata = _without_lease(message)
    fields = ["delivery_error", "metadata"]
    if final:
        message.delivery_status = DeliveryStatus.FAILED
        fields.append("delivery_status")
    message.save(update_fields=fields)
    if final:
        _publish(message)


def _without_lease(message: Message) -> dict[str, object]:
    return {
        k: v for k, v in (message.metadata or {}).items() if k not in (LEASE_KEY, LEASE_TASK_KEY)
    }


def _clip(error: str) -> str:
    error = error.strip() or "unknown error"
    return error if len(error) <= MAX_ERROR_LENGTH else error[: MAX_ERROR_LENGTH - 1] + "…"


def _publish(message: Message) -> None:
    """The updated message, to whoever got the reply's own `chat.message`: the agent who wrote
    it, the chat's current holder and the supervisors (replies.py addresses the same people)."""
    holder = (
        ChatAssignment.objects.unscoped()
        .filter(conversation_id=message.conversation_id, status__in=ACTIVE_ASSIGNMENT_STATUSES)
        .values_list("agent_id", flat=True)
        .first()
    )
    recipients: Iterable[int | None] = (message.sender_id, holder)
    publish_on_commit(
        [
            make_event(
                EventType.CHAT_MESSAGE,
                message.company_id,
                message_data(message),
                agents=recipients,
                supervisors=True,
            )
        ]
    )
