"""Assignment actions: accept, decline, resolve, escalate, transfer — REST and websocket alike.

Each takes ids and the acting user, re-fetches under the company's routing lock, checks the
state has not moved on, writes, logs to the audit trail and publishes after commit.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from analytics import live_counting
from events.outbox import publish_on_commit
from events.schema import EventType, make_event
from routing_service.chats.actions.audit import log_event
from routing_service.chats.actions.csat import send_survey
from routing_service.chats.actions.errors import ActionError, company_of, not_found
from routing_service.chats.actions.routing import (
    end_assignment,
    end_offer,
    offer_chat,
    requeue,
    route_waiting,
    routing_policy,
)
from routing_service.chats.locks import lock_agents, lock_company_routing, lock_conversation
from routing_service.chats.models import (
    ACTIVE_ASSIGNMENT_STATUSES,
    PRIORITY_RANK,
    AssignmentEvent,
    AssignmentStatus,
    ChatAssignment,
    Conversation,
    ConversationStatus,
    Priority,
)
from routing_service.chats.payloads import conversation_data
from routing_service.tenancy.models import AgentStatus, Role, User
from sla_engine.deadlines import due_times, policy_for
from sla_engine.scheduler import conversation_closed, due_times_changed


def _load_assignment(assignment_id: int, actor: User) -> ChatAssignment:
    """The assignment, locked, if it belongs to the actor's company (404 otherwise)."""
    qs = ChatAssignment.objects.unscoped().select_for_update(of=("self",))
    if not actor.is_superadmin:
        qs = qs.filter(company_id=company_of(actor))
    assignment = qs.filter(pk=assignment_id).first()
    if assignment is None:
        raise not_found("Assignment", "assignment_id")
    return assignment


def _company_of_assignment(assignment_id: int, actor: User) -> int:
    qs = ChatAssignment.objects.unscoped().filter(pk=assignment_id)
    if not actor.is_superadmin:
        qs = qs.filter(company_id=company_of(actor))
    company_id = qs.values_list("company_id", flat=True).first()
    if company_id is None:
        raise not_found("Assignment", "assignment_id")
    return company_id


def _require_owner_or_supervisor(assignment: ChatAssignment, actor: User) -> None:
    if assignment.agent_id != actor.pk and not actor.can_supervise:
        raise ActionError("forbidden", "This chat is assigned to someone else.", status=403)


def _require_active(assignment: ChatAssignment, *statuses: str) -> None:
    allowed = statuses or ACTIVE_ASSIGNMENT_STATUSES
    if assignment.status not in allowed:
        raise ActionError(
            "invalid_state",
            f"The assignment is {assignment.status}; this needs {' or '.join(allowed)}.",
            field="assignment_id",
        )


def _conversation(assignment: ChatAssignment) -> Conversation:
    return lock_conversation(assignment.conversation_id)


def active_assignment_for(conversation_id: int, actor: User) -> ChatAssignment | None:
    qs = ChatAssignment.objects.unscoped().filter(
        conversation_id=conversation_id, status__in=ACTIVE_ASSIGNMENT_STATUSES
    )
    if not actor.is_superadmin:
        qs = qs.filter(company_id=company_of(actor))
    return qs.first()


def accept_assignment(
    assignment_id: int, actor: User, *, now: dt.datetime | None = None
) -> ChatAssignment:
    """The offered agent takes the chat. An offer past its timeout can no longer be accepted."""
    now = now or timezone.now()
    company_id = _company_of_assignment(assignment_id, actor)
    with transaction.atomic():
        lock_company_routing(company_id)
        assignment = _load_assignment(assignment_id, actor)
        if assignment.agent_id != actor.pk:
            raise ActionError("forbidden", "This offer is for another agent.", status=403)
        _require_active(assignment, AssignmentStatus.OFFERED)
        if assignment.offer_expires_at and assignment.offer_expires_at <= now:
            end_offer(assignment, AssignmentStatus.EXPIRED, now=now, reason="offer timed out")
            route_waiting(company_id, now=now)
            raise ActionError("offer_expired", "The offer expired before it was accepted.")
        assignment.status = AssignmentStatus.ACCEPTED
        assignment.accepted_at = now
        assignment.save(update_fields=["status", "accepted_at"])
        conversation = _conversation(assignment)
        log_event(
            conversation, AssignmentEvent.Action.ACCEPTED, assignment=assignment, actor_id=actor.pk
        )
        _publish_assigned(conversation, assignment)
    return assignment


