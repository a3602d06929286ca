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
from collections import defaultdict
from collections.abc import Collection, Iterable, Sequence
from typing import Any

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
    PolicyIndex,
    calendar_for,
    index_policies,
    pick_policy,
    policy_for,
    resolution_due,
    warning_times,
)
from sla_engine.models import ChatSLA, SlaPause, SlaTimer, Stage, TimerKind

__all__ = [
    "agent_replied",
    "conversation_closed",
    "customer_answered",
    "customer_answered_many",
    "due_times_changed",
    "schedule_many",
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
        policy = policy_for(conversation.company_id, conversation.priority, conversation.queue_id)
    if pauses is None:
        pauses = load_pauses([conversation.pk]).get(conversation.pk, []) if _pausing(policy) else []
    schedule_many([(conversation, policy, pauses)])


def schedule_many(
    items: Sequence[tuple[Conversation, ChatSLA | None, Sequence[Pause]]],
    *,
    new: Collection[int] = (),
) -> None:
    """`schedule_timers` for many chats in three statements: read their pending rows, upsert
    the wanted ones, cancel the stale ones. `new`: ids of chats created in this transaction,
    which have no rows yet (a first-contact batch then skips the read)."""
    if not items:
        return
    wanted = {c.pk: planned_timers(c, policy, pauses) for c, policy, pauses in items}
    active = {c.pk: set(active_kinds(c)) for c, _, _ in items}
    existing = [pk for pk in wanted if pk not in new]
    stale = [
        pk
        for pk, conversation_id, kind, stage in (
            SlaTimer.objects.unscoped()
            .filter(conversation_id__in=existing, fired_at__isnull=True)
            .values_list("pk", "conversation_id", "kind", "stage")
            if existing
            else ()
        )
        if kind not in active[conversation_id]
        or (stage < Stage.FIRST_STEP and (kind, stage) not in wanted[conversation_id])
    ]
    rows = [
        (c.company_id, c.pk, kind, stage, due_at)
        for c, _, _ in items
        for (kind, stage), due_at in sorted(wanted[c.pk].items())
    ]
    if rows:
        _upsert(rows)
    if stale:
        _cancel(Q(pk__in=stale))


def _upsert(rows: Sequence[tuple[int, int, str, int, dt.datetime]]) -> None:
    table = SlaTimer._meta.db_table
    params: list[Any]
    if connection.vendor == "postgresql":
        # One array per column: a fixed statement whatever the number of rows (a first-contact
        # batch schedules hundreds), converted once by psycopg instead of per placeholder.
        source = (
            "SELECT c, v, k, s, d, NULL::timestamptz, false FROM unnest("
            "%s::bigint[], %s::bigint[], %s::text[], %s::int[], %s::timestamptz[])"
            " AS r(c, v, k, s, d)"
        )
        companies, conversations, kinds, stages, dues = zip(*rows, strict=True)
        params = [
            list(companies),
            list(conversations),
            [str(kind) for kind in kinds],
            [int(stage) for stage in stages],
            list(dues),
        ]
    else:
        source = "VALUES " + ", ".join(["(%s, %s, %s, %s, %s, NULL, %s)"] * len(rows))
        params = []
        for row in rows:
            params += [*row, False]
    # A pending row moves with its due time; a cancelled one is revived; a fired one stays.
    sql = (
        f"INSERT INTO {table} (company_id, conversation_id, kind, stage, due_at, fired_at,"
        f" cancelled) {source}"
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


def _policies(conversations: Iterable[Conversation]) -> PolicyIndex:
    """The policies of these chats' companies (and their queues) and priorities, in one query."""
    keys = {(c.company_id, c.priority) for c in conversations}
    if not keys:
        return {}
    return index_policies(
        ChatSLA.objects.unscoped().filter(
            company_id__in={company for company, _ in keys},
            priority__in={priority for _, priority in keys},
        )
    )


def _policy_of(policies: PolicyIndex, conversation: Conversation) -> ChatSLA | None:
    return pick_policy(
        policies, conversation.company_id, conversation.queue_id, conversation.priority
    )


def load_pauses(conversation_ids: Sequence[int]) -> dict[int, list[Pause]]:
    pauses: dict[int, list[Pause]] = defaultdict(list)
    if conversation_ids:
        for conversation_id, started, ended in (
            SlaPause.objects.unscoped()
            .filter(conversation_id__in=conversation_ids)
            .order_by("started_at")
            .values_list("conversation_id", "started_at", "ended_at")
        ):
            pauses[conversation_id].append((started, ended))
    return pauses


def _apply_due_times(
    conversations: Sequence[Conversation], policies: PolicyIndex, *, new: Collection[int] = ()
) -> None:
    """Re-derive the resolution due times with the recorded pauses, copy the due times to the
    active assignments, and reschedule. The conversations are saved by the caller."""

    def policy_of(conversation: Conversation) -> ChatSLA | None:
        return _policy_of(policies, conversation)

    pauses = load_pauses(
        [c.pk for c in conversations if c.pk not in new and _pausing(policy_of(c))]
    )
    for conversation in conversations:
        if pauses.get(conversation.pk):
            conversation.resolution_due_at = resolution_due(
                policy_of(conversation), conversation.created_at, pauses[conversation.pk]
            )
    # Only an assigned chat has an active assignment (waiting ones are in the queue).
    assigned = {c.pk: c for c in conversations if c.status == ConversationStatus.ASSIGNED}
    if assigned:
        holders = list(
            ChatAssignment.objects.unscoped().filter(
                conversation_id__in=list(assigned), status__in=ACTIVE_ASSIGNMENT_STATUSES
            )
        )
        for assignment in holders:
            conversation = assigned[assignment.conversation_id]
            assignment.first_response_due_at = conversation.first_response_due_at
            assignment.resolution_due_at = conversation.resolution_due_at
        ChatAssignment.objects.bulk_update(holders, ["first_response_due_at", "resolution_due_at"])
    schedule_many([(c, policy_of(c), pauses.get(c.pk, [])) for c in conversations], new=new)


Answer = tuple[Conversation, dt.datetime, bool]


def customer_answered(
    conversation: Conversation, received_at: dt.datetime, *, due_changed: bool
) -> None:
    """An inbound message was recorded: schedule new or changed due times, end a pause.

    Call before the inbound action clears `waiting_on_customer_since` and saves the chat:
    if the policy pauses while waiting on the customer, the wait from the agent's last reply
    to `received_at` (the customer's first message after it) is recorded and
    `resolution_due_at` (saved by the caller) is pushed forward by its business minutes.
    `due_changed`: the action has just (re)computed the due times (new chat or new priority).
    """
    customer_answered_many([(conversation, received_at, due_changed)])


def customer_answered_many(answers: Sequence[Answer], *, new: Collection[int] = ()) -> None:
    """`customer_answered` for a batch of chats (the router's batches): at most eight queries
    whatever the batch size. Each answer is (conversation, received_at, due_changed); `new`:
    ids of the chats the batch created (no timers, pauses or assignments to read)."""
    todo = [a for a in answers if a[2] or a[0].waiting_on_customer_since is not None]
    if not todo:
        return
    policies = _policies(c for c, _, _ in todo)
    pauses: list[SlaPause] = []
    touched: list[Conversation] = []
    for conversation, received_at, due_changed in todo:
        since = conversation.waiting_on_customer_since
        policy = _policy_of(policies, conversation)
        paused = since is not None and _pausing(policy) and received_at > since
        if paused and since is not None:
            pauses.append(
                SlaPause(
                    company_id=conversation.company_id,
                    conversation_id=conversation.pk,
                    started_at=since,
                    ended_at=received_at,
                )
            )
        if due_changed or paused:
            touched.append(conversation)
    if pauses:
        # A replayed message records its pause once.
        SlaPause.objects.bulk_create(pauses, ignore_conflicts=True)
    if touched:
        _apply_due_times(touched, policies, new=new)


def due_times_changed(conversation: Conversation) -> None:
    """The action has recomputed the chat's due times (a new priority): keep the pauses already
    recorded and reschedule. Call before saving the due-time fields."""
    _apply_due_times([conversation], _policies([conversation]))


def agent_replied(conversation: Conversation) -> None:
    """An agent reply: once the first response is in, its clock and escalations stop."""
    if conversation.first_response_at is not None:
        _cancel(Q(conversation_id=conversation.pk, kind=TimerKind.FIRST_RESPONSE))


def conversation_closed(conversation: Conversation) -> None:
    """Resolved or abandoned: nothing left to warn about or escalate."""
    _cancel(Q(conversation_id=conversation.pk))
