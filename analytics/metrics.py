"""Daily chat metrics: the roll-up that fills ChatResponseTracking (STYLE.md: analytics are
roll-ups, never counted on the hot path).

One row per company and day (agent null) and one per agent and day. A day's figures are about
the chats that *started* that day (UTC), whatever happened to them later, so a day's row changes
while its chats are still open: each run recomputes whole days — the recent ones, plus any gap
since the newest row (the watermark) — and replaces their rows, so runs are idempotent and a
backfill is just a longer range (`manage.py update_chat_metrics --from --to`).

For the company row, over the chats that started that day:

* `chats`; `resolved` and `abandoned` — how many ended so;
* `escalations` — chats escalated at least once (an `escalated` assignment event: a supervisor
  notified, or the chat taken from its agent);
* `first_response_median/p90_seconds` — first message to first agent reply, wall clock;
* `resolution_median_seconds` — first message to resolution, wall clock;
* `sla_met` / `sla_missed` — chats whose decided targets (first response, resolution) were all
  met / at least one missed; a chat with nothing decided yet counts in neither;
  `sla_compliance_rate` = met / (met + missed);
* `csat_responses`, `csat_average`, `csat_satisfied_rate` — the satisfaction surveys answered
  for those chats (chats/csat.py): how many, the mean rating (1–5) and the share rated 4 or 5.

An agent's row covers the chats they held (an assignment they accepted, answered or resolved):
`chats`, `abandoned` and the SLA figures over those; first-response times over the chats whose
first reply was theirs; `resolved` and resolution times over the chats they resolved;
`escalations` over the chats escalated away from them; CSAT over the chats they resolved.

The figures are computed by pure functions over plain `ChatFacts` (property-testable); only
`load_facts` and `write_day` touch the database.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from analytics.models import ChatResponseTracking
from routing_service.chats.models import (
    AssignmentEvent,
    AssignmentStatus,
    ChatAssignment,
    Conversation,
    ConversationStatus,
)
from routing_service.tenancy.models import Company

__all__ = [
    "ChatFacts",
    "DayFigures",
    "day_figures",
    "load_facts",
    "roll_up",
    "roll_up_recent",
]

# Days recomputed on every periodic run: chats started this long ago may still change.
LOOKBACK_DAYS = 7


@dataclass(frozen=True)
class ChatFacts:
    """What the roll-up needs to know about one chat."""

    conversation_id: int
    status: str
    created_at: dt.datetime
    first_response_at: dt.datetime | None = None
    resolved_at: dt.datetime | None = None
    first_response_met: bool | None = None
    resolution_met: bool | None = None
    escalated: bool = False
    first_responder: int | None = None
    resolver: int | None = None
    handlers: frozenset[int] = frozenset()
    escalated_from: frozenset[int] = frozenset()
    csat_rating: int | None = None

    @property
    def sla_outcome(self) -> bool | None:
        """False if any target was missed, True if every decided one was met, else None."""
        decided = [m for m in (self.first_response_met, self.resolution_met) if m is not None]
        if not decided:
            return None
        return all(decided)


@dataclass(frozen=True)
class DayFigures:
    chats: int = 0
    resolved: int = 0
    abandoned: int = 0
    escalations: int = 0
    first_response_median_seconds: float | None = None
    first_response_p90_seconds: float | None = None
    resolution_median_seconds: float | None = None
    sla_met: int = 0
    sla_missed: int = 0
    sla_compliance_rate: float | None = None
    csat_responses: int = 0
    csat_average: float | None = None
    csat_satisfied_rate: float | None = None


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def p90(values: list[float]) -> float | None:
    """The 90th percentile, linearly interpolated (PostgreSQL's percentile_cont(0.9))."""
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=10, method="inclusive")[8]


def _seconds(start: dt.datetime, end: dt.datetime | None) -> float | None:
    return None if end is None else max(0.0, (end - start).total_seconds())


def day_figures(chats: Iterable[ChatFacts], agent_id: int | None = None) -> DayFigures:
    """The figures of one day: the company's (`agent_id` None) or one agent's."""
    held = [c for c in chats if agent_id is None or agent_id in c.handlers]
    if not held:
        return DayFigures()
    answered = [c for c in held if agent_id is None or c.first_responder == agent_id]
    resolved = [
        c
        for c in held
        if c.status == ConversationStatus.RESOLVED and (agent_id is None or c.resolver == agent_id)
    ]
    first_times = [
        s for c in answered if (s := _seconds(c.created_at, c.first_response_at)) is not None
    ]
    resolution_times = [
        s for c in resolved if (s := _seconds(c.created_at, c.resolved_at)) is not None
    ]
    ratings = [
        c.csat_rating
        for c in held
        if c.csat_rating is not None and (agent_id is None or c.resolver == agent_id)
    ]
    outcomes = [c.sla_outcome for c in held]
    met, missed = outcomes.count(True), outcomes.count(False)
    if agent_id is None:
        escalations = sum(c.escalated for c in held)
    else:
        escalations = sum(agent_id in c.escalated_from for c in held)
    return DayFigures(
        chats=len(held),
        resolved=len(resolved),
        abandoned=sum(c.status == ConversationStatus.ABANDONED for c in held),
        escalations=escalations,
        first_response_median_seconds=median(first_times),
        first_response_p90_seconds=p90(first_times),
        resolution_median_seconds=median(resolution_times),
        sla_met=met,
        sla_missed=missed,
        sla_compliance_rate=met / (met + missed) if met + missed else None,
        csat_responses=len(ratings),
        csat_average=sum(ratings) / len(ratings) if ratings else None,
        csat_satisfied_rate=sum(r >= 4 for r in ratings) / len(ratings) if ratings else None,
    )