def pick_conversation(
    conversation_id: int, actor: User, *, now: dt.datetime | None = None
) -> ChatAssignment:
    """An agent takes a waiting chat from the queue (manual routing), within their capacity.

    If the chat is currently offered to this agent, this is the same as accepting the offer.
    """
    now = now or timezone.now()
    company_id = actor.company_id
    if company_id is None:
        raise ActionError("forbidden", "Only company staff can take chats.", status=403)
    existing = active_assignment_for(conversation_id, actor)
    if existing is not None and existing.agent_id == actor.pk:
        if existing.status == AssignmentStatus.OFFERED:
            return accept_assignment(existing.pk, actor, now=now)
        return existing
    with transaction.atomic():
        lock_company_routing(company_id)
        agent = lock_agents([actor.pk])[actor.pk]
        conversation = (
            Conversation.objects.unscoped()
            .select_for_update(of=("self",))
            .select_related("client", "channel")
            .filter(pk=conversation_id, company_id=company_id)
            .first()
        )
        if conversation is None:
            raise not_found("Conversation", "conversation_id")
        if conversation.status != ConversationStatus.WAITING:
            raise ActionError(
                "invalid_state",
                f"The chat is {conversation.status}, not waiting.",
                field="conversation_id",
            )
        if not agent.can_handle_chats:
            raise ActionError("forbidden", "Your role cannot take chats.", status=403)
        if agent.active_chats >= agent.max_chats:
            raise ActionError("at_capacity", "You are at your maximum number of chats.")
        assignment = offer_chat(
            conversation,
            agent,
            now=now,
            policy=routing_policy(company_id),
            actor_id=actor.pk,
            reason="picked from the queue",
        )
        assignment.status = AssignmentStatus.ACCEPTED
        assignment.accepted_at = now
        assignment.offer_expires_at = None
        assignment.save(update_fields=["status", "accepted_at", "offer_expires_at"])
        log_event(
            conversation, AssignmentEvent.Action.ACCEPTED, assignment=assignment, actor_id=actor.pk
        )
        _publish_assigned(conversation, assignment)
    return assignment


def _publish_assigned(conversation: Conversation, assignment: ChatAssignment) -> None:
    data = conversation_data(conversation, assignment)
    publish_on_commit(
        [
            make_event(
                EventType.CHAT_ASSIGNED,
                conversation.company_id,
                data,
                supervisors=True,
                agents=[assignment.agent_id],
            ),
            make_event(EventType.QUEUE_UPDATED, conversation.company_id, data, queue=True),
        ]
    )


def decline_assignment(
    assignment_id: int, actor: User, *, reason: str = "", now: dt.datetime | None = None
) -> ChatAssignment:
    """The offered agent passes; the chat goes to the next eligible agent, not back to them."""
    now = now or timezone.now()
    company_id = _company_of_assignment(assignment_id, actor)
    with transaction.atomic():
        lock_company_routing(company_id)
        assignment = _load_assignment(assignment_id, actor)
        if assignment.agent_id != actor.pk:
            raise ActionError("forbidden", "This offer is for another agent.", status=403)
        _require_active(assignment, AssignmentStatus.OFFERED)
        end_offer(assignment, AssignmentStatus.DECLINED, now=now, actor_id=actor.pk, reason=reason)
        route_waiting(company_id, now=now)
    return assignment


