"""Firing due SLA timers: claim, re-check, record, escalate — each stage exactly once.

`fire_due` handles one batch in one transaction:

1. **claim** the earliest due rows: ``SELECT … WHERE fired_at IS NULL AND due_at <= now ORDER
   BY due_at LIMIT n FOR UPDATE SKIP LOCKED`` (the partial index on due_at), so concurrent
   timers take disjoint rows and never wait for each other;
2. **lock their companies** with ``pg_try_advisory_xact_lock`` — the routing lock every chat
   action takes first (chats/locks.py). A company whose lock is busy (an action or router batch
   in flight) is left for the next turn, a few milliseconds later: the timer never waits while
   holding rows (no deadlock) and never judges a chat halfway through a change;
3. **mark** them fired with a conditional ``UPDATE … SET fired_at WHERE fired_at IS NULL``
   (on PostgreSQL steps 1-3 are one statement: one round trip per batch);
4. **re-check** every row against its chat — still open, first response still missing, clock
   not paused, due time unchanged — and drop the obsolete ones; **record** the rest: the
   AssignmentEvent (sla_warning / sla_breached / escalated / priority_changed), the missed
   flag on a breach, the escalation ladder's rows, and run the due escalation steps;
5. **commit, then publish** the events (sla.warning, sla.breached, and what the steps cause):
   they are outbox rows of the same transaction, written with one INSERT before the commit.

A crash before the commit rolls all of it back and the rows are claimed again; after it, the
record stands and its events are in the outbox: published by this timer right after the
commit, or by the outbox relay if it died first (events/outbox.py) — once either way.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import FilteredRelation, Q
from django.utils import timezone
from structlog.contextvars import bind_contextvars, unbind_contextvars

from events import outbox
from events.outbox import publish_on_commit
from events.schema import Event, EventType, make_event
from routing_service.chats.actions.errors import ActionError
from routing_service.chats.locks import ROUTING_LOCK_NAMESPACE
from routing_service.chats.models import (
    ACTIVE_ASSIGNMENT_STATUSES,
    OPEN_CONVERSATION_STATUSES,
    AssignmentEvent,
    Conversation,
)
from routing_service.observability import metrics
from routing_service.tenancy.models import Role
from sla_engine import escalation
from sla_engine.calendar import add_business_minutes
from sla_engine.deadlines import calendar_for, index_policies, pick_policy
from sla_engine.ladder import NOTIFY_SUPERVISORS, RAISE_PRIORITY, EscalationStep, parse_ladder
from sla_engine.ladder import step_from_json as _step_from_json
from sla_engine.models import ChatSLA, SlaTimer, Stage, TimerKind

logger = logging.getLogger(__name__)

DEFAULT_BATCH = 500
# "The database is unreachable", not "this row is bad": never a reason to drop a deadline.
INFRASTRUCTURE_ERRORS = (OperationalError, InterfaceError)
SUPERVISING_ROLES = frozenset({Role.SUPERVISOR, Role.COMPANY_ADMIN, Role.SUPERADMIN})
KIND_LABELS = {TimerKind.FIRST_RESPONSE: "first response", TimerKind.RESOLUTION: "resolution"}
STAGE_NAMES = {Stage.WARNING: "warning", Stage.BREACH: "breach"}
_CONVERSATION_FIELDS = (
    "id",
    "company_id",
    "queue_id",
    "status",
    "priority",
    "first_response_at",
    "first_response_due_at",
    "resolution_due_at",
    "waiting_on_customer_since",
    "escalation_level",
)


class Due(NamedTuple):
    id: int
    company_id: int
    conversation_id: int
    kind: str
    stage: int
    due_at: dt.datetime
    step: dict[str, Any] | None


@dataclass
class BatchResult:
    candidates: int = 0  # due rows seen (claimed or left for others)
    claimed: int = 0
    fired: int = 0
    dropped: int = 0
    # Companies whose routing lock was busy: their due rows wait for the next turn.
    busy_companies: int = 0
    events: list[Event] = field(default_factory=list)


def fire_due(*, now: dt.datetime | None = None, limit: int = DEFAULT_BATCH) -> BatchResult:
    """Fire up to `limit` due timers (one transaction), then publish their events."""
    now = now or timezone.now()
    result = BatchResult()
    rows: list[Due] = []
    try:
        with outbox.batch() as events:
            rows = _claim(now, limit, result)
            if rows:
                _Batch(now, rows, result).run()
    except INFRASTRUCTURE_ERRORS:
        raise
    except Exception:
        if len(rows) != 1:
            raise  # the worker retries these one at a time to find the bad one
        # Rolled back. One row that cannot be fired (a bug, bad data) must not block the
        # others forever: settle it as dropped, loudly.
        logger.exception("SLA timer %s could not be fired; dropped", rows[0].id)
        dropped = SlaTimer.objects.unscoped().filter(pk=rows[0].id, fired_at__isnull=True)
        result.dropped += dropped.update(fired_at=now, cancelled=True)
        result.fired = 0
        return result
    result.events = events.events
    metrics.count_sla_events(result.events)
    events.publish()  # a failure leaves them to the outbox relay
    return result


def next_due_at() -> dt.datetime | None:
    """The earliest pending deadline: one step down the partial index."""
    return (
        SlaTimer.objects.unscoped()
        .filter(fired_at__isnull=True)
        .order_by("due_at")
        .values_list("due_at", flat=True)
        .first()
    )


# --- claiming -------------------------------------------------------------------------------


def _claim(now: dt.datetime, limit: int, result: BatchResult) -> list[Due]:
    """Claim up to `limit` due rows of companies whose routing lock is free: they are ours."""
    if connection.vendor == "postgresql":
        return _claim_postgresql(now, limit, result)
    return _claim_portable(now, limit, result)


# Steps 1-3 of the module docstring in one round trip. `due` and `companies` are referenced
# more than once, so PostgreSQL materialises them: each row is locked, and each company's
# lock tried, exactly once. The outer LEFT JOIN returns the counts even when nothing is claimed.
_CLAIM_SQL = """
WITH due AS (
    SELECT id, company_id FROM {table}
    WHERE fired_at IS NULL AND due_at <= %(now)s
    ORDER BY due_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
), companies AS (
    SELECT company_id, pg_try_advisory_xact_lock(%(namespace)s::int, company_id::int) AS locked
    FROM (SELECT DISTINCT company_id FROM due) AS due_companies
), claimed AS (
    UPDATE {table} AS t SET fired_at = %(now)s
    FROM due JOIN companies USING (company_id)
    WHERE companies.locked AND t.id = due.id AND t.fired_at IS NULL
    RETURNING t.id, t.company_id, t.conversation_id, t.kind, t.stage, t.due_at, t.step
)
SELECT (SELECT count(*) FROM due), (SELECT count(*) FROM companies WHERE NOT locked),
       claimed.id, claimed.company_id, claimed.conversation_id, claimed.kind, claimed.stage,
       claimed.due_at, claimed.step
