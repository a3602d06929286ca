"""Agent availability and capacity: both can free or remove routing capacity."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.utils import timezone

from events.outbox import publish_on_commit
from events.schema import EventType, make_event
from routing_service.chats.actions.errors import ActionError
from routing_service.chats.actions.routing import end_offer, route_waiting
from routing_service.chats.locks import lock_agents, lock_company_routing
from routing_service.chats.models import AssignmentStatus, ChatAssignment
from routing_service.tenancy.models import AgentStatus, User


def agent_status_data(agent: User) -> dict[str, object]:
    return {
        "agent_id": agent.pk,
        "username": agent.username,
        "name": agent.get_full_name() or agent.username,
        "status": agent.status,
        "active_chats": agent.active_chats,
        "max_chats": agent.max_chats,
        "status_changed_at": agent.status_changed_at.isoformat()
        if agent.status_changed_at
        else None,
    }


def set_agent_status(
    agent_id: int,
    status: str,
    *,
    actor: User | None = None,
    reason: str = "",
    now: dt.datetime | None = None,
) -> User:
    """Change availability. Going away or offline re-routes the agent's unaccepted offers;
    becoming available serves the queue. `actor=None` is the system (presence)."""
    if status not in AgentStatus.values:
        raise ActionError(
            "invalid",
            f"Status must be one of {', '.join(AgentStatus.values)}.",
            field="status",
            status=400,
        )
    now = now or timezone.now()
    company_id = User.objects.filter(pk=agent_id).values_list("company_id", flat=True).first()
    if company_id is None or (
        actor is not None and not actor.is_superadmin and actor.company_id != company_id
    ):
        raise ActionError("not_found", "Agent not found.", field="agent_id", status=404)
    if actor is not None and actor.pk != agent_id and not actor.can_supervise:
        raise ActionError("forbidden", "You can only change your own status.", status=403)
    with transaction.atomic():
        lock_company_routing(company_id)
        agent = lock_agents([agent_id])[agent_id]
        if agent.status == status:
            return agent
        agent.status = status
        agent.status_changed_at = now
        if status == AgentStatus.AVAILABLE and agent.active_chats == 0:
            agent.idle_since = now
        agent.save(update_fields=["status", "status_changed_at", "idle_since"])
        if status != AgentStatus.AVAILABLE:
            offers = (
                ChatAssignment.objects.unscoped()
                .select_for_update()
                .filter(agent_id=agent_id, status=AssignmentStatus.OFFERED)
            )
            for offer in offers:
                end_offer(
                    offer,
                    AssignmentStatus.EXPIRED,
                    now=now,
                    actor_id=actor.pk if actor else None,
                    reason=reason or f"agent went {status}",
                )
            agent.refresh_from_db(fields=["active_chats"])
        publish_on_commit(
            [
                make_event(
                    EventType.AGENT_STATUS,
                    company_id,
                    agent_status_data(agent),
                    supervisors=True,
                    agents=[agent_id],
                )
            ]
        )
        route_waiting(company_id, now=now)
    return agent


def capacity_changed(agent_id: int) -> None:
    """After an agent's max_chats (or skills, languages) changed: serve the queue."""
    company_id = User.objects.filter(pk=agent_id).values_list("company_id", flat=True).first()
    if company_id is None:
        return
    with transaction.atomic():
        lock_company_routing(company_id)
        route_waiting(company_id)