def resolve_assignment(
    assignment_id: int, actor: User, *, reason: str = "", now: dt.datetime | None = None
) -> ChatAssignment:
    """The chat is done: record SLA outcomes, free the agent, serve the queue."""
    now = now or timezone.now()
    company_id = _company_of_assignment(assignment_id, actor)
    with transaction.atomic():
        lock_company_routing(company_id)
        assignment = _load_assignment(assignment_id, actor)
        _require_owner_or_supervisor(assignment, actor)
        _require_active(assignment, AssignmentStatus.ACCEPTED, AssignmentStatus.OFFERED)
        end_assignment(
            assignment, AssignmentStatus.RESOLVED, now=now, resolved_at=now, end_reason=reason
        )
        conversation = _conversation(assignment)
        conversation.status = ConversationStatus.RESOLVED
        conversation.resolved_at = now
        if conversation.resolution_due_at is not None:
            conversation.resolution_met = now <= conversation.resolution_due_at
        if conversation.first_response_met is None and conversation.first_response_due_at:
            conversation.first_response_met = False  # resolved without ever answering
        conversation.save(
            update_fields=["status", "resolved_at", "resolution_met", "first_response_met"]
        )
        conversation_closed(conversation)
        send_survey(conversation, now=now)
        log_event(
            conversation,
            AssignmentEvent.Action.RESOLVED,
            assignment=assignment,
            actor_id=actor.pk,
            reason=reason,
        )
        data = conversation_data(conversation, assignment)
        publish_on_commit(
            [
                make_event(
                    EventType.CHAT_RESOLVED,
                    company_id,
                    data,
                    supervisors=True,
                    agents=[assignment.agent_id],
                ),
                make_event(EventType.QUEUE_UPDATED, company_id, data, queue=True),
            ]
        )
        if conversation.first_response_at is not None:
            live_counting.count_handled(conversation, conversation.first_response_at, now)
        from analytics.tasks import record_live_session  # lazy: analytics imports chats

        transaction.on_commit(lambda: record_live_session.send(conversation.pk), robust=True)
        route_waiting(company_id, now=now)
    return assignment


def _raise_priority(
    conversation: Conversation, to: str, *, actor_id: int | None, reason: str
) -> None:
    if PRIORITY_RANK[Priority(to)] <= conversation.priority_rank:
        return
    log_event(
        conversation,
        AssignmentEvent.Action.PRIORITY_CHANGED,
        actor_id=actor_id,
        reason=reason,
        old=conversation.priority,
        new=to,
    )
    conversation.priority = to
    conversation.priority_rank = PRIORITY_RANK[Priority(to)]
    due = due_times(
        policy_for(conversation.company_id, to, conversation.queue_id), conversation.created_at
    )
    conversation.first_response_due_at = due.first_response
    conversation.resolution_due_at = due.resolution
    due_times_changed(conversation)
    conversation.save(
        update_fields=["priority", "priority_rank", "first_response_due_at", "resolution_due_at"]
    )


def pick_supervisor(company_id: int, exclude: set[int]) -> User | None:
    """The least loaded *available* supervisor with room for one more chat, or None.

    Away and offline supervisors are passed over: a chat handed to someone who is not looking
    waits unseen while its SLA runs, which is worse than the queue (as urgent). So are full
    ones: `max_chats` is the same promise for a supervisor as for an agent.
    """
    return (
        User.objects.filter(
            company_id=company_id,
            role=Role.SUPERVISOR,
            is_active=True,
            status=AgentStatus.AVAILABLE,
            active_chats__lt=F("max_chats"),
        )
        .exclude(pk__in=exclude)
        .order_by("active_chats", "pk")
        .first()
    )


def _require_available(user: User, field: str) -> None:
    """Refuse to hand a chat to someone away or offline: it would sit unseen until it times
    out (an offer) or breaches (an escalation)."""
    if user.status != AgentStatus.AVAILABLE:
        name = user.get_full_name() or user.username
        raise ActionError(
            "agent_unavailable",
            f"{name} is {user.status}; choose someone available or send the chat back to "
            "the queue.",
            field=field,
        )


def _why_no_supervisor(company_id: int, exclude: set[int]) -> str:
    """The audit log's reason when the ladder found no supervisor to take a chat."""
    counts = (
        User.objects.filter(company_id=company_id, role=Role.SUPERVISOR, is_active=True)
        .exclude(pk__in=exclude)
        .aggregate(
            away=Count("pk", filter=~Q(status=AgentStatus.AVAILABLE)),
            full=Count(
                "pk",
                filter=Q(status=AgentStatus.AVAILABLE, active_chats__gte=F("max_chats")),
            ),
        )
    )
    parts = []
    if counts["away"]:
        parts.append(f"{counts['away']} away or offline")
    if counts["full"]:
        parts.append(f"{counts['full']} at capacity")
    return "no supervisor is available" + (
        f" ({', '.join(parts)})" if parts else " (the company has none)"
    )


