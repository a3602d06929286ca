"""The company's queue configuration as the router reads it: queues, members and compiled
rules, cached per process and checked against `RoutingPolicy.queues_version`.

Why a cache: the router decides a new chat's queue for every message of a batch and must not
pay a query per message (issue 14 measures it). The version lives on the routing policy row,
which the router reads every batch anyway, so "is my copy current?" costs no round trip;
every write to queues, memberships or rules raises it (`routing_service.queues.actions`).
Readers that have no policy row at hand (event payloads, the snapshot) accept a copy up to
`UNVERSIONED_TTL` seconds old: a queue renamed a moment ago may show its old name briefly.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from routing_service.chats.models import RoutingPolicy
from routing_service.chats.queries import rows
from routing_service.queues import auto_reply
from routing_service.queues import rules as queue_rules
from routing_service.queues.models import Queue, QueueMembership, QueueRule
from routing_service.router import rules as router_rules

UNVERSIONED_TTL = 5.0


@dataclass(frozen=True, slots=True)
class QueueSettings:
    """One queue's routing settings; null ones fall back to the company's policy."""

    id: int
    name: str
    is_default: bool
    strategy: str | None
    offer_timeout_seconds: int | None
    overflow_queue_id: int | None
    overflow_after_seconds: int | None
    overflow_when_no_member_available: bool
    members: Mapping[int, int]  # user id → skill level
    # Any automatic message on: the router enqueues the auto-reply actor for its new chats.
    auto_reply: bool = False


@dataclass(frozen=True)
class CompanyQueues:
    company_id: int
    version: int
    default_queue_id: int
    queues: Mapping[int, QueueSettings]
    rules: tuple[queue_rules.CompiledRule, ...]
    loaded_at: float = field(default_factory=time.monotonic, compare=False)

    def queue_for(self, facts: queue_rules.InboundFacts) -> int:
        """The queue a new chat joins: the first matching rule's, else the default."""
        return queue_rules.choose_queue(self.rules, facts, self.default_queue_id)

    def get(self, queue_id: int | None) -> QueueSettings:
        """A queue's settings; an unknown or missing id reads as the default queue."""
        if queue_id is not None and queue_id in self.queues:
            return self.queues[queue_id]
        return self.queues[self.default_queue_id]

    def strategy(self, queue_id: int | None, policy: RoutingPolicy) -> str:
        return self.get(queue_id).strategy or policy.strategy

    def offer_timeout(self, queue_id: int | None, policy: RoutingPolicy) -> int:
        timeout = self.get(queue_id).offer_timeout_seconds
        return policy.offer_timeout_seconds if timeout is None else timeout

    def plans(self, policy: RoutingPolicy) -> dict[int, router_rules.QueuePlan]:
        """Every queue's strategy and members, as `plan_queue_assignments` takes them."""
        return {
            q.id: router_rules.QueuePlan(q.strategy or policy.strategy, q.members)
            for q in self.queues.values()
        }

    def summary(self, queue_id: int | None) -> dict[str, object] | None:
        """What events and the snapshot carry of a chat's queue: id and name."""
        if queue_id is None:
            return None
        queue = self.queues.get(queue_id)
        return {"id": queue_id, "name": queue.name if queue else ""}


_CACHE: dict[int, CompanyQueues] = {}


def company_queues(company_id: int, policy: RoutingPolicy | None = None) -> CompanyQueues:
    """The company's queue configuration, from the cache when ``policy`` says it is current
    (or, without a policy, when it is younger than `UNVERSIONED_TTL`)."""
    cached = _CACHE.get(company_id)
    if cached is not None:
        if policy is not None and cached.version == policy.queues_version:
            return cached
        if policy is None and time.monotonic() - cached.loaded_at < UNVERSIONED_TTL:
            return cached
    version = (
        policy.queues_version
        if policy is not None
        else RoutingPolicy.objects.unscoped()
        .filter(company_id=company_id)
        .values_list("queues_version", flat=True)
        .first()
        or 0
    )
    loaded = _load(company_id, version)
    _CACHE[company_id] = loaded
    return loaded


def forget(company_id: int) -> None:
    """Drop this process's copy (the writer's own process sees its change at once)."""
    _CACHE.pop(company_id, None)


def _load(company_id: int, version: int) -> CompanyQueues:
    queues = rows(Queue, {"company_id": company_id})
    if not any(q.is_default for q in queues):
        # Every company gets its default queue on creation; be safe for hand-made rows.
        from routing_service.queues.actions import ensure_default_queue

        ensure_default_queue(company_id)
        queues = rows(Queue, {"company_id": company_id})
    members: dict[int, dict[int, int]] = {q.pk: {} for q in queues}
    for membership in rows(
        QueueMembership, {"company_id": company_id}, fields=("queue", "user", "skill_level")
    ):
        members.setdefault(membership.queue_id, {})[membership.user_id] = membership.skill_level
    rule_rows = sorted(
        rows(QueueRule, {"company_id": company_id}, fields=("order", "queue", "match")),
        key=lambda r: (r.order, r.pk),
    )
    settings = {
        q.pk: QueueSettings(
            id=q.pk,
            name=q.name,
            is_default=q.is_default,
            strategy=q.strategy or None,
            offer_timeout_seconds=q.offer_timeout_seconds,
            overflow_queue_id=q.overflow_queue_id,
            overflow_after_seconds=q.overflow_after_seconds,
            overflow_when_no_member_available=q.overflow_when_no_member_available,
            members=members.get(q.pk, {}),
            auto_reply=any(
                auto_reply.is_enabled(q.auto_reply, kind) for kind in queue_rules.AUTO_REPLY_KINDS
            ),
        )
        for q in queues
    }
    default = next(q.pk for q in queues if q.is_default)
    return CompanyQueues(
        company_id=company_id,
        version=version,
        default_queue_id=default,
        queues=settings,
        rules=tuple(
            queue_rules.compile_rule(r.queue_id, r.match)
            for r in rule_rows
            if r.queue_id in settings and not queue_rules.match_errors(r.match)
        ),
    )