def figures_by_agent(chats: list[ChatFacts]) -> dict[int | None, DayFigures]:
    """The company's figures (key None) and every agent's who held a chat that day."""
    agents = sorted({agent for chat in chats for agent in chat.handlers})
    rows: dict[int | None, DayFigures] = {}
    if chats:
        rows[None] = day_figures(chats)
    for agent in agents:
        rows[agent] = day_figures(chats, agent)
    return rows


# --- database -------------------------------------------------------------------------------


def _day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)
    return start, start + dt.timedelta(days=1)


def load_facts(company_id: int, day: dt.date) -> list[ChatFacts]:
    """The facts of the chats a company started on one (UTC) day: three indexed queries."""
    start, end = _day_bounds(day)
    chats = list(
        Conversation.objects.unscoped()
        .filter(company_id=company_id, created_at__gte=start, created_at__lt=end)
        .values_list(
            "id",
            "status",
            "created_at",
            "first_response_at",
            "resolved_at",
            "first_response_met",
            "resolution_met",
            "csat_rating",
        )
    )
    if not chats:
        return []
    ids = [chat[0] for chat in chats]
    handlers: dict[int, set[int]] = defaultdict(set)
    first_reply: dict[int, tuple[dt.datetime, int]] = {}
    resolver: dict[int, int] = {}
    for conversation_id, agent_id, status, accepted_at, replied_at in (
        ChatAssignment.objects.unscoped()
        .filter(conversation_id__in=ids)
        .values_list("conversation_id", "agent_id", "status", "accepted_at", "first_response_at")
    ):
        if accepted_at or replied_at or status == AssignmentStatus.RESOLVED:
            handlers[conversation_id].add(agent_id)
        if replied_at and (
            conversation_id not in first_reply or replied_at < first_reply[conversation_id][0]
        ):
            first_reply[conversation_id] = (replied_at, agent_id)
        if status == AssignmentStatus.RESOLVED:
            resolver[conversation_id] = agent_id
    escalated: dict[int, set[int]] = defaultdict(set)
    for conversation_id, from_agent in (
        AssignmentEvent.objects.unscoped()
        .filter(conversation_id__in=ids, action=AssignmentEvent.Action.ESCALATED)
        .values_list("conversation_id", "from_agent_id")
    ):
        escalated_from = escalated[conversation_id]  # the key alone: the chat was escalated
        if from_agent is not None:
            escalated_from.add(from_agent)
    return [
        ChatFacts(
            conversation_id=pk,
            status=status,
            created_at=created_at,
            first_response_at=first_response_at,
            resolved_at=resolved_at,
            first_response_met=first_met,
            resolution_met=res_met,
            escalated=pk in escalated,
            first_responder=first_reply[pk][1] if pk in first_reply else None,
            resolver=resolver.get(pk),
            handlers=frozenset(handlers.get(pk, ())),
            escalated_from=frozenset(escalated.get(pk, ())),
            csat_rating=rating,
        )
        for pk, status, created_at, first_response_at, resolved_at, first_met, res_met, rating in (
            chats
        )
    ]


def write_day(company_id: int, day: dt.date, rows: dict[int | None, DayFigures]) -> int:
    """Replace the company's rows of that day (stale agent rows go too): idempotent."""
    with transaction.atomic():
        ChatResponseTracking.objects.unscoped().filter(company_id=company_id, date=day).delete()
        ChatResponseTracking.objects.bulk_create(
            [
                ChatResponseTracking(
                    company_id=company_id, date=day, agent_id=agent_id, **figures.__dict__
                )
                for agent_id, figures in rows.items()
            ]
        )
    return len(rows)


def days(start: dt.date, end: dt.date) -> Iterator[dt.date]:
    day = start
    while day <= end:
        yield day
        day += dt.timedelta(days=1)


def roll_up(start: dt.date, end: dt.date, company_ids: Iterable[int] | None = None) -> int:
    """Recompute every day of [start, end] for these companies (default: all); rows written."""
    if company_ids is None:
        company_ids = Company.objects.values_list("pk", flat=True)
    written = 0
    for company_id in sorted(company_ids):
        for day in days(start, end):
            written += write_day(company_id, day, figures_by_agent(load_facts(company_id, day)))
    return written


def roll_up_recent(today: dt.date | None = None) -> int:
    """The periodic run: per company, from the watermark (its newest row, minus the lookback
    window for chats still changing) to today; a company never rolled up is backfilled from its
    first chat."""
    today = today or timezone.now().astimezone(dt.UTC).date()
    window_start = today - dt.timedelta(days=LOOKBACK_DAYS)
    newest = dict(
        ChatResponseTracking.objects.unscoped()
        .filter(agent__isnull=True)
        .values("company_id")
        .annotate(newest=Max("date"))
        .values_list("company_id", "newest")
    )
    written = 0
    for company_id in Company.objects.order_by("pk").values_list("pk", flat=True):
        watermark = newest.get(company_id)
        if watermark is not None:
            start = min(watermark, window_start)
        else:
            first = (
                Conversation.objects.unscoped()
                .filter(company_id=company_id)
                .order_by("created_at")
                .values_list("created_at", flat=True)
                .first()
            )
            if first is None:
                continue  # no chats yet: nothing to roll up
            start = first.astimezone(dt.UTC).date()
        written += roll_up(start, today, [company_id])
    return written
