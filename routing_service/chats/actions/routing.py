"""③ Routing decisions written to the database: offers, expiries and the waiting queue.

The rules themselves are pure (`routing_service.router.rules`); this module loads their inputs,
applies their decisions and publishes what changed. Every function here expects the company's
routing lock (`chats.locks.lock_company_routing`) to be held by the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Collection, Mapping, Sequence

from django.db import connection, transaction
from django.db.models import Case, F, Max, Value, When
from django.utils import timezone

from analytics import live_counting
from events.outbox import publish_on_commit
from events.schema import Event, EventType, make_event
from routing_service.chats.actions.audit import log_event
from routing_service.chats.bulk import insert_rows, insert_values, new
from routing_service.chats.locks import lock_agents, lock_company_routing
from routing_service.chats.models import (
    AssignmentEvent,
    AssignmentStatus,
    Channel,
    ChatAssignment,
    Client,
    Conversation,
    ConversationStatus,
    RoutingPolicy,
    RoutingStrategy,
)
from routing_service.chats.payloads import conversation_data
from routing_service.chats.queries import rows
from routing_service.queues.config import CompanyQueues, company_queues
from routing_service.router import rules
from routing_service.tenancy.models import AgentStatus, Role, User

# Assignments that count as "this agent already had a go" for the offer round-robin.
_TRIED_STATUSES = (
    AssignmentStatus.DECLINED,
    AssignmentStatus.EXPIRED,
    AssignmentStatus.TRANSFERRED,
)
# How many waiting chats one routing pass considers (the queue's head; the rest waits anyway).
QUEUE_HEAD = 200


def routing_policy(company_id: int) -> RoutingPolicy:
    policy = next(iter(rows(RoutingPolicy, {"company_id": company_id})), None)
    if policy is None:  # every company gets one on creation; be safe for hand-made rows
        policy, _ = RoutingPolicy.objects.unscoped().get_or_create(company_id=company_id)
    return policy


def candidate(agent: User) -> rules.AgentCandidate:
    return rules.AgentCandidate(
        id=agent.pk,
        status=agent.status,
        active_chats=agent.active_chats,
        max_chats=agent.max_chats,
        skills=frozenset(agent.skills or ()),
        languages=frozenset(agent.languages or ()),
        last_assigned_at=agent.last_assigned_at,
        idle_since=agent.idle_since,
        company_id=agent.company_id or 0,
    )


def queue_event(conversation: Conversation, assignment: ChatAssignment | None = None) -> Event:
    return make_event(
        EventType.QUEUE_UPDATED,
        conversation.company_id,
        conversation_data(conversation, assignment),
        queue=True,
    )


def offer_chat(
    conversation: Conversation,
    agent: User,
    *,
    now: dt.datetime,
    policy: RoutingPolicy,
    actor_id: int | None = None,
    reason: str = "",
) -> ChatAssignment:
    """Offer a waiting chat to an agent whose row is locked; counts against their capacity."""
    return offer_chats(
        [(conversation, agent)], now=now, policy=policy, actor_id=actor_id, reason=reason
    )[0]


def offer_chats(
    offers: Sequence[tuple[Conversation, User]],
    *,
    now: dt.datetime,
    policy: RoutingPolicy,
    actor_id: int | None = None,
    reason: str = "",
) -> list[ChatAssignment]:
    """Offer waiting chats to agents whose rows are locked, with a fixed number of statements
    whatever the number of offers (a routing pass after a busy batch makes hundreds).

    Each offer stamps its agent's `last_assigned_at` with the next of `rules.assignment_stamps`
    after the newest stamp in the company, in the order of `offers` (the plan's order): the
    round-robin order the planner assumed is the one that persists, for the next batch, the
    next router and the next lane alike. The company's routing lock makes the read-then-stamp
    safe.
    """
    if not offers:
        return []
    latest = User.objects.filter(
        company_id__in={conversation.company_id for conversation, _ in offers}
    ).aggregate(latest=Max("last_assigned_at"))["latest"]
    stamps = rules.assignment_stamps(now, latest, len(offers))
    # Each chat's queue may set its own offer timeout (else the company's).
    queues = company_queues(policy.company_id, policy)
    expiry = {
        conversation.pk: now
        + dt.timedelta(seconds=queues.offer_timeout(conversation.queue_id, policy))
        for conversation, _ in offers
    }
    assignments = insert_rows(
        [
            new(
                ChatAssignment,
                {
                    "company_id": conversation.company_id,
                    "conversation_id": conversation.pk,
                    "agent_id": agent.pk,
                    "status": AssignmentStatus.OFFERED,
                    "offered_at": now,
                    "offer_expires_at": expiry[conversation.pk],
                    "first_response_due_at": conversation.first_response_due_at,
                    "resolution_due_at": conversation.resolution_due_at,
                    "escalation_level": conversation.escalation_level,
                },
                related={"conversation": conversation, "agent": agent},
            )
            for conversation, agent in offers
        ]
    )
    new_chats: Counter[int] = Counter()
    stamped: dict[int, dt.datetime] = {}
    for (conversation, agent), stamp in zip(offers, stamps, strict=True):
        new_chats[agent.pk] += 1
        stamped[agent.pk] = stamp  # the agent's last offer of the call wins
        agent.active_chats += 1
        agent.last_assigned_at = stamp
        agent.idle_since = None
        conversation.status = ConversationStatus.ASSIGNED
    # Counted in the database (F), not from the objects: a caller's copy may predate its lock.
    agents_by_count: dict[int, list[int]] = defaultdict(list)
    for agent_id, count in new_chats.items():
        agents_by_count[count].append(agent_id)
    for count, agent_ids in agents_by_count.items():
        User.objects.filter(pk__in=agent_ids).update(
            active_chats=F("active_chats") + count,
            last_assigned_at=Case(
                *(When(pk=agent_id, then=Value(stamped[agent_id])) for agent_id in agent_ids)
            ),
            idle_since=None,
        )
    _set_status([c.pk for c, _ in offers], ConversationStatus.ASSIGNED)
    # The audit rows as plain values: nobody reads them back as instances.
    expires_at = {pk: value.isoformat() for pk, value in expiry.items()}
    insert_values(
        AssignmentEvent,
        [
            {
                "company_id": conversation.company_id,
                "conversation_id": conversation.pk,
                "assignment_id": assignment.pk,
                "action": AssignmentEvent.Action.OFFERED,
                "actor_id": actor_id,
                "to_agent_id": agent.pk,
                "reason": reason,
                "data": {"expires_at": expires_at[conversation.pk]},
            }
            for (conversation, agent), assignment in zip(offers, assignments, strict=True)
        ],
    )
    events: list[Event] = []
    for (conversation, agent), assignment in zip(offers, assignments, strict=True):
        data = conversation_data(conversation, assignment)
        company_id = conversation.company_id
        events.append(make_event(EventType.CHAT_OFFERED, company_id, data, agents=[agent.pk]))
        events.append(make_event(EventType.QUEUE_UPDATED, company_id, data, queue=True))
    publish_on_commit(events)
    return assignments


def _set_status(conversation_ids: list[int], status: str) -> None:
    """One UPDATE whatever the number of chats: on PostgreSQL one array parameter, not one
    placeholder (and one adapted value) per id."""
    if connection.vendor != "postgresql":
        Conversation.objects.unscoped().filter(pk__in=conversation_ids).update(status=status)
        return
    table = connection.ops.quote_name(Conversation._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET status = %s WHERE id = ANY(%s)",  # noqa: S608 - model's table
            [status, conversation_ids],
        )


def release_agent(agent_id: int, *, now: dt.datetime) -> None:
    """An active assignment of this agent ended: free one unit of capacity."""
    User.objects.filter(pk=agent_id, active_chats__gt=0).update(active_chats=F("active_chats") - 1)
    User.objects.filter(pk=agent_id, active_chats=0, idle_since__isnull=True).update(idle_since=now)


def end_assignment(
    assignment: ChatAssignment, status: str, *, now: dt.datetime, **fields: object
) -> None:
    """An active assignment ends (resolved, declined, expired, escalated, transferred): stamp
    it, with `fields` (its reason, resolution time…), and free its agent's unit of capacity."""
    assignment.status = status
    assignment.ended_at = now
    for name, value in fields.items():
        setattr(assignment, name, value)
    assignment.save(update_fields=["status", "ended_at", *fields])
    release_agent(assignment.agent_id, now=now)


def requeue(conversation: Conversation) -> None:
    """Back to the queue; `queued_at` is kept, so the chat keeps its place."""
    conversation.status = ConversationStatus.WAITING
    conversation.save(update_fields=["status"])


def route_waiting(
    company_id: int,
    *,
    now: dt.datetime | None = None,
    known: Mapping[int, Conversation] | None = None,
    new: Collection[int] = (),
    policy: RoutingPolicy | None = None,
) -> list[ChatAssignment]:
    """Offer the company's waiting chats, in queue order, to whoever can take them.

    Each chat goes only to members of its named queue, by the queue's strategy (else the
    company's), the members' skill levels breaking ties (`rules.plan_queue_assignments`). A
    chat in a queue that overflows when no member is available, and has none, first moves on
    to its overflow queue (`_overflow_unstaffed`).

    Called whenever a chat starts waiting or capacity frees (resolve, decline, expiry, an agent
    becoming available, a raised limit). Precondition: routing lock held, inside a transaction.
    `known`: up-to-date conversations the caller holds (with client and channel), by id — the
    inbound batch's own chats are used as they are instead of being read back. `new`: ids of
    chats opened in this transaction (never offered yet: no past offers to read for them).
    `policy`: the company's routing policy, if the caller read it under the same lock.
    """
    now = now or timezone.now()
    policy = policy or routing_policy(company_id)
    queues = company_queues(company_id, policy)
    plans = queues.plans(policy)
    overflows = any(
        q.overflow_when_no_member_available and q.overflow_queue_id for q in queues.queues.values()
    )
    if not overflows and all(p.strategy == RoutingStrategy.MANUAL for p in plans.values()):
        return []
    available = list(
        User.objects.filter(
            company_id=company_id,
            role=Role.AGENT,
            status=AgentStatus.AVAILABLE,
            is_active=True,
        ).values_list("pk", "active_chats", "max_chats")
    )
    agents = [pk for pk, active, most in available if active < most]
    if not agents and not overflows:
        return []
    head = list(
        Conversation.objects.unscoped()
        .filter(company_id=company_id, status=ConversationStatus.WAITING)
        .order_by("-priority_rank", "queued_at", "pk")
        .values_list("pk", flat=True)[:QUEUE_HEAD]
    )
    if not head:
        return []
    known = known or {}
    loaded = _with_client_and_channel([pk for pk in head if pk not in known])
    waiting = [known.get(pk) or loaded[pk] for pk in head]
    if overflows:
        _overflow_unstaffed(queues, waiting, {pk for pk, _a, _m in available}, now=now)
    if not agents:
        return []
    locked = lock_agents(agents)
    tried: dict[int, set[int]] = defaultdict(set)
    cooling: dict[int, set[int]] = defaultdict(set)
    offered_before = [c.pk for c in waiting if c.pk not in new]
    for conv_id, agent_id, cooldown_until in (
        ChatAssignment.objects.unscoped()
        .filter(conversation__in=offered_before, status__in=_TRIED_STATUSES)
        .values_list("conversation_id", "agent_id", "cooldown_until")
        if offered_before
        else ()
    ):
        tried[conv_id].add(agent_id)
        if cooldown_until is not None and cooldown_until > now:
            cooling[conv_id].add(agent_id)
    chats = [
        rules.ChatRequest(
            conversation_id=c.pk,
            company_id=company_id,
            priority=c.priority,
            language=c.language or None,
            skill=c.category or None,
            waiting_since=c.queued_at,
            excluded_agent_ids=frozenset(tried.get(c.pk, ())),
            blocked_agent_ids=frozenset(cooling.get(c.pk, ())),
            queue_id=queues.get(c.queue_id).id,
        )
        for c in waiting
    ]
    plan = rules.plan_queue_assignments(
        plans,
        chats,
        [candidate(a) for a in locked.values()],
        now=now,
        fallback_after=dt.timedelta(seconds=policy.skill_fallback_seconds),
    )
    by_id = {c.pk: c for c in waiting}
    return offer_chats(
        [(by_id[conv_id], locked[agent_id]) for conv_id, agent_id in plan], now=now, policy=policy
    )


def _with_client_and_channel(conversation_ids: list[int]) -> dict[int, Conversation]:
    """Conversations by id with their client and channel attached (what payloads show): three
    flat reads through `rows()` instead of a joined ORM query, whose per-row model building
    cost more than the queries (a busy batch reads the queue's head of 200 chats)."""
    if not conversation_ids:
        return {}
    conversations = rows(Conversation, {"id": conversation_ids})
    clients = {c.pk: c for c in rows(Client, {"id": {c.client_id for c in conversations}})}
    channels = {c.pk: c for c in rows(Channel, {"id": {c.channel_id for c in conversations}})}
    for conversation in conversations:
        conversation.client = clients[conversation.client_id]
        conversation.channel = channels[conversation.channel_id]
    return {c.pk: c for c in conversations}


def _overflow_unstaffed(
    queues: CompanyQueues,
    waiting: Sequence[Conversation],
    available_agent_ids: set[int],
    *,
    now: dt.datetime,
) -> None:
    """Move waiting chats out of queues that overflow when no member is available and have
    none available, along the overflow chain to the first queue that is staffed or does not
    overflow that way (chains are acyclic: refused at write time; `seen` guards anyway)."""
    from routing_service.queues.actions import move_conversations

    def staffed(queue_id: int) -> bool:
        return any(member in available_agent_ids for member in queues.get(queue_id).members)

    moves: dict[tuple[int, int], list[Conversation]] = defaultdict(list)
    for conversation in waiting:
        source = queues.get(conversation.queue_id).id
        current, seen = source, {source}
        while True:
            settings = queues.get(current)
            target = settings.overflow_queue_id
            if (
                not settings.overflow_when_no_member_available
                or target is None
                or target not in queues.queues
                or target in seen
                or staffed(current)
            ):
                break
            current = target
            seen.add(current)
        if current != source:
            moves[(source, current)].append(conversation)
    for (source, target), chats in moves.items():
        move_conversations(
            chats,
            target,
            action=AssignmentEvent.Action.OVERFLOWED,
            reason="no member available",
            now=now,
            from_overflow=source,
        )


def expire_offers(*, now: dt.datetime | None = None, limit: int = 200) -> int:
    """Expire offers whose accept timeout passed and offer those chats to the next agent.

    Safe with several routers running: rows are claimed with SKIP LOCKED and re-checked under
    the company's routing lock. Returns how many offers expired.
    """
    now = now or timezone.now()
    due = list(
        ChatAssignment.objects.unscoped()
        .filter(status=AssignmentStatus.OFFERED, offer_expires_at__lte=now)
        .order_by("offer_expires_at")
        .values_list("company_id", "pk")[:limit]
    )
    by_company: dict[int, list[int]] = defaultdict(list)
    for company_id, pk in due:
        by_company[company_id].append(pk)
    expired = 0
    for company_id in sorted(by_company):
        with transaction.atomic():
            lock_company_routing(company_id)
            for assignment in (
                ChatAssignment.objects.unscoped()
                .select_for_update(skip_locked=True)
                .filter(
                    pk__in=by_company[company_id],
                    status=AssignmentStatus.OFFERED,
                    offer_expires_at__lte=now,
                )
            ):
                end_offer(assignment, AssignmentStatus.EXPIRED, now=now, reason="offer timed out")
                expired += 1
            route_waiting(company_id, now=now)
    return expired


def end_decline_cooldowns(*, now: dt.datetime | None = None, limit: int = 200) -> int:
    """Route again the chats whose decline cool-down ended: the agent who declined may be the
    only one who can take them, and nothing else would wake the queue (no new message, no
    freed capacity). Returns how many cool-downs ended.

    Safe with several routers: rows are claimed with a conditional UPDATE under the company's
    routing lock, so each cool-down ends (and routes) once.
    """
    now = now or timezone.now()
    due = list(
        ChatAssignment.objects.unscoped()
        .filter(cooldown_until__lte=now)
        .order_by("cooldown_until")
        .values_list("company_id", "pk")[:limit]
    )
    by_company: dict[int, list[int]] = defaultdict(list)
    for company_id, pk in due:
        by_company[company_id].append(pk)
    ended = 0
    for company_id in sorted(by_company):
        with transaction.atomic():
            lock_company_routing(company_id)
            claimed = (
                ChatAssignment.objects.unscoped()
                .filter(pk__in=by_company[company_id], cooldown_until__lte=now)
                .update(cooldown_until=None)
            )
            if claimed:
                route_waiting(company_id, now=now)
            ended += claimed
    return ended


def end_offer(
    assignment: ChatAssignment,
    status: str,
    *,
    now: dt.datetime,
    actor_id: int | None = None,
    reason: str = "",
) -> Conversation:
    """Close an unaccepted offer (declined or expired) and put the chat back in the queue.

    A decline starts the company's cool-down (`RoutingPolicy.decline_cooldown_seconds`): the
    routing rules do not offer the chat to that agent again until it ends, even when nobody
    else can take it (they may still pick it from the queue themselves).
    """
    fields: dict[str, object] = {"end_reason": reason}
    log: dict[str, int] = {}
    if status == AssignmentStatus.DECLINED:
        cooldown = routing_policy(assignment.company_id).decline_cooldown_seconds
        if cooldown:
            fields["cooldown_until"] = now + dt.timedelta(seconds=cooldown)
            log["cooldown_seconds"] = cooldown
    end_assignment(assignment, status, now=now, **fields)
    conversation = (
        Conversation.objects.unscoped()
        .select_related("client", "channel")
        .get(pk=assignment.conversation_id)
    )
    requeue(conversation)
    action = (
        AssignmentEvent.Action.DECLINED
        if status == AssignmentStatus.DECLINED
        else AssignmentEvent.Action.EXPIRED
    )
    log_event(
        conversation,
        action,
        assignment=assignment,
        actor_id=actor_id,
        from_agent_id=assignment.agent_id,
        reason=reason,
        **log,
    )
    publish_on_commit(
        [
            make_event(
                EventType.QUEUE_UPDATED,
                conversation.company_id,
                {**conversation_data(conversation), "previous_assignment_status": status},
                queue=True,
                agents=[assignment.agent_id],
            )
        ]
    )
    return conversation


def abandon_stale_chats(*, now: dt.datetime | None = None, limit: int = 200) -> int:
    """Close waiting chats whose customer has been silent longer than the company allows
    (`RoutingPolicy.abandon_after_minutes`; 0 never abandons). Returns how many closed.

    Only chats nobody holds are abandoned: an offered or accepted chat is an agent's to close.
    Safe with several routers: each company is handled under its routing lock and re-checked.
    """
    from sla_engine.scheduler import conversation_closed  # sla_engine imports chat actions

    now = now or timezone.now()
    closed = 0
    policies = RoutingPolicy.objects.unscoped().filter(abandon_after_minutes__gt=0)
    for company_id, minutes in policies.values_list("company_id", "abandon_after_minutes"):
        cutoff = now - dt.timedelta(minutes=minutes)
        stale = Conversation.objects.unscoped().filter(
            company_id=company_id, status=ConversationStatus.WAITING, last_message_at__lt=cutoff
        )
        if not stale.exists():
            continue
        with transaction.atomic():
            lock_company_routing(company_id)
            for conversation in stale.select_related("client", "channel").order_by("pk")[:limit]:
                conversation.status = ConversationStatus.ABANDONED
                conversation.resolved_at = now
                conversation.save(update_fields=["status", "resolved_at"])
                conversation_closed(conversation)
                log_event(
                    conversation,
                    AssignmentEvent.Action.ABANDONED,
                    reason=f"no customer message for {minutes} minutes",
                )
                publish_on_commit([queue_event(conversation)])
                if conversation.first_response_at is None:
                    live_counting.count_abandoned(conversation, now)
                closed += 1
    return closed
