"""Every write to queues, memberships and queue rules, and every move of a chat between
queues (transfer, overflow, a deleted queue). Views, the admin, tenancy actions and the router
call these; each raises the company's `RoutingPolicy.queues_version` so every router's cached
configuration (`routing_service.queues.config`) is reloaded at its next batch.

Validation lives here, not in serializers, so the API, the admin and scripts refuse the same
things: names unique per company, members of the company who can take chats, overflow chains
that end, valid calendars, auto-replies and rule matches. Refusals are `QueueConfigError`s
naming each field at fault.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from django.db import transaction
from django.db.models import DateTimeField, Exists, ExpressionWrapper, F, OuterRef, Value
from django.utils import timezone
from django.utils.translation import gettext as _

from events.outbox import publish_on_commit
from routing_service.chats.actions.errors import ActionError
from routing_service.chats.bulk import insert_rows
from routing_service.chats.locks import lock_company_routing
from routing_service.chats.models import (
    OPEN_CONVERSATION_STATUSES,
    AssignmentEvent,
    Conversation,
    ConversationStatus,
    RoutingPolicy,
    RoutingStrategy,
)
from routing_service.queues import config
from routing_service.queues import rules as queue_rules
from routing_service.queues.models import (
    DEFAULT_SKILL_LEVEL,
    MAX_SKILL_LEVEL,
    MIN_SKILL_LEVEL,
    AbandonedCountAs,
    Queue,
    QueueMembership,
    QueueRule,
)
from routing_service.tenancy.models import HANDLING_ROLES, AgentStatus, Role, User

DEFAULT_QUEUE_NAME = "Default"
MAX_TIMEOUT_SECONDS = 24 * 3600

Errors = dict[str, list[str]]


class QueueConfigError(ActionError):
    """A refused queue or rule configuration: `errors` maps each field at fault to messages."""

    def __init__(self, errors: Errors) -> None:
        field, messages = next(iter(errors.items()))
        super().__init__("invalid", messages[0], field=field, status=400)
        self.errors = errors

    def as_dict(self) -> dict[str, object]:
        return {"code": self.code, "detail": self.message, **self.errors}


def bump_version(company_id: int) -> None:
    """The company's queue configuration changed: every router reloads it next batch."""
    RoutingPolicy.objects.unscoped().filter(company_id=company_id).update(
        queues_version=F("queues_version") + 1
    )
    config.forget(company_id)
    transaction.on_commit(lambda: config.forget(company_id))


# --- default queue and membership that follows the people ----------------------------------


@transaction.atomic
def ensure_default_queue(company_id: int) -> Queue:
    """The company's default queue, created (with every agent and supervisor in it) when it
    has none. Called when a company is created, and by the router for hand-made companies."""
    existing = Queue.objects.unscoped().filter(company_id=company_id, is_default=True).first()
    if existing is not None:
        return existing
    name = DEFAULT_QUEUE_NAME
    if Queue.objects.unscoped().filter(company_id=company_id, name=name).exists():
        name = f"{DEFAULT_QUEUE_NAME} queue"
    queue = Queue.objects.create(company_id=company_id, name=name, is_default=True)
    user_ids = User.objects.filter(
        company_id=company_id, role__in=HANDLING_ROLES, is_active=True
    ).values_list("pk", flat=True)
    QueueMembership.objects.bulk_create(
        [QueueMembership(company_id=company_id, queue=queue, user_id=uid) for uid in user_ids],
        ignore_conflicts=True,
    )
    bump_version(company_id)
    return queue


def sync_user_queues(user: User) -> None:
    """Keep a person's memberships in step with their company and role: none outside their
    company, none unless they take chats, and the default queue when they take chats and are
    in no queue of their company (a new agent or supervisor, a promotion, a move)."""
    stale = QueueMembership.objects.unscoped().filter(user_id=user.pk)
    if user.company_id is not None and user.role in HANDLING_ROLES:
        stale = stale.exclude(company_id=user.company_id)
    touched = set(stale.values_list("company_id", flat=True))
    stale.delete()
    if user.company_id is not None and user.role in HANDLING_ROLES:
        has_queue = QueueMembership.objects.unscoped().filter(
            user_id=user.pk, company_id=user.company_id
        )
        if not has_queue.exists():
            queue = ensure_default_queue(user.company_id)
            QueueMembership.objects.get_or_create(
                queue=queue,
                user_id=user.pk,
                defaults={"company_id": user.company_id, "skill_level": DEFAULT_SKILL_LEVEL},
            )
            touched.add(user.company_id)
    for company_id in touched:
        bump_version(company_id)


