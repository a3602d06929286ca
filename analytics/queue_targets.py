"""A queue's targets as the live metrics read them: threshold, target and abandon policy.

Plain values (``QueueTargets``) loaded with one small query, so the counting code
(analytics.queue_counters) and the forecast stay functions of numbers. The settings live on
``routing_service.queues.models.Queue``; a company without queues (or a chat whose queue is
gone) gets DESIGN.md's defaults: 80 % within 20 s, every abandonment counted as missed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Final

from routing_service.queues.models import AbandonedCountAs, Queue

__all__ = [
    "DEFAULT",
    "QueueTargets",
    "all_company_queues",
    "company_queues",
    "resolve_queue_id",
    "targets_of",
    "targets_of_company_queue",
]


@dataclass(frozen=True, slots=True)
class QueueTargets:
    """What "in service level" means for one queue, and what the forecast aims for."""

    queue_id: int | None = None
    name: str = ""
    threshold_seconds: int = 20
    target: float = 0.8
    abandoned_count_as: str = AbandonedCountAs.MISSED
    short_abandon_seconds: int = 5

    def abandon_counts(self, arrived_at: dt.datetime, abandoned_at: dt.datetime) -> bool:
        """Does an abandonment after this wait count against the service level?

        The wait is arrival to the moment the chat was closed as abandoned: the customer's
        real moment of giving up is unknown, and this never calls a long wait short.
        """
        if self.abandoned_count_as == AbandonedCountAs.EXCLUDED:
            return False
        if self.abandoned_count_as == AbandonedCountAs.SHORT_EXCLUDED:
            waited = (abandoned_at - arrived_at).total_seconds()
            return waited > self.short_abandon_seconds
        return True


DEFAULT: Final = QueueTargets()
_FIELDS: Final = (
    "pk",
    "name",
    "service_level_seconds",
    "service_level_target",
    "abandoned_count_as",
    "short_abandon_seconds",
)


def _targets(row: tuple[Any, ...]) -> QueueTargets:
    pk, name, seconds, target, count_as, short = row
    return QueueTargets(pk, name, seconds, target, count_as, short)


def targets_of(queue_id: int | None) -> QueueTargets:
    """One queue's targets (one primary-key query), or the defaults."""
    if queue_id is None:
        return DEFAULT
    row = Queue.objects.unscoped().filter(pk=queue_id).values_list(*_FIELDS).first()
    return _targets(row) if row else DEFAULT


def company_queues(company_id: int) -> list[QueueTargets]:
    """The company's queues, default first then by name: "WHERE company_id = ?"."""
    rows = (
        Queue.objects.unscoped()
        .filter(company_id=company_id)
        .order_by("-is_default", "name", "pk")
        .values_list(*_FIELDS)
    )
    return [_targets(row) for row in rows]


def all_company_queues(company_ids: list[int]) -> list[tuple[int, QueueTargets]]:
    """``(company id, targets)`` of every queue of these companies, each company's default
    first then by name: one query."""
    rows = (
        Queue.objects.unscoped()
        .filter(company_id__in=company_ids)
        .order_by("company_id", "-is_default", "name", "pk")
        .values_list("company_id", *_FIELDS)
    )
    return [(row[0], _targets(row[1:])) for row in rows]


def resolve_queue_id(company_id: int, queue_id: int | None) -> int | None:
    """The chat's queue, or the company's default queue for a chat that has none yet (the
    default takes every chat no rule claims)."""
    if queue_id is not None:
        return queue_id
    return (
        Queue.objects.unscoped()
        .filter(company_id=company_id, is_default=True)
        .values_list("pk", flat=True)
        .first()
    )


def targets_of_company_queue(company_id: int, queue_id: int) -> QueueTargets | None:
    """The queue's targets if it is this company's (None for another company's or none)."""
    row = (
        Queue.objects.unscoped()
        .filter(pk=queue_id, company_id=company_id)
        .values_list(*_FIELDS)
        .first()
    )
    return _targets(row) if row else None
