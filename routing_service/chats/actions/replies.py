"""Agent replies: stored, stamped against the SLA, then delivered to the provider by a worker."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from django.db import transaction
from django.utils import timezone

from analytics import live_counting
from events.outbox import publish_on_commit
from events.schema import EventType, make_event
from routing_service.attachments.actions import attach_uploads
from routing_service.chats.actions.errors import ActionError, company_of, not_found
from routing_service.chats.locks import lock_company_routing, lock_conversation
from routing_service.chats.models import (
    ACTIVE_ASSIGNMENT_STATUSES,
    AssignmentStatus,
    ChatAssignment,
    Conversation,
    DeliveryStatus,
    Message,
    MessageDirection,
)
from routing_service.chats.payloads import ATTACHMENT_COUNT_KEY, message_data
from routing_service.tenancy.models import User
from sla_engine.scheduler import agent_replied

MAX_REPLY_LENGTH = 4096


def send_agent_reply(
    conversation_id: int,
    agent: User,
    text: str,
    *,
    attachment_ids: Sequence[int] = (),
    now: dt.datetime | None = None,
) -> Message:
    """Store the reply and queue its delivery; the first reply stamps the first response.

    The replying agent must hold the chat (an offer is accepted by replying); supervisors and
    admins of the company may reply to any open chat. `attachment_ids` are the agent's uploads
    (`POST /api/v1/attachments/`); with files the text may be empty.
    """
    now = now or timezone.now()
    text = (text or "").strip()
    if not text and not attachment_ids:
        raise ActionError("invalid", "The reply is empty.", field="text", status=400)
    if len(text) > MAX_REPLY_LENGTH:
        raise ActionError(
            "invalid",
            f"Replies are at most {MAX_REPLY_LENGTH} characters.",
            field="text",
            status=400,
        )
    qs = Conversation.objects.unscoped().filter(pk=conversation_id)
    if not agent.is_superadmin:
        qs = qs.filter(company_id=company_of(agent))
    company_id = qs.values_list("company_id", flat=True).first()
    if company_id is None:
        raise not_found("Conversation", "conversation_id")
    with transaction.atomic():
        lock_company_routing(company_id)
        conversation = lock_conversation(conversation_id)
        if not conversation.is_open:
            raise ActionError(
                "invalid_state", f"The chat is {conversation.status}.", field="conversation_id"
            )
        assignment = (
            ChatAssignment.objects.unscoped()
            .select_for_update()
            .filter(conversation=conversation, status__in=ACTIVE_ASSIGNMENT_STATUSES)
            .first()
        )
        owns = assignment is not None and assignment.agent_id == agent.pk
        if not owns and not agent.can_supervise:
            raise ActionError("forbidden", "This chat is not assigned to you.", status=403)
        if owns and assignment is not None and assignment.status == AssignmentStatus.OFFERED:
            assignment.status = AssignmentStatus.ACCEPTED
            assignment.accepted_at = now
        message = Message.objects.create(
            company_id=company_id,
            conversation=conversation,
            channel_id=conversation.channel_id,
            direction=MessageDirection.OUTBOUND,
            sender=agent,
            text=text,
            sent_at=now,
            delivery_status=DeliveryStatus.PENDING,
            metadata={ATTACHMENT_COUNT_KEY: len(attachment_ids)} if attachment_ids else {},
        )
        files = attach_uploads(message, agent.pk, attachment_ids) if attachment_ids else []
        fields = ["last_message_at", "message_count", "waiting_on_customer_since"]
        if conversation.first_response_at is None:
            conversation.first_response_at = now
            if conversation.first_response_due_at is not None:
                conversation.first_response_met = now <= conversation.first_response_due_at
            fields += ["first_response_at", "first_response_met"]
            live_counting.count_answered(conversation, now)
        conversation.last_message_at = now
        conversation.message_count += 1
        conversation.waiting_on_customer_since = now
        conversation.save(update_fields=fields)
        agent_replied(conversation)
        if assignment is not None:
            if assignment.first_response_at is None:
                assignment.first_response_at = now
            assignment.save(update_fields=["status", "accepted_at", "first_response_at"])
        recipients = [agent.pk] + ([assignment.agent_id] if assignment else [])
        publish_on_commit(
            [
                make_event(
                    EventType.CHAT_MESSAGE,
                    company_id,
                    message_data(message, files),
                    agents=recipients,
                    supervisors=True,
                )
            ]
        )
        transaction.on_commit(lambda: enqueue_delivery(message.pk), robust=True)
    return message


def enqueue_delivery(message_id: int) -> None:
    """Hand an outbound message (reply or survey) to the delivery worker; call after commit."""
    from routing_service.outbound.tasks import deliver_message

    deliver_message.send(message_id)
