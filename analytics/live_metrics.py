"""Live contact-centre numbers for a company or one of its queues: the queue now, the agents
now, the last ``window`` minutes, and an Erlang C staffing forecast (``GET /api/v1/metrics/``,
``?queue=``; the wallboard's per-queue tiles through ``queues_metrics``).

The queue and agent figures are the wallboard's (``realtime.wallboard.compute_stats`` calls
``queue_now`` and ``agents_now``), so the wallboard and the API cannot disagree.

**Window figures** come from the per-minute counters the chat actions write
(analytics.queue_counters; the window is whole minutes: the current one and the ``window - 1``
before it). They follow the contact-centre convention of counting each thing when it happens
(a contact offered in one window may be answered in the next), each against the chat's queue
at that moment and judged by that queue's settings (analytics.queue_targets):

* ``offered``: chats that arrived (first customer message, ``created_at``) in the window;
* ``answered``: chats whose first agent reply came in the window; their wait, from arrival to
  that reply, makes ``asa_seconds`` and, within the queue's ``service_level_seconds``, counts
  as answered in time;
* ``abandoned``: chats closed as abandoned (no customer message for the company's
  ``abandon_after_minutes``) in the window that no agent ever answered;
* ``service_level`` = answered in time / (answered + the abandonments the queue's
  ``abandoned_count_as`` policy counts); ``abandonment_rate`` = abandoned / (answered +
  abandoned). Both are None when there is nothing to judge;
* ``aht_seconds``: over chats resolved in the window after an answer, first reply to
  resolution — the time a chat holds one of an agent's slots (wall clock: an agent with three
  chats open holds three slots at once).

``window_figures`` counts the same from the database (the reference the tests compare with);
analytics.queue_history recounts per bucket for the history and the Redis rebuild.

**Now**: ``waiting`` and ``longest_wait_seconds`` from the queue; ``agents`` per status with
their open chats and capacity (``max_chats``) — for a queue, its members; ``occupancy`` =
open chats / capacity of the available agents, the instantaneous value of handled chat-time /
available capacity-time.

**Forecast** (``analytics.erlang``): each chat slot is an Erlang C server. Traffic = arrival
rate × AHT; the servers needed for the queue's target within its threshold, divided by the
mean slots per agent and rounded up, is ``required_agents``; the slots of the available agents
give the expected service level and wait. docs/operations.md states the model and its limits.

Cost per call: one Redis script call (the counters) and three or four indexed queries (the
partial queue index, the staff, the queue's memberships). Nothing grows with the company's
history or the window's traffic.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any, Final

from django.db.models import Avg, Count, F, Min, Q
from django.utils import timezone

from analytics import erlang, queue_counters
from analytics.expressions import Seconds
from analytics.queue_targets import DEFAULT, QueueTargets, all_company_queues
from routing_service.chats.models import Conversation, ConversationStatus, Priority
from routing_service.queues.models import QueueMembership
from routing_service.tenancy.models import HANDLING_ROLES, AgentStatus, User

__all__ = [
    "DEFAULT_WINDOW_MINUTES",
    "MAX_WINDOW_MINUTES",
    "PRIORITIES",
    "SERVICE_LEVEL_SECONDS",
    "SERVICE_LEVEL_TARGET",
    "AgentsNow",
    "QueueNow",
    "WindowFigures",
    "agents_now",
    "forecast",
    "live_metrics",
    "queue_now",
    "window_figures",
]

DEFAULT_WINDOW_MINUTES: Final = 60
MAX_WINDOW_MINUTES: Final = 24 * 60
# DESIGN.md's queue defaults (`service_level_seconds`, `service_level_target`); named queues
# will carry their own.
SERVICE_LEVEL_SECONDS: Final = 20
SERVICE_LEVEL_TARGET: Final = 0.8
PRIORITIES: Final = (Priority.URGENT, Priority.HIGH, Priority.MEDIUM, Priority.LOW)
# Django's `Choices.values` rebuilds its list on every access: a tick of 1,000 queues paid
# 100 ms for it (tests/perf/bench_queue_metrics.py --profile).
_STATUSES: Final = tuple(str(s) for s in AgentStatus.values)
_RANK_NAMES: Final = {0: Priority.LOW, 1: Priority.MEDIUM, 2: Priority.HIGH, 3: Priority.URGENT}


# --- now: the queue and the agents -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QueueNow:
    """The waiting chats per priority (urgent first) and the oldest ``queued_at`` of each."""

    waiting: dict[str, int]
    oldest: dict[str, dt.datetime | None]

    @property
    def total(self) -> int:
        return sum(self.waiting.values())

    @property
    def oldest_since(self) -> dt.datetime | None:
        return min((t for t in self.oldest.values() if t is not None), default=None)

    def longest_wait_seconds(self, now: dt.datetime) -> float:
        oldest = self.oldest_since
        return round(max(0.0, (now - oldest).total_seconds()), 3) if oldest else 0


def _empty_queue() -> tuple[dict[str, int], dict[str, dt.datetime | None]]:
    return {str(p): 0 for p in PRIORITIES}, {str(p): None for p in PRIORITIES}


def queues_now(company_id: int) -> dict[int | None, QueueNow]:
    """Every queue of the company at once, by queue id (None: chats without a queue): one
    query on the partial queue index, "WHERE company_id = ? AND status = 'waiting'", grouped
    by queue and ``priority_rank``."""
    found: dict[int | None, tuple[dict[str, int], dict[str, dt.datetime | None]]] = {}
    rows = (
        Conversation.objects.unscoped()
        .filter(company_id=company_id, status=ConversationStatus.WAITING)
        .order_by()
        .values("queue_id", "priority_rank")
        .annotate(n=Count("pk"), oldest=Min("queued_at"))
    )
    for row in rows:
        waiting, oldest = found.setdefault(row["queue_id"], _empty_queue())
        name = str(_RANK_NAMES.get(row["priority_rank"], Priority.MEDIUM))
        waiting[name] += row["n"]
        current = oldest[name]
        oldest[name] = row["oldest"] if current is None else min(current, row["oldest"])
    return {queue_id: QueueNow(*pair) for queue_id, pair in found.items()}


def _queues_now_many(company_ids: list[int]) -> dict[int, dict[int | None, QueueNow]]:
    """``queues_now`` for many companies in one query (the same partial index, IN list)."""
    found: dict[int, dict[int | None, tuple[dict[str, int], dict[str, dt.datetime | None]]]] = {}
    rows = (
        Conversation.objects.unscoped()
        .filter(company_id__in=company_ids, status=ConversationStatus.WAITING)
        .order_by()
        .values("company_id", "queue_id", "priority_rank")
        .annotate(n=Count("pk"), oldest=Min("queued_at"))
    )
    for row in rows:
        per = found.setdefault(row["company_id"], {})
        waiting, oldest = per.setdefault(row["queue_id"], _empty_queue())
        name = str(_RANK_NAMES.get(row["priority_rank"], Priority.MEDIUM))
        waiting[name] += row["n"]
        current = oldest[name]
        oldest[name] = row["oldest"] if current is None else min(current, row["oldest"])
    return {c: {q: QueueNow(*pair) for q, pair in per.items()} for c, per in found.items()}


def queue_now(company_id: int, queue_id: int | None = None) -> QueueNow:
    """The company's waiting chats (all queues), or one queue's."""
    by_queue = queues_now(company_id)
    if queue_id is not None:
        return by_queue.get(queue_id) or QueueNow(*_empty_queue())
    waiting, oldest = _empty_queue()
    for one in by_queue.values():
        for name, n in one.waiting.items():
            waiting[name] += n
        for name, since in one.oldest.items():
            current = oldest[name]
            oldest[name] = since if current is None or since is None else min(current, since)
    return QueueNow(waiting, oldest)


@dataclass(frozen=True, slots=True)
class AgentsNow:
    """The company's active agents and supervisors: ``(id, status, open chats, max chats)``
    each, by id, and the sums per status."""

    rows: list[tuple[int, str, int, int]]
    by_status: dict[str, dict[str, int]] = field(default_factory=dict)

    def count(self, status: str) -> int:
        return self.by_status.get(status, {}).get("count", 0)

    def capacity(self, status: str) -> int:
        return self.by_status.get(status, {}).get("capacity", 0)

    def active_chats(self, status: str) -> int:
        return self.by_status.get(status, {}).get("active_chats", 0)

    def only(self, user_ids: set[int]) -> AgentsNow:
        """The same figures for some of them (a queue's members)."""
        return _agents([row for row in self.rows if row[0] in user_ids])


def agents_now(company_id: int) -> AgentsNow:
    """One query: "WHERE company_id = ? AND role IN (...) AND is_active" — a company's staff,
    a few hundred rows at most."""
    return _agents(
        list(
            User.objects.filter(company_id=company_id, role__in=HANDLING_ROLES, is_active=True)
            .order_by("pk")
            .values_list("pk", "status", "active_chats", "max_chats")
        )
    )


def _agents(rows: list[tuple[int, str, int, int]]) -> AgentsNow:
    by_status = {s: {"count": 0, "active_chats": 0, "capacity": 0} for s in _STATUSES}
    for _, status, active, capacity in rows:
        bucket = by_status.setdefault(status, {"count": 0, "active_chats": 0, "capacity": 0})
        bucket["count"] += 1
        bucket["active_chats"] += active
        bucket["capacity"] += capacity
    return AgentsNow(rows, by_status)


def queue_members(company_id: int) -> dict[int, set[int]]:
    """Queue id → its members' user ids: "WHERE company_id = ?" on the memberships."""
    members: dict[int, set[int]] = {}
    rows = QueueMembership.objects.unscoped().filter(company_id=company_id)
    for queue_id, user_id in rows.values_list("queue_id", "user_id"):
        members.setdefault(queue_id, set()).add(user_id)
    return members


# --- the window ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WindowFigures:
    """What happened in ``[start, end)`` (module docstring: the definitions)."""

    start: dt.datetime
    end: dt.datetime
    offered: int = 0
    answered: int = 0
    answered_in_time: int = 0
    abandoned: int = 0
    asa_seconds: float | None = None
    handled: int = 0
    aht_seconds: float | None = None
    # The abandoned chats their queue's policy counts against the service level (None: all).
    abandoned_counted: int | None = None

    @property
    def minutes(self) -> float:
        return (self.end - self.start).total_seconds() / 60

    @property
    def service_level(self) -> float | None:
        counted = self.abandoned if self.abandoned_counted is None else self.abandoned_counted
        judged = self.answered + counted
        return round(self.answered_in_time / judged, 4) if judged else None

    @property
    def abandonment_rate(self) -> float | None:
        judged = self.answered + self.abandoned
        return round(self.abandoned / judged, 4) if judged else None

    @property
    def arrival_rate_per_hour(self) -> float:
        return self.offered * 60 / self.minutes if self.minutes > 0 else 0.0


def figures_from_tally(
    tally: queue_counters.Tally,
    start: dt.datetime,
    end: dt.datetime,
) -> WindowFigures:
    """The window's figures from its summed counters (analytics.queue_counters)."""
    return WindowFigures(
        start=start,
        end=end,
        offered=tally.offered,
        answered=tally.answered,
        answered_in_time=tally.answered_in_time,
        abandoned=tally.abandoned,
        asa_seconds=_round(tally.wait_ms / 1000 / tally.answered if tally.answered else None),
        handled=tally.handled,
        aht_seconds=_round(tally.handle_ms / 1000 / tally.handled if tally.handled else None),
        abandoned_counted=tally.abandoned_counted,
    )


def window_figures(
    company_id: int,
    start: dt.datetime,
    end: dt.datetime,
    threshold_seconds: float = SERVICE_LEVEL_SECONDS,
) -> WindowFigures:
    """The window's figures counted in the database (one aggregate over three index ranges on
    ``(company, created_at)``, ``(company, first_response_at)``, ``(company, resolved_at)``).

    Not the live path (that reads the Redis counters): the reference the counters are tested
    against, and what the interval history and ``rebuild_live_metrics`` count per bucket.
    """
    arrived = Q(created_at__gte=start, created_at__lt=end)
    answered = Q(first_response_at__gte=start, first_response_at__lt=end)
    ended = Q(resolved_at__gte=start, resolved_at__lt=end)
    in_time = F("created_at") + dt.timedelta(seconds=threshold_seconds)
    wait = Seconds(F("first_response_at"), F("created_at"))
    handle = Seconds(F("resolved_at"), F("first_response_at"))
    abandoned = ended & Q(status=ConversationStatus.ABANDONED, first_response_at__isnull=True)
    handled = ended & Q(status=ConversationStatus.RESOLVED, first_response_at__isnull=False)
    row = (
        Conversation.objects.unscoped()
        .filter(arrived | answered | ended, company_id=company_id)
        .order_by()
        .aggregate(
            offered=Count("pk", filter=arrived),
            answered=Count("pk", filter=answered),
            # The wait is measured in SQL; a clock skew that puts the reply first counts as 0.
            answered_in_time=Count(
                "pk",
                filter=answered & Q(first_response_at__lte=in_time),
            ),
            asa=Avg(wait, filter=answered),
            abandoned=Count("pk", filter=abandoned),
            handled=Count("pk", filter=handled),
            aht=Avg(handle, filter=handled),
        )
    )
    return WindowFigures(
        start=start,
        end=end,
        offered=row["offered"],
        answered=row["answered"],
        answered_in_time=row["answered_in_time"],
        abandoned=row["abandoned"],
        asa_seconds=_round(_non_negative(row["asa"])),
        handled=row["handled"],
        aht_seconds=_round(_non_negative(row["aht"])),
    )


def _non_negative(value: float | None) -> float | None:
    return None if value is None else max(0.0, float(value))


def _round(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


# --- the forecast --------------------------------------------------------------------------


def forecast(
    figures: WindowFigures,
    agents: AgentsNow,
    *,
    threshold_seconds: float = SERVICE_LEVEL_SECONDS,
    target: float = SERVICE_LEVEL_TARGET,
) -> dict[str, Any]:
    """Agents needed for ``target`` within ``threshold_seconds`` at the window's arrival rate
    and handle time, and what the available agents can expect (module docstring: the model).

    Without a handle time (nothing resolved after an answer in the window) the traffic is
    unknown: the needed agents and expectations are None.
    """
    available = agents.count(AgentStatus.AVAILABLE)
    slots = agents.capacity(AgentStatus.AVAILABLE)
    rate = figures.arrival_rate_per_hour
    handle = figures.aht_seconds
    result: dict[str, Any] = {
        "arrival_rate_per_hour": round(rate, 2),
        "handle_seconds": handle,
        "required_agents": None,
        "available_agents": available,
        "expected_service_level": None,
        "expected_wait_seconds": None,
    }
    if rate == 0:  # nobody arrives: nobody is needed, and nobody waits
        return {
            **result,
            "required_agents": 0,
            "expected_service_level": 1.0,
            "expected_wait_seconds": 0.0,
        }
    if not handle:
        return result
    traffic = rate / 3600 * handle
    needed_slots = erlang.servers_needed(traffic, handle, threshold_seconds, target)
    if needed_slots is not None:
        result["required_agents"] = math.ceil(needed_slots / _slots_per_agent(agents))
    wait = erlang.average_speed_of_answer(slots, traffic, handle)
    result["expected_service_level"] = round(
        erlang.service_level(slots, traffic, handle, threshold_seconds), 4
    )
    # An unbounded wait (too few slots for the traffic) has no number: None.
    result["expected_wait_seconds"] = round(wait, 1) if math.isfinite(wait) else None
    return result


def _slots_per_agent(agents: AgentsNow) -> float:
    """The chats one agent takes at once: the available agents' mean ``max_chats``, else that
    of all the company's staff, else 1."""
    for statuses in ((AgentStatus.AVAILABLE,), _STATUSES):
        people = sum(agents.count(s) for s in statuses)
        capacity = sum(agents.capacity(s) for s in statuses)
        if people and capacity:
            return capacity / people
    return 1.0


# --- all of it -----------------------------------------------------------------------------


def _payload(
    figures: WindowFigures,
    queue: QueueNow,
    agents: AgentsNow,
    targets: QueueTargets,
    window_minutes: int,
    now: dt.datetime,
) -> dict[str, Any]:
    available_capacity = agents.capacity(AgentStatus.AVAILABLE)
    return {
        "computed_at": now,
        "window_minutes": window_minutes,
        "service_level_seconds": targets.threshold_seconds,
        "service_level_target": targets.target,
        "waiting": queue.total,
        "longest_wait_seconds": queue.longest_wait_seconds(now),
        "offered": figures.offered,
        "answered": figures.answered,
        "abandoned": figures.abandoned,
        "service_level": figures.service_level,
        "asa_seconds": figures.asa_seconds,
        "aht_seconds": figures.aht_seconds,
        "abandonment_rate": figures.abandonment_rate,
        # Occupancy now: chats held by the available agents / their capacity — the
        # instantaneous value of "handled chat-time / available capacity-time". Over 1 only
        # if chats were forced past capacity (an escalation): shown as full.
        "occupancy": (
            min(1.0, round(agents.active_chats(AgentStatus.AVAILABLE) / available_capacity, 4))
            if available_capacity
            else None
        ),
        # DESIGN.md: bare counts per status; their load (chats held, capacity) beside them.
        "agents": {status: agents.count(status) for status in _STATUSES},
        "agents_load": {
            status: {
                "active_chats": agents.active_chats(status),
                "capacity": agents.capacity(status),
            }
            for status in _STATUSES
        },
        "forecast": forecast(
            figures, agents, threshold_seconds=targets.threshold_seconds, target=targets.target
        ),
    }


def _window(now: dt.datetime, window_minutes: int) -> tuple[dt.datetime, dt.datetime]:
    return now - dt.timedelta(minutes=window_minutes), now


def live_metrics(
    company_id: int,
    window_minutes: int = DEFAULT_WINDOW_MINUTES,
    *,
    queue: QueueTargets | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """The ``GET /api/v1/metrics/`` payload (DESIGN.md, "Queues and live metrics"): the
    company's, or one queue's (``queue``: its targets, from ``queue_targets``).

    The window's counts are the Redis counters' (one script call); the queue and agents are
    read now (two or three indexed queries)."""
    now = now or timezone.now()
    scope = queue_counters.ALL if queue is None else str(queue.queue_id)
    tallies = queue_counters.read_windows([company_id], now, window_minutes)[company_id]
    figures = figures_from_tally(
        tallies.get(scope, queue_counters.Tally()), *_window(now, window_minutes)
    )
    agents = agents_now(company_id)
    if queue is None:
        return _payload(figures, queue_now(company_id), agents, DEFAULT, window_minutes, now)
    members = queue_members(company_id).get(queue.queue_id or 0, set())
    return {
        "queue": {"id": queue.queue_id, "name": queue.name},
        **_payload(
            figures,
            queue_now(company_id, queue.queue_id),
            agents.only(members),
            queue,
            window_minutes,
            now,
        ),
    }


def queues_metrics(
    company_ids: list[int],
    window_minutes: int = DEFAULT_WINDOW_MINUTES,
    *,
    now: dt.datetime | None = None,
) -> dict[int, list[dict[str, Any]]]:
    """Every queue of each company (the wallboard's tiles): one Redis round trip for all the
    companies' counters, then four queries for all the companies together (queues, waiting
    chats by queue, staff, memberships) — nothing per queue, nor per company."""
    now = now or timezone.now()
    tallies = queue_counters.read_windows(company_ids, now, window_minutes)
    start, end = _window(now, window_minutes)
    out: dict[int, list[dict[str, Any]]] = {}
    # Four queries for all the companies at once, whatever their number.
    queues_by: dict[int, list[QueueTargets]] = {c: [] for c in company_ids}
    for company_id, targets in all_company_queues(company_ids):
        queues_by[company_id].append(targets)
    waiting_by = _queues_now_many(company_ids)
    staff_by: dict[int, list[tuple[int, str, int, int]]] = {c: [] for c in company_ids}
    for company_id, *row in (
        User.objects.filter(company_id__in=company_ids, role__in=HANDLING_ROLES, is_active=True)
        .order_by("pk")
        .values_list("company_id", "pk", "status", "active_chats", "max_chats")
    ):
        staff_by[company_id].append(tuple(row))  # type: ignore[arg-type]
    members_by: dict[int, dict[int, set[int]]] = {c: {} for c in company_ids}
    for company_id, queue_id, user_id in (
        QueueMembership.objects.unscoped()
        .filter(company_id__in=company_ids)
        .values_list("company_id", "queue_id", "user_id")
    ):
        members_by[company_id].setdefault(queue_id, set()).add(user_id)
    for company_id in company_ids:
        queues = queues_by[company_id]
        if not queues:
            out[company_id] = []
            continue
        waiting = waiting_by.get(company_id, {})
        agents = _agents(staff_by[company_id])
        members = members_by[company_id]
        sums = tallies[company_id]
        out[company_id] = [
            {
                "queue": {"id": q.queue_id, "name": q.name},
                **_payload(
                    figures_from_tally(
                        sums.get(str(q.queue_id), queue_counters.Tally()), start, end
                    ),
                    waiting.get(q.queue_id) or QueueNow(*_empty_queue()),
                    agents.only(members.get(q.queue_id or 0, set())),
                    q,
                    window_minutes,
                    now,
                ),
            }
            for q in queues
        ]
    return out
