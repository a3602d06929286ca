"""Supervisor monitoring writes: whispers to the handling agent and taking a chat over.

Both are for the company's supervisors and admins (superadmins of any company). A whisper is
stored as a `Whisper` row and published as `chat.whisper` to the handling agent and its author
only: it never becomes a `Message`, so no provider can ever receive it. Taking over reuses the
transfer rules (`hand_over`, the same audit trail and `chat.transferred` event) and accepts the
new assignment at once: the supervisor is at the chat, so no offer is left to time out.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone

from events.outbox import publish_on_commit
from events.schema import EventType, make_event
from routing_service.chats.actions.assignments import (
    _publish_assigned,
    hand_over,
    pick_conversation,
)
from routing_service.chats.actions.audit import log_event
from routing_service.chats.actions.errors import ActionError, company_of, not_found
from routing_service.chats.locks import lock_agents, lock_company_routing, lock_conversation
from routing_service.chats.models import (
    ACTIVE_ASSIGNMENT_STATUSES,
    AssignmentEvent,
    AssignmentStatus,
    ChatAssignment,
    Conversation,
    ConversationStatus,
    Whisper,
)
from routing_service.chats.payloads import iso
from routing_service.tenancy.models import User

MAX_WHISPER_LENGTH = 2000


def _require_supervisor(actor: User) -> None:
    if not actor.can_supervise:
        raise ActionError("forbidden", "Only supervisors and admins can do this.", status=403)


def _company_of_conversation(conversation_id: int, actor: User) -> int:
    qs = Conversation.objects.unscoped().filter(pk=conversation_id)
    if not actor.is_superadmin:
        qs = qs.filter(company_id=company_of(actor))
    company_id = qs.values_list("company_id", flat=True).first()
    if company_id is None:
        raise not_found("Conversation", "conversation_id")
    return company_id


def whisper_data(whisper: Whisper, author: User | None) -> dict[str, Any]:
    return {
        "conversation_id": whisper.conversation_id,
        "whisper_id": whisper.pk,
        "kind": "whisper",
        "text": whisper.text,
        "author_id": whisper.author_id,
        "author_name": (author.get_full_name() or author.username) if author else "",
        "recipient_id": whisper.recipient_id,
        "created_at": iso(whisper.created_at),
    }


def send_whisper(
    conversation_id: int, actor: User, text: str, *, now: dt.datetime | None = None
) -> Whisper:
    """A private note from a supervisor to the agent handling an open chat."""
    now = now or timezone.now()
    _require_supervisor(actor)
    text = (text or "").strip()
    if not text:
        raise ActionError("invalid", "The whisper is empty.", field="text", status=400)
    if len(text) > MAX_WHISPER_LENGTH:
        raise ActionError(
            "invalid",
            f"Whispers are at most {MAX_WHISPER_LENGTH} characters.",
            field="text",
            status=400,
        )
    company_id = _company_of_conversation(conversation_id, actor)
    with transaction.atomic():
        conversation = lock_conversation(conversation_id)
        holder = (
            ChatAssignment.objects.unscoped()
            .filter(conversation_id=conversation.pk, status__in=ACTIVE_ASSIGNMENT_STATUSES)
            .values_list("agent_id", flat=True)
            .first()
        )
        if not conversation.is_open or holder is None:
            raise ActionError(
                "invalid_state",
                "Nobody is handling this chat: a whisper needs an agent to read it.",
                field="conversation_id",
            )
        if holder == actor.pk:
            raise ActionError(
                "invalid", "You are handling this chat yourself.", field="conversation_id"
            )
        whisper = Whisper.objects.create(
            company_id=company_id,
            conversation=conversation,
            author=actor,
            recipient_id=holder,
            text=text,
            created_at=now,
        )
        publish_on_commit(
            [
                make_event(
                    EventType.CHAT_WHISPER,
                    company_id,
                    whisper_data(whisper, actor),
                    agents=[holder, actor.pk],
                )
            ]
        )
    return whisper


def take_over(
    conversation_id: int, actor: User, *, reason: str = "", now: dt.datetime | None = None
) -> ChatAssignment:
    """The supervisor takes the chat: from its agent (a transfer, accepted at once) or, when
    it waits in the queue, as a pick. The supervisor's role must be able to take chats."""
    now = now or timezone.now()
    _require_supervisor(actor)
    if not actor.can_handle_chats:
        raise ActionError("forbidden", "Your role cannot take chats.", status=403)
    company_id = _company_of_conversation(conversation_id, actor)
    if actor.company_id != company_id:
        raise ActionError("forbidden", "Only the company's own staff can take chats.", status=403)
    reason = reason.strip() or "taken over by a supervisor"
    with transaction.atomic():
        lock_company_routing(company_id)
        conversation = lock_conversation(conversation_id)
        if conversation.status == ConversationStatus.WAITING:
            return pick_conversation(conversation_id, actor, now=now)
        if not conversation.is_open:
            raise ActionError(
                "invalid_state", f"The chat is {conversation.status}.", field="conversation_id"
            )
        assignment = (
            ChatAssignment.objects.unscoped()
            .select_for_update(of=("self",))
            .filter(conversation_id=conversation.pk, status__in=ACTIVE_ASSIGNMENT_STATUSES)
            .first()
        )
        if assignment is None:
            raise not_found("Assignment", "conversation_id")
        if assignment.agent_id == actor.pk:
            raise ActionError("invalid", "The chat is already yours.", field="conversation_id")
        target = lock_agents([actor.pk])[actor.pk]
        new = hand_over(
            assignment,
            target,
            action=AssignmentEvent.Action.TRANSFERRED,
            event_kind="take_over",
            actor_id=actor.pk,
            reason=reason,
            now=now,
        )
        new.status = AssignmentStatus.ACCEPTED
        new.accepted_at = now
        new.offer_expires_at = None
        new.save(update_fields=["status", "accepted_at", "offer_expires_at"])
        conversation = lock_conversation(conversation_id)
        log_event(conversation, AssignmentEvent.Action.ACCEPTED, assignment=new, actor_id=actor.pk)
        _publish_assigned(conversation, new)
    return new