# --- queues --------------------------------------------------------------------------------

# The fields a queue is written with, in the order the API shows them.
QUEUE_FIELD_ORDER = (
    "name",
    "is_default",
    "strategy",
    "offer_timeout_seconds",
    "service_level_seconds",
    "service_level_target",
    "abandoned_count_as",
    "short_abandon_seconds",
    "calendar",
    "overflow_queue",
    "overflow_after_seconds",
    "overflow_when_no_member_available",
    "auto_reply",
)
QUEUE_FIELDS = frozenset(QUEUE_FIELD_ORDER)


def _int_between(value: Any, low: int, high: int, *, nullable: bool) -> str | None:
    if value is None:
        return None if nullable else _("This field may not be null.")
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        return _("Must be a whole number from %(low)s to %(high)s.") % {"low": low, "high": high}
    return None


def _queue_errors(company_id: int, queue: Queue, values: Mapping[str, Any]) -> Errors:
    errors: Errors = {}
    if "name" in values:
        name = values["name"]
        if not isinstance(name, str) or not name.strip() or len(name) > 120:
            errors["name"] = [_("A name of 1 to 120 characters is required.")]
        elif (
            Queue.objects.unscoped()
            .filter(company_id=company_id, name=name.strip())
            .exclude(pk=queue.pk)
            .exists()
        ):
            errors["name"] = [_("The company already has a queue of that name.")]
    if "strategy" in values and values["strategy"] not in (None, *RoutingStrategy.values):
        errors["strategy"] = [_("Must be round_robin, least_busy, manual or null.")]
    for name, low, high, nullable in (
        ("offer_timeout_seconds", 5, MAX_TIMEOUT_SECONDS, True),
        ("service_level_seconds", 1, MAX_TIMEOUT_SECONDS, False),
        ("short_abandon_seconds", 0, MAX_TIMEOUT_SECONDS, False),
        ("overflow_after_seconds", 1, 7 * MAX_TIMEOUT_SECONDS, True),
    ):
        if name in values:
            message = _int_between(values[name], low, high, nullable=nullable)
            if message:
                errors[name] = [message]
    if "service_level_target" in values:
        target = values["service_level_target"]
        if isinstance(target, bool) or not isinstance(target, int | float) or not 0 < target <= 1:
            errors["service_level_target"] = [_("Must be a fraction above 0, at most 1.")]
    if "abandoned_count_as" in values and values["abandoned_count_as"] not in (
        AbandonedCountAs.values
    ):
        errors["abandoned_count_as"] = [_("Must be missed, excluded or short_excluded.")]
    for name in ("overflow_when_no_member_available", "is_default"):
        if name in values and not isinstance(values[name], bool):
            errors[name] = [_("Must be true or false.")]
    if "calendar" in values:
        errors.update(queue_rules.calendar_errors(values["calendar"]))
    if "auto_reply" in values:
        errors.update(queue_rules.auto_reply_errors(values["auto_reply"]))
    if "overflow_queue" in values:
        errors.update(_overflow_errors(company_id, queue, values["overflow_queue"]))
    if values.get("is_default") is False and queue.pk and queue.is_default:
        errors["is_default"] = [
            _("A company always has a default queue: make another queue the default instead.")
        ]
    return errors


def queue_config_errors(company_id: int, queue: Queue, values: Mapping[str, Any]) -> Errors:
    """What `create_queue`/`update_queue` would refuse in `values` (for the admin's forms)."""
    return _queue_errors(company_id, queue, values)


def rule_config_errors(company_id: int, values: Mapping[str, Any]) -> Errors:
    """What `create_rule`/`update_rule` would refuse in `values` (for the admin's forms)."""
    return _rule_errors(company_id, values)


def _overflow_errors(company_id: int, queue: Queue, target: Queue | int | None) -> Errors:
    target_id = target.pk if isinstance(target, Queue) else target
    if target_id is None:
        return {}
    if isinstance(target_id, bool) or not isinstance(target_id, int):
        return {"overflow_queue": [_("Must be a queue id or null.")]}
    if target_id == queue.pk:
        return {"overflow_queue": [_("A queue cannot overflow to itself.")]}
    overflow_of = dict(
        Queue.objects.unscoped()
        .filter(company_id=company_id)
        .values_list("pk", "overflow_queue_id")
    )
    if target_id not in overflow_of:
        return {"overflow_queue": [_("No such queue in this company.")]}
    if queue.pk and queue_rules.overflow_cycle(overflow_of, queue.pk, target_id):
        return {"overflow_queue": [_("This overflow would come back to the queue: a cycle.")]}
    return {}