FROM (SELECT 1) AS one LEFT JOIN claimed ON true
"""


def _claim_postgresql(now: dt.datetime, limit: int, result: BatchResult) -> list[Due]:
    sql = _CLAIM_SQL.format(table=SlaTimer._meta.db_table)
    params: dict[str, int | dt.datetime] = {
        "now": now,
        "limit": limit,
        "namespace": ROUTING_LOCK_NAMESPACE,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        fetched = cursor.fetchall()
    result.candidates, result.busy_companies = fetched[0][0], fetched[0][1]
    rows = [
        # Django reads jsonb as text (JSONField decodes it); raw SQL decodes it here.
        Due(row[2], row[3], row[4], row[5], row[6], row[7], json.loads(row[8]) if row[8] else None)
        for row in fetched
        if row[2] is not None
    ]
    result.claimed = len(rows)
    return rows


def _claim_portable(now: dt.datetime, limit: int, result: BatchResult) -> list[Due]:
    """The same in three statements, for SQLite: no row or advisory locks there, but its
    transactions are IMMEDIATE, so this writer holds the whole database until it commits."""
    candidates = [
        Due(*row)
        for row in SlaTimer.objects.unscoped()
        .select_for_update(skip_locked=True)
        .filter(fired_at__isnull=True, due_at__lte=now)
        .order_by("due_at")
        .values_list("id", "company_id", "conversation_id", "kind", "stage", "due_at", "step")[
            :limit
        ]
    ]
    result.candidates = len(candidates)
    fired = mark_fired([row.id for row in candidates], now)
    rows = [row for row in candidates if row.id in fired]
    result.claimed = len(rows)
    return rows


def mark_fired(ids: Sequence[int], now: dt.datetime) -> set[int]:
    """The conditional UPDATE: only rows still pending become ours."""
    if not ids:
        return set()
    table = SlaTimer._meta.db_table
    marks = ", ".join(["%s"] * len(ids))
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET fired_at = %s WHERE id IN ({marks})"  # noqa: S608
            " AND fired_at IS NULL RETURNING id",
            [now, *ids],
        )
        return {row[0] for row in cursor.fetchall()}


def insert_log_rows(rows: list[dict[str, Any]]) -> None:
    """Append AssignmentEvent rows in bulk: COPY on PostgreSQL (a burst writes thousands; the
    ORM would spend more time building model instances than the database spends storing them).
    """
    if not rows:
        return
    if connection.vendor != "postgresql":
        AssignmentEvent.objects.bulk_create([AssignmentEvent(**row) for row in rows])
        return
    columns = list(rows[0])
    copy_sql = f"COPY {AssignmentEvent._meta.db_table} ({', '.join(columns)}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(copy_sql) as copy:
        for row in rows:
            copy.write_row([json.dumps(v) if k == "data" else v for k, v in row.items()])


# --- one batch --------------------------------------------------------------------------------


class _Batch:
    """The claimed rows of one transaction, re-checked and recorded in bulk."""

    def __init__(self, now: dt.datetime, rows: list[Due], result: BatchResult) -> None:
        self.now = now
        self.rows = rows
        self.result = result
        conversation_ids = {row.conversation_id for row in rows}
        # One query for the chats, their active assignment and its holder's role.
        holder = FilteredRelation(
            "assignments", condition=Q(assignments__status__in=ACTIVE_ASSIGNMENT_STATUSES)
        )
        self.chats: dict[int, dict[str, Any]] = {}
        self.holders: dict[int, tuple[int, int]] = {}
        # Chats a supervisor (or admin) already holds: "reassign to a supervisor" leaves them.
        self.supervised: set[int] = set()
        for chat in (
            Conversation.objects.unscoped()
            .filter(pk__in=conversation_ids)
            .annotate(holder=holder)
            .values(*_CONVERSATION_FIELDS, "holder__id", "holder__agent_id", "holder__agent__role")
        ):
            self.chats[chat["id"]] = chat
            if chat["holder__id"] is not None:
                self.holders[chat["id"]] = (chat["holder__id"], chat["holder__agent_id"])
                if chat["holder__agent__role"] in SUPERVISING_ROLES:
                    self.supervised.add(chat["id"])
        self.policies = index_policies(
            ChatSLA.objects.unscoped().filter(company_id__in={row.company_id for row in rows})
        )
        self.dropped: list[int] = []
        self.repended = 0
        self.written_at = timezone.now()  # AssignmentEvent.created_at: when the row is written
        self.logs: list[dict[str, Any]] = []
        self.events: list[Event] = []
        self.missed: dict[str, list[int]] = {kind: [] for kind in TimerKind.values}
        self.new_steps: list[SlaTimer] = []
        self.steps: list[Due] = []

    def run(self) -> None:
        for row in self.rows:
            bind_contextvars(company_id=row.company_id, conversation_id=row.conversation_id)
            chat = self.chats.get(row.conversation_id)
            if chat is None:
                self._drop(row)
                continue
            if not self._still_due(row, chat):
                continue
            if row.stage >= Stage.FIRST_STEP:
                self.steps.append(row)
            else:
                self._record(row, chat)
        if self.dropped:
            SlaTimer.objects.unscoped().filter(pk__in=self.dropped).update(cancelled=True)
        insert_log_rows(self.logs)
        conversations = Conversation.objects.unscoped()
        if self.missed[TimerKind.FIRST_RESPONSE]:
            conversations.filter(
                pk__in=self.missed[TimerKind.FIRST_RESPONSE],
                first_response_at__isnull=True,
                first_response_met__isnull=True,
            ).update(first_response_met=False)
        if self.missed[TimerKind.RESOLUTION]:
            conversations.filter(
                pk__in=self.missed[TimerKind.RESOLUTION],
                status__in=OPEN_CONVERSATION_STATUSES,
                resolution_met__isnull=True,
            ).update(resolution_met=False)
        if self.new_steps:
            SlaTimer.objects.bulk_create(self.new_steps, ignore_conflicts=True)
        publish_on_commit(self.events)
        for row in self.steps:
            bind_contextvars(company_id=row.company_id, conversation_id=row.conversation_id)
            self._run_step(row, self.chats[row.conversation_id])
        unbind_contextvars("company_id", "conversation_id")
        self.result.fired += len(self.rows) - len(self.dropped) - self.repended
        self.result.dropped += len(self.dropped)

    def _policy(self, chat: dict[str, Any]) -> ChatSLA | None:
        return pick_policy(self.policies, chat["company_id"], chat["queue_id"], chat["priority"])

    def _still_due(self, row: Due, chat: dict[str, Any]) -> bool:
        """Whether the row still means something; drops (or re-pends) it otherwise."""
        if chat["status"] not in OPEN_CONVERSATION_STATUSES:
            return self._drop(row)
        if row.kind == TimerKind.FIRST_RESPONSE:
            due = chat["first_response_due_at"]
            if chat["first_response_at"] is not None or due is None:
                return self._drop(row)
        else:
            due = chat["resolution_due_at"]
            if due is None:
                return self._drop(row)
            policy = self._policy(chat)
            paused = (
                policy is not None
                and policy.pause_while_waiting_on_customer
                and chat["waiting_on_customer_since"] is not None
            )
            if paused and row.stage < Stage.FIRST_STEP:
                # The clock stands still; the customer's answer pushes the due time and
                # reschedules this stage (scheduler.customer_answered).
                return self._drop(row)
        if row.stage == Stage.BREACH and due > self.now:
            # The due time moved later without the row following (it always should): re-pend.
            SlaTimer.objects.unscoped().filter(pk=row.id).update(fired_at=None, due_at=due)
            self.repended += 1
            return False
        return True

    def _drop(self, row: Due) -> bool:
        self.dropped.append(row.id)
        return False

    def _holder(self, chat: dict[str, Any]) -> tuple[int | None, int | None]:
        return self.holders.get(chat["id"], (None, None))

    def _event(
        self,
        event_type: EventType,
        row: Due,
        chat: dict[str, Any],
        *,
        to_holder: bool = True,
        **extra: Any,
    ) -> Event:
        """The event of a stage, for the supervisors and (`to_holder`) whoever holds the chat,
        or the queue when nobody does."""
        assignment_id, agent_id = self._holder(chat)
        first = row.kind == TimerKind.FIRST_RESPONSE
        due = chat["first_response_due_at" if first else "resolution_due_at"]
        data = {
            "conversation_id": chat["id"],
            "kind": row.kind,
            "stage": STAGE_NAMES.get(row.stage, "escalation"),
            "due_at": due.isoformat() if due else None,
            "scheduled_at": row.due_at.isoformat(),
            "assignment_id": assignment_id,
            "agent_id": agent_id,
            "priority": chat["priority"],
            "status": chat["status"],
            "escalation_level": chat["escalation_level"],
            **extra,
        }
        return make_event(
            event_type,
            chat["company_id"],
            data,
            supervisors=True,
            queue=to_holder and agent_id is None,
            agents=[agent_id] if to_holder else [],
        )

    def _record(self, row: Due, chat: dict[str, Any]) -> None:
        """A warning or a breach: log it, flag the miss, schedule the ladder, tell people."""
        breach = row.stage == Stage.BREACH
        assignment_id, agent_id = self._holder(chat)
        label = KIND_LABELS[TimerKind(row.kind)]
        self.logs.append(
            {
                "company_id": chat["company_id"],
                "conversation_id": chat["id"],
                "assignment_id": assignment_id,
                "action": AssignmentEvent.Action.SLA_BREACHED
                if breach
                else AssignmentEvent.Action.SLA_WARNING,
                "actor_id": None,
                "from_agent_id": agent_id,
                "to_agent_id": None,
                "reason": f"{label} {'target missed' if breach else 'due soon'}",
                "data": {"kind": row.kind, "due_at": row.due_at.isoformat()},
                "created_at": self.written_at,
            }
        )
        self.events.append(
            self._event(EventType.SLA_BREACHED if breach else EventType.SLA_WARNING, row, chat)
        )
        if breach:
            self.missed[row.kind].append(chat["id"])
            self._schedule_ladder(row, chat)

    def _schedule_ladder(self, row: Due, chat: dict[str, Any]) -> None:
        """The ladder in force at the breach, counted in business minutes from the due time."""
        policy = self._policy(chat)
        if policy is None:
            return
        try:
            steps = parse_ladder(policy.escalation_ladder)
        except ValueError:
            logger.warning("SLA policy %s has an invalid escalation ladder", policy.pk)
            return
        calendar = calendar_for(policy)
        for n, step in enumerate(steps):
            if step.after_minutes == 0:
                due_at = row.due_at  # right away, even outside working hours
            else:
                try:
                    due_at = add_business_minutes(calendar, row.due_at, step.after_minutes)
                except ValueError:  # a calendar without working time: use the wall clock
                    due_at = row.due_at + dt.timedelta(minutes=step.after_minutes)
            self.new_steps.append(
                SlaTimer(
                    company_id=chat["company_id"],
                    conversation_id=chat["id"],
                    kind=row.kind,
                    stage=Stage.FIRST_STEP + n,
                    due_at=due_at,
                    step=step.as_json(),
                )
            )

    def _run_step(self, row: Due, chat: dict[str, Any]) -> None:
        """One escalation step, in its own savepoint: a failing step never blocks the others."""
        step = _step_from_json(row.step or {})
        number = row.stage - Stage.FIRST_STEP + 1
        label = KIND_LABELS[TimerKind(row.kind)]
        reason = f"SLA {label} target missed: escalation step {number} ({describe(step)})"
        try:
            with transaction.atomic():
                outcome = self._act(step, row, chat, reason)
        except ActionError as exc:
            outcome = f"not possible: {exc.message}"
        except Exception:
            logger.exception("escalation step %s of chat %s failed", number, chat["id"])
            outcome = "failed"
        detail = {"step": number, **step.as_json(), "outcome": outcome}
        # A step is the supervisors' business (the breach itself already told the holder);
        # only a raised priority changes the holder's own targets. A reassignment tells the
        # people concerned with its own chat.transferred.
        to_holder = step.action == RAISE_PRIORITY
        publish_on_commit(
            [self._event(EventType.SLA_BREACHED, row, chat, to_holder=to_holder, escalation=detail)]
        )

    def _act(self, step: EscalationStep, row: Due, chat: dict[str, Any], reason: str) -> str:
        assignment_id, agent_id = self._holder(chat)
        ladder = {"kind": row.kind, "ladder_action": step.action, "ladder_to": step.to}
        if step.action == RAISE_PRIORITY:
            raised = escalation.raise_priority(chat["id"], reason=reason)
            return f"priority {raised}" if raised else "already urgent"
        if step.action == NOTIFY_SUPERVISORS or assignment_id is None:
            # Reassigning a chat nobody holds: it is in the queue already; supervisors decide.
            conversation = Conversation.objects.unscoped().get(pk=chat["id"])
            AssignmentEvent.objects.create(
                company_id=chat["company_id"],
                conversation=conversation,
                assignment_id=assignment_id,
                action=AssignmentEvent.Action.ESCALATED,
                from_agent_id=agent_id,
                reason=reason,
                data=ladder,
            )
            return "supervisors notified" if step.action == NOTIFY_SUPERVISORS else "in queue"
        if step.to == "agent":
            escalation.reassign_to_another_agent(
                assignment_id, chat["company_id"], reason=reason, now=self.now, **ladder
            )
            return "back to the queue for another agent"
        if chat["id"] in self.supervised:
            return "already with a supervisor"
        new = escalation.reassign_to_supervisor(
            assignment_id, chat["company_id"], reason=reason, now=self.now
        )
        if new.pk == assignment_id:
            return "no available supervisor: queued as urgent"
        return f"reassigned to supervisor {new.agent_id}"


def describe(step: EscalationStep) -> str:
    if step.action == NOTIFY_SUPERVISORS:
        return "notify supervisors"
    if step.action == RAISE_PRIORITY:
        return "raise priority"
    return f"reassign to {'another agent' if step.to == 'agent' else 'a supervisor'}"
