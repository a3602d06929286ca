"""The escalation ladder's actions, run by the SLA timer as the system (no acting user).

Each takes the company's routing lock (re-entrant: the timer already holds it) and reuses the
chat actions, so an SLA escalation leaves the same trail as a human one: `escalate_assignment`
for "reassign to a supervisor", the assignment module's priority raise for "raise priority".
"Reassign to another agent" ends the assignment as transferred and re-routes the chat; the
routing rules never offer it straight back to the agent who let it breach.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from events.outbox import publish_on_commit
from routing_service.chats.actions.assignments import (
    _raise_priority,
    escalate_assignment,
    hand_over,
)
from routing_service.chats.actions.errors import ActionError
from routing_service.chats.actions.routing import queue_event
from routing_service.chats.locks import lock_company_routing, lock_conversation
from routing_service.chats.models import (
    ACTIVE_ASSIGNMENT_STATUSES,
    PRIORITY_RANK,
    AssignmentEvent,
    ChatAssignment,
    Priority,
)

_BY_RANK = {rank: priority for priority, rank in PRIORITY_RANK.items()}


def raise_priority(conversation_id: int, *, reason: str) -> str | None:
    """One priority level up (due times follow); returns the new priority, None at urgent."""
    conversation = lock_conversation(conversation_id)
    if conversation.priority_rank >= PRIORITY_RANK[Priority.URGENT]:
        return None
    to = _BY_RANK[conversation.priority_rank + 1]
    _raise_priority(conversation, to, actor_id=None, reason=reason)
    assignment = (
        ChatAssignment.objects.unscoped()
        .filter(conversation_id=conversation_id, status__in=ACTIVE_ASSIGNMENT_STATUSES)
        .first()
    )
    publish_on_commit([queue_event(conversation, assignment)])
    return str(to)


def reassign_to_supervisor(
    assignment_id: int, company_id: int, *, reason: str, now: dt.datetime
) -> ChatAssignment:
    """Escalate one level up; with no supervisor the chat goes back to the queue as urgent."""
    return escalate_assignment(assignment_id, None, reason=reason, company_id=company_id, now=now)


def reassign_to_another_agent(
    assignment_id: int, company_id: int, *, reason: str, now: dt.datetime, **log: Any
) -> ChatAssignment:
    """Take the chat from its agent and route it to the next eligible one.

    The ended assignment counts as "this agent already had a go" for the routing rules, so the
    chat is offered elsewhere when anyone else can take it. Raises ActionError when the
    assignment is no longer active.
    """
    lock_company_routing(company_id)
    assignment = ChatAssignment.objects.unscoped().select_for_update().get(pk=assignment_id)
    if not assignment.is_active:
        raise ActionError("invalid_state", f"The assignment is {assignment.status}.")
    return hand_over(
        assignment,
        None,
        action=AssignmentEvent.Action.ESCALATED,
        event_kind="escalation",
        actor_id=None,
        reason=reason,
        now=now,
        **log,
    )