def escalate_assignment(
    assignment_id: int,
    actor: User | None,
    *,
    reason: str,
    to_supervisor_id: int | None = None,
    company_id: int | None = None,
    now: dt.datetime | None = None,
) -> ChatAssignment:
    """Hand the chat to a supervisor (one level up), with the reason; `actor=None` = the system.

    The supervisor is the one named (who must be available) or the least loaded available one;
    with none available the chat goes back to the queue as urgent. The audit log says which
    (`data.outcome`: `supervisor` or `queued_urgent`, with `why`). Returns the new
    (supervisor's) assignment, or the closed one when re-queued.
    """
    now = now or timezone.now()
    if actor is not None:
        company_id = _company_of_assignment(assignment_id, actor)
    assert company_id is not None, "system escalations name the company"
    if not reason.strip():
        raise ActionError("invalid", "Say why the chat is escalated.", field="reason", status=400)
    with transaction.atomic():
        lock_company_routing(company_id)
        assignment = (
            _load_assignment(assignment_id, actor)
            if actor is not None
            else ChatAssignment.objects.unscoped().select_for_update().get(pk=assignment_id)
        )
        if actor is not None:
            _require_owner_or_supervisor(assignment, actor)
        _require_active(assignment)
        conversation = _conversation(assignment)
        if to_supervisor_id is not None:
            supervisor = User.objects.filter(
                pk=to_supervisor_id,
                company_id=company_id,
                role__in=[Role.SUPERVISOR, Role.COMPANY_ADMIN],
            ).first()
            if supervisor is None:
                raise not_found("Supervisor", "to_supervisor_id")
            _require_available(supervisor, "to_supervisor_id")
        else:
            supervisor = pick_supervisor(company_id, exclude={assignment.agent_id})
        outcome: dict[str, str] = {"outcome": "supervisor"}
        if supervisor is None:
            outcome = {
                "outcome": "queued_urgent",
                "why": _why_no_supervisor(company_id, exclude={assignment.agent_id}),
            }
        actor_id = actor.pk if actor else None
        end_assignment(assignment, AssignmentStatus.ESCALATED, now=now, escalation_reason=reason)
        conversation.escalation_level += 1
        conversation.save(update_fields=["escalation_level"])
        log_event(
            conversation,
            AssignmentEvent.Action.ESCALATED,
            assignment=assignment,
            actor_id=actor_id,
            from_agent_id=assignment.agent_id,
            to_agent_id=supervisor.pk if supervisor else None,
            reason=reason,
            level=conversation.escalation_level,
            **outcome,
        )
        if supervisor is None:
            _raise_priority(conversation, Priority.URGENT, actor_id=actor_id, reason=reason)
            requeue(conversation)
            result = assignment
        else:
            lock_agents([supervisor.pk])
            result = ChatAssignment.objects.create(
                company_id=company_id,
                conversation=conversation,
                agent=supervisor,
                status=AssignmentStatus.ACCEPTED,
                offered_at=now,
                accepted_at=now,
                first_response_due_at=conversation.first_response_due_at,
                resolution_due_at=conversation.resolution_due_at,
                escalation_level=conversation.escalation_level,
                escalation_reason=reason,
            )
            User.objects.filter(pk=supervisor.pk).update(
                active_chats=F("active_chats") + 1, last_assigned_at=now, idle_since=None
            )
            conversation.status = ConversationStatus.ASSIGNED
            conversation.save(update_fields=["status"])
        data = {
            **conversation_data(conversation, result if supervisor else None),
            "kind": "escalation",
            "from_agent_id": assignment.agent_id,
            "to_agent_id": supervisor.pk if supervisor else None,
            "reason": reason,
        }
        publish_on_commit(
            [
                make_event(
                    EventType.CHAT_TRANSFERRED,
                    company_id,
                    data,
                    supervisors=True,
                    agents=[assignment.agent_id, supervisor.pk if supervisor else None],
                ),
                make_event(EventType.ALERT_URGENT, company_id, data, supervisors=True),
                make_event(EventType.QUEUE_UPDATED, company_id, data, queue=True),
            ]
        )
        if supervisor is None:
            route_waiting(company_id, now=now)
    return result