def _member_errors(
    company_id: int, members: Sequence[tuple[int, int]]
) -> tuple[Errors, list[tuple[int, int]]]:
    """Members as (user id, skill level): people of the company who take chats, once each."""
    seen: set[int] = set()
    cleaned: list[tuple[int, int]] = []
    for user_id, level in members:
        if isinstance(user_id, bool) or not isinstance(user_id, int) or user_id in seen:
            return {"members": [_("Each member must be a distinct user id.")]}, []
        if isinstance(level, bool) or not isinstance(level, int):
            return {"members": [_("skill_level must be a whole number.")]}, []
        if not MIN_SKILL_LEVEL <= level <= MAX_SKILL_LEVEL:
            return {"members": [_("skill_level must be from 1 to 10.")]}, []
        seen.add(user_id)
        cleaned.append((user_id, level))
    found = set(
        User.objects.filter(
            pk__in=seen, company_id=company_id, role__in=HANDLING_ROLES
        ).values_list("pk", flat=True)
    )
    missing = sorted(seen - found)
    if missing:
        return {
            "members": [
                _("Not agents or supervisors of this company: %(ids)s.")
                % {"ids": ", ".join(map(str, missing))}
            ]
        }, []
    return {}, cleaned


def _apply(queue: Queue, values: Mapping[str, Any]) -> None:
    for name, value in values.items():
        if name == "overflow_queue":
            queue.overflow_queue_id = value.pk if isinstance(value, Queue) else value
        elif name == "name":
            queue.name = value.strip()
        else:
            setattr(queue, name, value)


def _set_members(queue: Queue, members: list[tuple[int, int]]) -> None:
    wanted = dict(members)
    QueueMembership.objects.unscoped().filter(queue=queue).exclude(user_id__in=wanted).delete()
    current = {m.user_id: m for m in QueueMembership.objects.unscoped().filter(queue=queue)}
    changed = [m for uid, m in current.items() if m.skill_level != wanted[uid]]
    for membership in changed:
        membership.skill_level = wanted[membership.user_id]
    QueueMembership.objects.bulk_update(changed, ["skill_level"])
    QueueMembership.objects.bulk_create(
        [
            QueueMembership(company_id=queue.company_id, queue=queue, user_id=uid, skill_level=lvl)
            for uid, lvl in wanted.items()
            if uid not in current
        ]
    )


def _make_default(queue: Queue) -> None:
    Queue.objects.unscoped().filter(company_id=queue.company_id, is_default=True).exclude(
        pk=queue.pk
    ).update(is_default=False)


@transaction.atomic
def create_queue(
    company_id: int, *, members: Sequence[tuple[int, int]] | None = None, **values: Any
) -> Queue:
    """A new queue of the company; `members` as (user id, skill level)."""
    unknown = set(values) - QUEUE_FIELDS
    if unknown:
        raise TypeError(f"unknown queue fields: {sorted(unknown)}")
    values.setdefault("name", "")
    queue = Queue(company_id=company_id)
    errors = _queue_errors(company_id, queue, values)
    member_errors, cleaned = _member_errors(company_id, members or [])
    errors.update(member_errors)
    if errors:
        raise QueueConfigError(errors)
    lock_company_routing(company_id)
    if values.get("is_default"):
        _make_default(queue)
    _apply(queue, values)
    queue.save()
    _set_members(queue, cleaned)
    bump_version(company_id)
    return queue


@transaction.atomic
def update_queue(
    queue: Queue, *, members: Sequence[tuple[int, int]] | None = None, **values: Any
) -> Queue:
    """Change a queue's settings; `members` (when given) replaces its membership."""
    unknown = set(values) - QUEUE_FIELDS
    if unknown:
        raise TypeError(f"unknown queue fields: {sorted(unknown)}")
    company_id = queue.company_id
    lock_company_routing(company_id)
    errors = _queue_errors(company_id, queue, values)
    cleaned: list[tuple[int, int]] = []
    if members is not None:
        member_errors, cleaned = _member_errors(company_id, members)
        errors.update(member_errors)
    if errors:
        raise QueueConfigError(errors)
    if values.get("is_default") and not queue.is_default:
        _make_default(queue)
    _apply(queue, values)
    queue.save()
    if members is not None:
        _set_members(queue, cleaned)
    bump_version(company_id)
    if any(k in values for k in ("strategy", "overflow_queue")) or members is not None:
        from routing_service.chats.actions.routing import route_waiting

        route_waiting(company_id)
    return queue


