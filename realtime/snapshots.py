"""⑤ What a console or a wallboard shows on connect: the `snapshot` event's data.

Built from the database after the connection's current seq was read, so every event up to that
seq is in it; later events may be too, which is why clients apply events as upserts keyed by
`conversation_id` / `agent_id` / `notification_id` (realtime/PROTOCOL.md).

The company's waiting queue is the same for every console of the company, and the costly part
of a snapshot when the queue is long; consoles connecting together (a reconnect storm, a shift
starting) share one read of it (`waiting_queue`), as long as it provably still holds.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from realtime.wallboard import at_risk_chats, compute_stats, sla_state, warning_windows
from routing_service.chats.actions.agents import agent_status_data
from routing_service.chats.actions.inbound import notification_data
from routing_service.chats.models import (
    ACTIVE_ASSIGNMENT_STATUSES,
    AssignmentStatus,
    ChatAssignment,
    ChatNotification,
    Conversation,
    ConversationStatus,
)
from routing_service.chats.payloads import conversation_data, iso
from routing_service.tenancy.models import HANDLING_ROLES, Company, User

NOTIFICATION_LIMIT = 100


def _user_data(user: User) -> dict[str, Any]:
    return {
        "id": user.pk,
        "username": user.username,
        "name": user.get_full_name() or user.username,
        "role": user.role,
        "company_id": user.company_id,
    }


def _company_data(company: Company) -> dict[str, Any]:
    return {"id": company.pk, "name": company.name, "slug": company.slug}


def _waiting(company_id: int, limit: int) -> tuple[list[dict[str, Any]], int]:
    """The queue head in routing order ("ORDER BY priority_rank DESC, queued_at": its index)."""
    qs = Conversation.objects.unscoped().filter(
        company_id=company_id, status=ConversationStatus.WAITING
    )
    head = qs.select_related("client", "channel").order_by("-priority_rank", "queued_at", "pk")
    return [conversation_data(c) for c in head[:limit]], qs.count()


# How long one read of a company's queue may serve the snapshots of its consoles (on top of the
# seq condition below, which alone keeps it exact: this bounds what a change made without an
# event, or a Redis replaced under a running process, could leave stale).
QUEUE_CACHE_SECONDS = 2.0


@dataclass(frozen=True)
class SnapshotPoint:
    """Where a snapshot stands in the company's log: its seq, and the seq of the queue group's
    latest event at that moment (None: unknown, nothing cached is used)."""

    seq: int
    queue_seq: int | None = None


@dataclass(frozen=True)
class _QueueRead:
    seq: int  # the company seq read before the database was
    at: float  # time.monotonic() of the read
    head: list[dict[str, Any]]
    total: int


_queue_reads: dict[tuple[int, int], _QueueRead] = {}
_queue_locks: defaultdict[tuple[int, int], threading.Lock] = defaultdict(threading.Lock)


def waiting_queue(
    company_id: int, limit: int, point: SnapshotPoint | None = None
) -> tuple[list[dict[str, Any]], int]:
    """The queue head and total for a snapshot at `point`, read once for many consoles.

    A read made after seq C contains every queue event up to C. It is reused for a snapshot at
    seq S only if the queue's latest event is not after C (`point.queue_seq <= C`: no queue
    event in (C, S], so the queue a client rebuilds from the snapshot plus the events after S
    is exactly what a fresh read would give) and for at most `QUEUE_CACHE_SECONDS`. One thread
    per company reads while the others wait for its result (a storm reads once, not per socket).
    """
    if point is None or point.queue_seq is None:
        return _waiting(company_id, limit)
    key = (company_id, limit)
    with _queue_locks[key]:
        cached = _queue_reads.get(key)
        now = time.monotonic()
        if (
            cached is not None
            and point.queue_seq <= cached.seq
            and now - cached.at < QUEUE_CACHE_SECONDS
        ):
            return list(cached.head), cached.total
        head, total = _waiting(company_id, limit)
        if cached is None or cached.seq <= point.seq:
            _queue_reads[key] = _QueueRead(point.seq, now, head, total)
        for stale in [k for k, v in _queue_reads.items() if now - v.at >= QUEUE_CACHE_SECONDS]:
            _queue_reads.pop(stale, None)
        return list(head), total


def limits() -> dict[str, int]:
    """What the client must respect (so a console can pace itself instead of being closed)."""
    return {
        "max_frame_bytes": settings.WS_MAX_FRAME_BYTES,
        "rate_per_second": settings.WS_RATE_PER_SECOND,
        "burst": settings.WS_RATE_BURST,
        "heartbeat_seconds": settings.PRESENCE_HEARTBEAT_SECONDS,
    }


def agent_snapshot(
    user: User, company: Company, point: SnapshotPoint | None = None
) -> dict[str, Any]:
    """The console: the agent's status, their active chats (with SLA due times), the company's
    waiting queue (see `waiting_queue`) and their unread notifications."""
    limit = settings.WS_SNAPSHOT_LIST_LIMIT
    agent = User.objects.get(pk=user.pk)
    # "An agent's active chats": the partial index on (agent, status).
    assignments = (
        ChatAssignment.objects.unscoped()
        .filter(agent_id=user.pk, company_id=company.pk, status__in=ACTIVE_ASSIGNMENT_STATUSES)
        .select_related("conversation__client", "conversation__channel")
        .order_by("offered_at", "pk")
    )
    queue, queue_total = waiting_queue(company.pk, limit, point)
    notifications = (
        ChatNotification.objects.unscoped()
        .filter(recipient_id=user.pk, company_id=company.pk, dismissed_at__isnull=True)
        .filter(Q(unread_count__gt=0) | Q(urgent_count__gt=0))
        .order_by("-last_message_at")[:NOTIFICATION_LIMIT]
    )
    return {
        "kind": "agent",
        "server_time": iso(timezone.now()),
        "user": _user_data(agent),
        "company": _company_data(company),
        "agent": agent_status_data(agent),
        "chats": [conversation_data(a.conversation, a) for a in assignments],
        "queue": queue,
        "queue_total": queue_total,
        "notifications": [notification_data(n) for n in notifications],
        "limits": limits(),
    }


def wallboard_snapshot(
    user: User, company: Company, point: SnapshotPoint | None = None
) -> dict[str, Any]:
    """The wallboard: the stats, the agent grid, the queue by priority and the at-risk list."""
    now = timezone.now()
    limit = settings.WS_SNAPSHOT_LIST_LIMIT
    agents = User.objects.filter(
        company_id=company.pk, role__in=HANDLING_ROLES, is_active=True
    ).order_by("username")
    offers: dict[int, int] = {}
    for agent_id in (
        ChatAssignment.objects.unscoped()
        .filter(agent__in=agents, status=AssignmentStatus.OFFERED)
        .values_list("agent_id", flat=True)
    ):
        offers[agent_id] = offers.get(agent_id, 0) + 1
    queue, queue_total = waiting_queue(company.pk, limit, point)
    by_priority: dict[str, list[dict[str, Any]]] = {
        p: [] for p in ("urgent", "high", "medium", "low")
    }
    for chat in queue:
        by_priority.setdefault(chat["priority"], []).append(chat)
    pressing = at_risk_chats(company.pk, now, warning_windows(company.pk), limit)
    active = {
        a.conversation_id: a
        for a in ChatAssignment.objects.unscoped().filter(
            conversation__in=[c.pk for c in pressing], status__in=ACTIVE_ASSIGNMENT_STATUSES
        )
    }
    at_risk = []
    for conversation in pressing:
        kind, state, due = sla_state(conversation, now)
        assignment = active.get(conversation.pk)
        at_risk.append(
            {
                **conversation_data(conversation, assignment),
                "sla_kind": kind,
                "sla_state": state,
                "sla_due_at": iso(due),
            }
        )
    return {
        "kind": "wallboard",
        "server_time": iso(now),
        "user": _user_data(user),
        "company": _company_data(company),
        "stats": compute_stats(company.pk, now=now),
        "agents": [
            {**agent_status_data(a), "role": a.role, "pending_offers": offers.get(a.pk, 0)}
            for a in agents
        ],
        "queue": {"by_priority": by_priority, "total": queue_total, "listed": len(queue)},
        "at_risk": at_risk,
        "limits": limits(),
    }
