"""Deadlines written down: the `SlaTimer` rows a chat's due times imply, kept in step with them.

The chat actions call these hooks inside their own transaction, with the company's routing lock
held and the conversation locked (chats/locks.py), so a timer row never disagrees with the due
time it was made from — and `run_sla_timer`, which takes the same company lock before it fires,
never acts on a half-made change:

* `customer_answered` — inbound message: a new chat, a priority change, or the customer
  answering after a pause (which pushes the resolution due time forward);
* `due_times_changed` — any other priority change (escalation raising it);
* `agent_replied` — the first response stops the first-response clock;
* `conversation_closed` — a resolved (or abandoned) chat has no deadlines left.

Cancelling is an optimisation, not what keeps things right: the timer re-checks every row it
claims against the chat and drops the obsolete ones (sla_engine/timer.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from django.db import connection
from django.db.models import Q
from django.utils import timezone

from routing_service.chats.models import (
    ACTIVE_ASSIGNMENT_STATUSES,
    ChatAssignment,
    Conversation,
    ConversationStatus,
)
from sla_engine.deadlines import (
    Pause,
    calendar_for,
    policy_for,
    resolution_due,
    warning_times,
)
from sla_engine.models import ChatSLA, SlaPause, SlaTimer, Stage, TimerKind

__all__ = [
    "agent_replied",
    "conversation_closed",
    "customer_answered",
    "due_times_changed",
    "schedule_timers",
]

Wanted = dict[tuple[str, int], dt.datetime]


def planned_timers(
    conversation: Conversation, policy: ChatSLA | None, pauses: Sequence[Pause]
) -> Wanted:
    """The warning and breach rows the chat needs now: {(kind, stage): due_at}.

    Breaches come from the due times stored on the chat (what the agent was shown); warnings
    from the policy, and only when they fall before their breach.
    """
    wanted: Wanted = {}
    if not conversation.is_open:
        return wanted
    warnings = None
    if policy is not None:
        warnings = warning_times(calendar_for(policy), conversation.created_at, policy, pauses)
    first_due = conversation.first_response_due_at
    if conversation.first_response_at is None and first_due is not None:
        wanted[TimerKind.FIRST_RESPONSE, Stage.BREACH] = first_due
        if warnings and warnings.first_response and warnings.first_response < first_due:
            wanted[TimerKind.FIRST_RESPONSE, Stage.WARNING] = warnings.first_response
    resolution = conversation.resolution_due_at
    if resolution is not None:
        wanted[TimerKind.RESOLUTION, Stage.BREACH] = resolution
        if warnings and warnings.resolution and warnings.resolution < resolution:
            wanted[TimerKind.RESOLUTION, Stage.WARNING] = warnings.resolution
    return wanted


def active_kinds(conversation: Conversation) -> list[str]:
    """The clocks still running: their pending escalation steps stay scheduled."""
    if not conversation.is_open:
        return []
    kinds: list[str] = []
    if conversation.first_response_at is None and conversation.first_response_due_at:
        kinds.append(TimerKind.FIRST_RESPONSE)
    if conversation.resolution_due_at is not None:
        kinds.append(TimerKind.RESOLUTION)
    return kinds


def schedule_timers(
    conversation: Conversation,
    *,
    policy: ChatSLA | None = None,
    pauses: Sequence[Pause] | None = None,
    policy_known: bool = False,
) -> None:
    """Upsert the chat's warning and breach rows and cancel the ones it no longer needs.

    A stage that already fired is never rescheduled (each fires once per chat and kind); a
    cancelled one comes back if it is wanted again (e.g. after a pause). Precondition: inside
    the action's transaction, conversation locked. `policy_known` says `policy` (possibly None)
    was already looked up for the chat's current priority.
    """
    if not policy_known:
        policy = policy_for(conversation.company_id, conversation.priority)
    if pauses is None:
        pauses = load_pauses(conversation.pk) if _pausing(policy) else []
    wanted = planned_timers(conversation, policy, pauses)
    if wanted:
        _upsert(conversation, wanted)
    stale = Q(stage__lt=Stage.FIRST_STEP)
    for kind, stage in wanted:
        stale &= ~Q(kind=kind, stage=stage)
    stale |= ~Q(kind__in=active_kinds(conversation))
    _cancel(Q(conversation_id=conversation.pk) & stale)


def _upsert(conversation: Conversation, wanted: Wanted) -> None:
    table = SlaTimer._meta.db_table
    rows = ", ".join(["(%s, %s, %s, %s, %s, NULL, %s)"] * len(wanted))
    params: list[str | int | bool | dt.datetime] = []
    for (kind, stage), due_at in sorted(wanted.items()):
        params += [conversation.company_id, conversation.pk, kind, stage, due_at, False]
    # A pending row moves with its due time; a cancelled one is revived; a fired one stays.
    sql = (
        f"INSERT INTO {table} (company_id, conversation_id, kind, stage, due_at, fired_at,"  # noqa: S608
        f" cancelled) VALUES {rows}"
        " ON CONFLICT (conversation_id, kind, stage) DO UPDATE"
        " SET due_at = EXCLUDED.due_at, fired_at = NULL, cancelled = EXCLUDED.cancelled"
        f" WHERE ({table}.fired_at IS NULL AND {table}.due_at <> EXCLUDED.due_at)"
        f" OR {table}.cancelled"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _cancel(condition: Q) -> int:
    return (
        SlaTimer.objects.unscoped()
        .filter(condition, fired_at__isnull=True)
        .update(fired_at=timezone.now(), cancelled=True)
    )


def _pausing(policy: ChatSLA | None) -> bool:
    return policy is not None and policy.pause_while_waiting_on_customer


def load_pauses(conversation_id: int) -> list[Pause]:
    return list(
        SlaPause.objects.unscoped()
        .filter(conversation_id=conversation_id)
        .order_by("started_at")
        .values_list("started_at", "ended_at")
    )


def _apply_due_times(conversation: Conversation, policy: ChatSLA | None) -> None:
    """Re-derive the resolution due time with the recorded pauses, copy the due times to the
    active assignment, and reschedule. The conversation itself is saved by the caller."""
    pauses = load_pauses(conversation.pk) if _pausing(policy) else []
    if pauses:
        conversation.resolution_due_at = resolution_due(policy, conversation.created_at, pauses)
    if conversation.status == ConversationStatus.ASSIGNED:  # waiting: no active assignment
        ChatAssignment.objects.unscoped().filter(
            conversation_id=conversation.pk, status__in=ACTIVE_ASSIGNMENT_STATUSES
        ).update(
            first_response_due_at=conversation.first_response_due_at,
            resolution_due_at=conversation.resolution_due_at,
        )
    schedule_timers(conversation, policy=policy, pauses=pauses, policy_known=True)


def customer_answered(
    conversation: Conversation, received_at: dt.datetime, *, due_changed: bool
) -> None:
    """An inbound message was recorded: schedule new or changed due times, end a pause.

    Call before the inbound action clears `waiting_on_customer_since` and saves the chat:
    if the policy pauses while waiting on the customer, the wait from the agent's last reply
    to `received_at` is recorded and `resolution_due_at` (saved by the caller) is pushed
    forward by its business minutes. `due_changed`: the action has just (re)computed the due
    times (new chat or new priority).
    """
    paused_since = conversation.waiting_on_customer_since
    if not due_changed and paused_since is None:
        return
    policy = policy_for(conversation.company_id, conversation.priority)
    paused = paused_since is not None and _pausing(policy) and received_at > paused_since
    if paused and paused_since is not None:
        SlaPause.objects.bulk_create(
            [
                SlaPause(
                    company_id=conversation.company_id,
                    conversation_id=conversation.pk,
                    started_at=paused_since,
                    ended_at=received_at,
                )
            ],
            ignore_conflicts=True,  # a replayed message records its pause once
        )
    if due_changed or paused:
        _apply_due_times(conversation, policy)


def due_times_changed(conversation: Conversation) -> None:
    """The action has recomputed the chat's due times (a new priority): keep the pauses already
    recorded and reschedule. Call before saving the due-time fields."""
    _apply_due_times(conversation, policy_for(conversation.company_id, conversation.priority))


def agent_replied(conversation: Conversation) -> None:
    """An agent reply: once the first response is in, its clock and escalations stop."""
    if conversation.first_response_at is not None:
        _cancel(Q(conversation_id=conversation.pk, kind=TimerKind.FIRST_RESPONSE))


def conversation_closed(conversation: Conversation) -> None:
    """Resolved or abandoned: nothing left to warn about or escalate."""
    _cancel(Q(conversation_id=conversation.pk))