def transfer_assignment(
    assignment_id: int,
    actor: User,
    *,
    reason: str,
    to_agent_id: int | None = None,
    to_queue: bool | int = False,
    now: dt.datetime | None = None,
) -> ChatAssignment:
    """Give the chat to a named agent (as an offer) or back to a queue, with a reason.

    `to_queue`: `True` puts it back in its own queue; a queue id (of the company) moves it to
    that queue, routed there at once. The named agent must be available: an offer to someone
    away or offline would only time out while the customer waits (the sender can send it to
    the queue instead).
    """
    from routing_service.queues.actions import company_queue

    now = now or timezone.now()
    if (to_agent_id is None) == (to_queue is False):
        raise ActionError(
            "invalid", "Name either to_agent_id or to_queue.", field="to_agent_id", status=400
        )
    company_id = _company_of_assignment(assignment_id, actor)
    with transaction.atomic():
        lock_company_routing(company_id)
        assignment = _load_assignment(assignment_id, actor)
        _require_owner_or_supervisor(assignment, actor)
        _require_active(assignment)
        to_queue_id: int | None = None
        if to_queue is not True and to_queue is not False:
            to_queue_id = company_queue(company_id, to_queue, field="to_queue").pk
        target: User | None = None
        if to_agent_id is not None:
            if to_agent_id == assignment.agent_id:
                raise ActionError(
                    "invalid", "The chat is already theirs.", field="to_agent_id", status=400
                )
            target = lock_agents([to_agent_id]).get(to_agent_id)
            if target is None or target.company_id != company_id or not target.can_handle_chats:
                raise not_found("Agent", "to_agent_id")
            _require_available(target, "to_agent_id")
            if target.active_chats >= target.max_chats:
                raise ActionError(
                    "at_capacity",
                    "That agent is at their maximum number of chats.",
                    field="to_agent_id",
                )
        action = AssignmentEvent.Action.TRANSFERRED if target else AssignmentEvent.Action.REQUEUED
        return hand_over(
            assignment,
            target,
            action=action,
            event_kind="transfer",
            actor_id=actor.pk,
            reason=reason,
            now=now,
            to_queue_id=to_queue_id,
        )


def hand_over(
    assignment: ChatAssignment,
    target: User | None,
    *,
    action: str,
    event_kind: str,
    actor_id: int | None,
    reason: str,
    now: dt.datetime,
    to_queue_id: int | None = None,
    **log: Any,
) -> ChatAssignment:
    """End an active assignment as transferred and offer the chat to `target`, or put it back
    in the queue (routed at once, not back to the same agent while others can take it) —
    its own, or the queue `to_queue_id` names (the company's: checked by the caller).

    Returns the new offer, or the ended assignment. Shared by transfers and the SLA ladder's
    reassignment. Precondition: the company's routing lock is held and the assignment (and
    `target`) rows are locked and checked by the caller.
    """
    company_id = assignment.company_id
    conversation = _conversation(assignment)
    end_assignment(assignment, AssignmentStatus.TRANSFERRED, now=now, end_reason=reason)
    log_event(
        conversation,
        action,
        assignment=assignment,
        actor_id=actor_id,
        from_agent_id=assignment.agent_id,
        to_agent_id=target.pk if target else None,
        reason=reason,
        **log,
    )
    requeue(conversation)
    if to_queue_id is not None and to_queue_id != conversation.queue_id:
        from routing_service.queues.actions import move_conversations

        move_conversations(
            [conversation],
            to_queue_id,
            action=AssignmentEvent.Action.QUEUE_CHANGED,
            reason=reason,
            actor_id=actor_id,
            now=now,
            publish=False,  # the transfer event below carries the chat with its new queue
        )
    new = None
    if target is not None:
        new = offer_chat(
            conversation,
            target,
            now=now,
            policy=routing_policy(company_id),
            actor_id=actor_id,
            reason=reason,
        )
    data = {
        **conversation_data(conversation, new),
        "kind": event_kind,
        "from_agent_id": assignment.agent_id,
        "to_agent_id": target.pk if target else None,
        "to_queue": target is None,
        "reason": reason,
    }
    publish_on_commit(
        [
            make_event(
                EventType.CHAT_TRANSFERRED,
                company_id,
                data,
                supervisors=True,
                agents=[assignment.agent_id, target.pk if target else None],
            )
        ]
    )
    if target is None:
        route_waiting(company_id, now=now)
    return new or assignment
