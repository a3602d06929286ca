"""The assignment event log: one row per state change, written inside the action's transaction."""

from __future__ import annotations

from typing import Any

from routing_service.chats.models import AssignmentEvent, ChatAssignment, Conversation


def log_event(
    conversation: Conversation,
    action: str,
    *,
    assignment: ChatAssignment | None = None,
    actor_id: int | None = None,
    from_agent_id: int | None = None,
    to_agent_id: int | None = None,
    reason: str = "",
    **data: Any,
) -> AssignmentEvent:
    return AssignmentEvent.objects.create(
        company_id=conversation.company_id,
        conversation=conversation,
        assignment=assignment,
        action=action,
        actor_id=actor_id,
        from_agent_id=from_agent_id,
        to_agent_id=to_agent_id,
        reason=reason,
        data=data,
    )