@transaction.atomic
def delete_queue(queue: Queue, *, actor_id: int | None = None) -> int:
    """Delete a queue. The default queue cannot be deleted; the queue's open chats (waiting or
    being answered) move to the default queue first, keeping their place. Closed chats keep
    no queue (their history stays in the interval metrics). Returns how many chats moved."""
    if queue.is_default:
        raise ActionError(
            "invalid",
            _("The default queue cannot be deleted; make another queue the default first."),
            field="is_default",
            status=400,
        )
    company_id = queue.company_id
    lock_company_routing(company_id)
    default = ensure_default_queue(company_id)
    open_chats = list(
        Conversation.objects.unscoped()
        .select_for_update(of=("self",))
        .select_related("client", "channel")
        .filter(queue=queue, status__in=OPEN_CONVERSATION_STATUSES)
        .order_by("pk")
    )
    move_conversations(
        open_chats,
        default.pk,
        action=AssignmentEvent.Action.QUEUE_CHANGED,
        reason="queue deleted",
        actor_id=actor_id,
        keep_entered=False,
    )
    queue.delete()
    bump_version(company_id)
    if open_chats:
        from routing_service.chats.actions.routing import route_waiting

        route_waiting(company_id)
    return len(open_chats)


# --- rules ---------------------------------------------------------------------------------


def _rule_errors(company_id: int, values: Mapping[str, Any]) -> Errors:
    errors: Errors = {}
    if "order" in values:
        message = _int_between(values["order"], 0, 1_000_000, nullable=False)
        if message:
            errors["order"] = [message]
    if "queue" in values:
        queue = values["queue"]
        queue_id = queue.pk if isinstance(queue, Queue) else queue
        if (
            isinstance(queue_id, bool)
            or not isinstance(queue_id, int)
            or not Queue.objects.unscoped().filter(company_id=company_id, pk=queue_id).exists()
        ):
            errors["queue"] = [_("No such queue in this company.")]
    if "match" in values:
        errors.update(queue_rules.match_errors(values["match"]))
    return errors


def _apply_rule(rule: QueueRule, values: Mapping[str, Any]) -> None:
    for name, value in values.items():
        if name == "queue":
            rule.queue_id = value.pk if isinstance(value, Queue) else value
        else:
            setattr(rule, name, value)


@transaction.atomic
def create_rule(
    company_id: int, *, queue: Queue | int, order: int = 0, match: Any = None
) -> QueueRule:
    values = {"queue": queue, "order": order, "match": {} if match is None else match}
    errors = _rule_errors(company_id, values)
    if errors:
        raise QueueConfigError(errors)
    rule = QueueRule(company_id=company_id)
    _apply_rule(rule, values)
    rule.save()
    bump_version(company_id)
    return rule


@transaction.atomic
def update_rule(rule: QueueRule, **values: Any) -> QueueRule:
    unknown = set(values) - {"queue", "order", "match"}
    if unknown:
        raise TypeError(f"unknown rule fields: {sorted(unknown)}")
    errors = _rule_errors(rule.company_id, values)
    if errors:
        raise QueueConfigError(errors)
    _apply_rule(rule, values)
    rule.save()
    bump_version(rule.company_id)
    return rule


@transaction.atomic
def delete_rule(rule: QueueRule) -> None:
    company_id = rule.company_id
    rule.delete()
    bump_version(company_id)


# --- chats moving between queues -----------------------------------------------------------


def company_queue(company_id: int, queue_id: int, field: str = "to_queue") -> Queue:
    """The company's queue of that id, or a 404 naming `field` (another company's too)."""
    queue = Queue.objects.unscoped().filter(company_id=company_id, pk=queue_id).first()
    if queue is None:
        raise ActionError("not_found", _("Queue not found."), field=field, status=404)
    return queue


def move_conversations(
    conversations: Sequence[Conversation],
    queue_id: int,
    *,
    action: str,
    reason: str,
    actor_id: int | None = None,
    keep_entered: bool = False,
    now: dt.datetime | None = None,
    publish: bool = True,
    **data: Any,
) -> None:
    """Put chats in another queue, with an audit row each and a `queue.updated` event.

    `queue_entered_at` restarts (the new queue's overflow clock), unless `keep_entered`.
    Precondition: the company's routing lock is held and the rows are the caller's to change.
    """
    if not conversations:
        return
    now = now or timezone.now()
    from routing_service.chats.actions.routing import queue_event

    audit: list[AssignmentEvent] = []
    for conversation in conversations:
        previous = conversation.queue_id
        conversation.queue_id = queue_id
        if not keep_entered or conversation.queue_entered_at is None:
            conversation.queue_entered_at = now
        audit.append(
            AssignmentEvent(
                company_id=conversation.company_id,
                conversation=conversation,
                action=action,
                actor_id=actor_id,
                reason=reason,
                data={"from_queue": previous, "to_queue": queue_id, **data},
            )
        )
    by_entered: dict[dt.datetime | None, list[int]] = defaultdict(list)
    for conversation in conversations:
        by_entered[conversation.queue_entered_at].append(conversation.pk)
    for entered, ids in by_entered.items():
        Conversation.objects.unscoped().filter(pk__in=ids).update(
            queue_id=queue_id, queue_entered_at=entered
        )
    insert_rows(audit)
    if publish:
        publish_on_commit([queue_event(c) for c in conversations])


def overflow_waiting_chats(*, now: dt.datetime | None = None, limit: int = 500) -> int:
    """Move waiting chats on to their queue's overflow queue: those waiting in it longer than
    `overflow_after_seconds`, and every waiting chat of a queue with
    `overflow_when_no_member_available` whose members are all away, offline or inactive.
    Called by the router's periodic sweep (the same loop that expires offers); touches only
    queues that have an overflow configured, through the per-queue waiting index.

    Safe with several routers: each company is handled under its routing lock and the rows
    are re-checked there. Returns how many chats moved.
    """
    now = now or timezone.now()
    due: dict[int, list[tuple[int, int, str]]] = defaultdict(list)
    # By time, in one statement whatever the number of queues: for each queue that overflows
    # by time, a range of its waiting index (conversation_queue_wait_idx) — the deadline is on
    # the queue's side of the comparison, so PostgreSQL can scan the index per queue.
    deadline = ExpressionWrapper(
        Value(now) - F("queue__overflow_after_seconds") * Value(dt.timedelta(seconds=1)),
        output_field=DateTimeField(),
    )
    for conv_id, company_id, target, after in (
        Conversation.objects.unscoped()
        .filter(
            status=ConversationStatus.WAITING,
            queue__overflow_queue__isnull=False,
            queue__overflow_after_seconds__isnull=False,
            queue_entered_at__lte=deadline,
        )
        .order_by("queue_entered_at")
        .values_list(
            "pk", "company_id", "queue__overflow_queue_id", "queue__overflow_after_seconds"
        )[:limit]
    ):
        if target is not None:  # filtered above; narrows the type
            due[company_id].append((conv_id, target, f"waited {after} seconds"))
    # Nobody there: queues that overflow when no member agent is available, and have none.
    available = QueueMembership.objects.unscoped().filter(
        queue_id=OuterRef("pk"),
        user__status=AgentStatus.AVAILABLE,
        user__is_active=True,
        user__role=Role.AGENT,
    )
    unstaffed = list(
        Queue.objects.unscoped()
        .filter(overflow_queue__isnull=False, overflow_when_no_member_available=True)
        .exclude(Exists(available))
        .values_list("pk", flat=True)
    )
    if unstaffed:
        for conv_id, company_id, target in (
            Conversation.objects.unscoped()
            .filter(status=ConversationStatus.WAITING, queue_id__in=unstaffed)
            .order_by("queue_entered_at")
            .values_list("pk", "company_id", "queue__overflow_queue_id")[:limit]
        ):
            if target is not None:
                due[company_id].append((conv_id, target, "no member available"))
    moved = 0
    for company_id in sorted(due):
        with transaction.atomic():
            lock_company_routing(company_id)
            wanted = {conv_id: (target, why) for conv_id, target, why in due[company_id]}
            fresh = list(
                Conversation.objects.unscoped()
                .select_related("client", "channel")
                .filter(pk__in=list(wanted), status=ConversationStatus.WAITING)
                .order_by("pk")
            )
            groups: dict[tuple[int, str, int | None], list[Conversation]] = defaultdict(list)
            for conversation in fresh:
                target, why = wanted[conversation.pk]
                groups[(target, why, conversation.queue_id)].append(conversation)
            for (target, why, source), chats in groups.items():
                move_conversations(
                    chats,
                    target,
                    action=AssignmentEvent.Action.OVERFLOWED,
                    reason=why,
                    now=now,
                    from_overflow=source,
                )
                moved += len(chats)
            if fresh:
                from routing_service.chats.actions.routing import route_waiting

                route_waiting(company_id, now=now)
    return moved
