"""The chat management dashboard's figures (``/chat/dashboard/``), as plain functions of ids.

* SLA compliance and response/resolution times per day come from the daily roll-ups
  (``ChatResponseTracking``, written by ``analytics.metrics``). Days the roll-up has not
  reached yet — everything after its newest row (its watermark), or the whole window for a
  company never rolled up — are computed from the conversations instead, with the same
  definitions, in one ``GROUP BY day`` query. Today is always computed so, even when the
  roll-up (every five minutes) has a row for it: the page is current when it is drawn, and
  its totals agree with the breaches it lists. Older days say how old their rows are
  (``rolled_as_of``). (Before the watermark a day without a row had no chats: the roll-up
  covers every day since the first.)
  The fallback counts a chat as escalated when its escalation level is above zero, where the
  roll-up reads the audit trail; the two agree unless a level was reset.
* The agent table sums the roll-up's agent rows, plus the same fallback over assignments.
* The queue and the breaches are "now": open conversations, read through the queue index
  and the ``(company, status, created_at)`` index.

Nothing iterates over chats in Python: each figure is one aggregate query; Python merges the
per-day (per-agent) results of the two sources.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final, cast

from django.db import connections
from django.db.models import (
    Aggregate,
    Avg,
    Case,
    Count,
    F,
    FloatField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, TruncDay
from django.utils import timezone
from django.utils.translation import gettext

from analytics import live_metrics
from analytics.expressions import Seconds
from analytics.metrics import LOOKBACK_DAYS
from analytics.models import ChatResponseTracking
from routing_service.chats.models import (
    OPEN_CONVERSATION_STATUSES,
    AssignmentStatus,
    ChatAssignment,
    Conversation,
    ConversationStatus,
    Priority,
)
from routing_service.chats.workspace_models import ConversationLabel
from routing_service.tenancy.models import HANDLING_ROLES, AgentStatus, User

__all__ = [
    "Window",
    "agent_table",
    "breaches",
    "label_table",
    "queue_now",
    "sla_series",
]

QUEUE_LIST_LIMIT: Final = 25
BREACH_LIST_LIMIT: Final = 50
RECENTLY_MISSED_DAYS: Final = 7


@dataclass(frozen=True, slots=True)
class Window:
    """Inclusive UTC days."""

    first_day: dt.date
    last_day: dt.date

    @classmethod
    def last_days(cls, days: int, today: dt.date | None = None) -> Window:
        today = today or timezone.now().astimezone(dt.UTC).date()
        return cls(today - dt.timedelta(days=max(1, days) - 1), today)

    @property
    def start(self) -> dt.datetime:
        return dt.datetime.combine(self.first_day, dt.time(), tzinfo=dt.UTC)

    @property
    def end(self) -> dt.datetime:
        """Exclusive."""
        return dt.datetime.combine(self.last_day + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)

    def days(self) -> Iterator[dt.date]:
        day = self.first_day
        while day <= self.last_day:
            yield day
            day += dt.timedelta(days=1)


# --- expressions ----------------------------------------------------------------------------


class Percentile(Aggregate):
    """PostgreSQL's ``percentile_cont(fraction) WITHIN GROUP (ORDER BY expression)``."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression: Any, fraction: float, **extra: Any) -> None:
        if not 0 <= fraction <= 1:
            raise ValueError("fraction must be within 0..1")
        super().__init__(expression, fraction=repr(float(fraction)), **extra)


def _median(expression: Any, fraction: float, using: str, **extra: Any) -> Aggregate:
    """A percentile on PostgreSQL; the mean elsewhere (the SQLite demo has no percentiles)."""
    if connections[using].vendor == "postgresql":
        return Percentile(expression, fraction, **extra)
    return Avg(expression, **extra)


# A chat's SLA outcome, as in analytics.metrics.ChatFacts.sla_outcome: missed if any decided
# target was missed; met if every decided target was met; neither while nothing is decided.
_MISSED: Final = Q(first_response_met=False) | Q(resolution_met=False)
_MET: Final = (
    Q(first_response_met=True, resolution_met=True)
    | Q(first_response_met=True, resolution_met__isnull=True)
    | Q(first_response_met__isnull=True, resolution_met=True)
)


def _rate(met: int, missed: int) -> float | None:
    return round(met / (met + missed), 4) if met + missed else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 1)


# --- SLA compliance and times per day -------------------------------------------------------


def _watermark(company_id: int) -> dt.date | None:
    """The newest day the roll-up has written for the company (its company row)."""
    value: dt.date | None = (
        ChatResponseTracking.objects.for_company(company_id)
        .filter(agent__isnull=True)
        .aggregate(newest=Max("date"))["newest"]
    )
    return value


def _fallback_window(company_id: int, window: Window) -> Window | None:
    """The days of ``window`` computed from conversations: those the roll-up has not reached,
    and today whatever the roll-up holds — today's chats change by the minute, and a roll-up
    row of this morning must not contradict the breaches listed beside it."""
    watermark = _watermark(company_id)
    today = timezone.now().astimezone(dt.UTC).date()
    first = (
        window.first_day
        if watermark is None
        else max(window.first_day, min(watermark + dt.timedelta(days=1), today))
    )
    return Window(first, window.last_day) if first <= window.last_day else None


def _rolled_as_of(rows: dict[dt.date, dict[str, Any]]) -> dt.datetime | None:
    """When the oldest of these roll-up rows that could still change was computed; None when
    every one is final (rewritten after its chats stopped changing, see ``LOOKBACK_DAYS``)."""
    changing = [
        row["updated_at"]
        for day, row in rows.items()
        if row["updated_at"] < Window(day, day).start + dt.timedelta(days=LOOKBACK_DAYS)
    ]
    return min(changing, default=None)


def _conversation_days(company_id: int, window: Window) -> dict[dt.date, dict[str, Any]]:
    """The roll-up's company figures, computed live from the conversations of ``window``."""
    conversations = Conversation.objects.for_company(company_id).filter(
        created_at__gte=window.start, created_at__lt=window.end
    )
    using = conversations.db
    first_response = Seconds(F("first_response_at"), F("created_at"))
    resolution = Seconds(F("resolved_at"), F("created_at"))
    answered = Q(first_response_at__isnull=False)
    resolved = Q(status=ConversationStatus.RESOLVED, resolved_at__isnull=False)
    rows = (
        conversations.order_by()
        .annotate(day=TruncDay("created_at", tzinfo=dt.UTC))
        .values("day")
        .annotate(
            chats=Count("id"),
            resolved=Count("id", filter=Q(status=ConversationStatus.RESOLVED)),
            abandoned=Count("id", filter=Q(status=ConversationStatus.ABANDONED)),
            escalations=Count("id", filter=Q(escalation_level__gt=0)),
            sla_met=Count("id", filter=_MET),
            sla_missed=Count("id", filter=_MISSED),
            first_response_median_seconds=_median(first_response, 0.5, using, filter=answered),
            first_response_p90_seconds=_median(first_response, 0.9, using, filter=answered),
            resolution_median_seconds=_median(resolution, 0.5, using, filter=resolved),
            csat_responses=Count("id", filter=Q(csat_rating__isnull=False)),
            csat_sum=Sum("csat_rating"),
            csat_satisfied=Count("id", filter=Q(csat_rating__gte=4)),
        )
    )
    return {_as_date(row.pop("day")): row for row in rows}


def _as_date(value: dt.date | dt.datetime) -> dt.date:
    return value.astimezone(dt.UTC).date() if isinstance(value, dt.datetime) else value


_DAY_FIELDS: Final = (
    "chats",
    "resolved",
    "abandoned",
    "escalations",
    "sla_met",
    "sla_missed",
    "first_response_median_seconds",
    "first_response_p90_seconds",
    "resolution_median_seconds",
    "csat_responses",
)


def sla_series(company_id: int, window: Window) -> dict[str, Any]:
    """Per day of ``window``: chats, SLA met/missed and compliance, median and p90 first
    response, median resolution, and where the day's figures came from; plus totals.

    Two or three queries: the watermark, the roll-up rows, the conversation fallback.
    """
    rolled = {
        row.pop("date"): row
        for row in ChatResponseTracking.objects.for_company(company_id)
        .filter(agent__isnull=True, date__gte=window.first_day, date__lte=window.last_day)
        .order_by()
        .annotate(
            csat_sum=Coalesce(F("csat_average") * F("csat_responses"), Value(0.0)),
            csat_satisfied=Coalesce(F("csat_satisfied_rate") * F("csat_responses"), Value(0.0)),
        )
        .values("date", "updated_at", *_DAY_FIELDS, "csat_sum", "csat_satisfied")
    }
    fallback = _fallback_window(company_id, window)
    if fallback is not None:
        rolled = {day: row for day, row in rolled.items() if day < fallback.first_day}
    live = _conversation_days(company_id, fallback) if fallback else {}
    series: dict[str, list[Any]] = {key: [] for key in ("labels", "source", "compliance")}
    for key in _DAY_FIELDS:
        series[key] = []
    series["csat_average"] = []
    totals = {
        "chats": 0,
        "resolved": 0,
        "escalations": 0,
        "sla_met": 0,
        "sla_missed": 0,
        "csat_responses": 0,
        "csat_sum": 0.0,
        "csat_satisfied": 0.0,
    }
    for day in window.days():
        in_fallback = fallback is not None and day >= fallback.first_day
        row = live.get(day) if in_fallback else rolled.get(day)
        series["labels"].append(day.isoformat())
        series["source"].append("live" if in_fallback else "roll-up")
        for key in _DAY_FIELDS:
            value = row.get(key) if row else None
            if key.endswith("_seconds"):
                series[key].append(_round(value))
            else:
                series[key].append(value or 0)
        met, missed = (row["sla_met"], row["sla_missed"]) if row else (0, 0)
        series["compliance"].append(_rate(met, missed))
        series["csat_average"].append(
            _weighted(row["csat_sum"], row["csat_responses"]) if row else None
        )
        if row:
            for key in totals:
                totals[key] += row[key] or 0
    responses = totals["csat_responses"]
    csat_sum, satisfied = totals.pop("csat_sum"), totals.pop("csat_satisfied")
    return {
        **series,
        "live_from": fallback.first_day.isoformat() if fallback else None,
        # The days before ``live_from`` are only as current as their roll-up rows.
        "rolled_as_of": _rolled_as_of(rolled),
        "totals": {
            **totals,
            "compliance": _rate(int(totals["sla_met"]), int(totals["sla_missed"])),
            "csat_average": _weighted(csat_sum, int(responses)),
            "csat_satisfied_rate": round(satisfied / responses, 4) if responses else None,
        },
    }


# --- agents -------------------------------------------------------------------------------


def _rolled_agents(company_id: int, first: dt.date, last: dt.date) -> dict[int, dict[str, Any]]:
    """Sums of the agents' roll-up rows; times are daily medians weighted by that day's chats."""
    timed_first = Q(first_response_median_seconds__isnull=False)
    timed_resolution = Q(resolution_median_seconds__isnull=False)
    rows = (
        ChatResponseTracking.objects.for_company(company_id)
        .filter(agent__isnull=False, date__gte=first, date__lte=last)
        .order_by()
        .values("agent_id")
        .annotate(
            # Annotation names must not shadow the columns the weighted sums read.
            total_chats=Sum("chats"),
            total_resolved=Sum("resolved"),
            total_abandoned=Sum("abandoned"),
            total_escalations=Sum("escalations"),
            total_sla_met=Sum("sla_met"),
            total_sla_missed=Sum("sla_missed"),
            total_first_weighted=Sum(
                F("first_response_median_seconds") * F("chats"), filter=timed_first
            ),
            total_first_weight=Sum("chats", filter=timed_first),
            total_resolution_weighted=Sum(
                F("resolution_median_seconds") * F("resolved"), filter=timed_resolution
            ),
            total_resolution_weight=Sum("resolved", filter=timed_resolution),
            total_csat_responses=Sum("csat_responses"),
            total_csat_sum=Sum(F("csat_average") * F("csat_responses")),
            total_csat_satisfied=Sum(F("csat_satisfied_rate") * F("csat_responses")),
        )
    )
    return {row["agent_id"]: {key: row[f"total_{key}"] for key in _AGENT_SUMS} for row in rows}


def _live_agents(company_id: int, window: Window) -> dict[int, dict[str, Any]]:
    """The same figures from the assignments of the chats started in ``window``: an agent held
    a chat they accepted, answered or resolved (as in ``analytics.metrics``)."""
    handled = (
        Q(accepted_at__isnull=False)
        | Q(first_response_at__isnull=False)
        | Q(status=AssignmentStatus.RESOLVED)
    )
    conversation = "conversation"
    first_response = Seconds(F("first_response_at"), F("conversation__created_at"))
    resolution = Seconds(F("resolved_at"), F("conversation__created_at"))
    answered = Q(first_response_at__isnull=False)
    resolved = Q(status=AssignmentStatus.RESOLVED, resolved_at__isnull=False)
    rows = (
        ChatAssignment.objects.for_company(company_id)
        .filter(
            handled,
            conversation__created_at__gte=window.start,
            conversation__created_at__lt=window.end,
        )
        .order_by()
        .values("agent_id")
        .annotate(
            chats=Count(conversation, distinct=True),
            resolved=Count(conversation, distinct=True, filter=resolved),
            abandoned=Count(
                conversation,
                distinct=True,
                filter=Q(conversation__status=ConversationStatus.ABANDONED),
            ),
            escalations=Count(
                conversation, distinct=True, filter=Q(status=AssignmentStatus.ESCALATED)
            ),
            sla_met=Count(conversation, distinct=True, filter=_prefixed(_MET)),
            sla_missed=Count(conversation, distinct=True, filter=_prefixed(_MISSED)),
            first_weighted=Sum(first_response, filter=answered),
            first_weight=Count("id", filter=answered),
            resolution_weighted=Sum(resolution, filter=resolved),
            resolution_weight=Count("id", filter=resolved),
            # CSAT belongs to the agent who resolved the chat (as in analytics.metrics).
            csat_responses=Count(
                "id", filter=resolved & Q(conversation__csat_rating__isnull=False)
            ),
            csat_sum=Sum("conversation__csat_rating", filter=resolved),
            csat_satisfied=Count("id", filter=resolved & Q(conversation__csat_rating__gte=4)),
        )
    )
    return {row.pop("agent_id"): row for row in rows}


def _prefixed(condition: Q) -> Q:
    """``condition`` on the assignment's conversation."""
    children: list[Any] = []
    for child in cast(list[Any], condition.children):
        if isinstance(child, Q):
            children.append(_prefixed(child))
        else:
            key, value = child
            children.append((f"conversation__{key}", value))
    prefixed = Q(*children, _connector=condition.connector, _negated=condition.negated)
    return prefixed


_AGENT_SUMS: Final = (
    "chats",
    "resolved",
    "abandoned",
    "escalations",
    "sla_met",
    "sla_missed",
    "first_weighted",
    "first_weight",
    "resolution_weighted",
    "resolution_weight",
    "csat_responses",
    "csat_sum",
    "csat_satisfied",
)


def agent_table(company_id: int, window: Window) -> list[dict[str, Any]]:
    """One row per agent (and supervisor) of the company: chats held, resolved, escalated,
    SLA compliance, typical first-response and resolution seconds, and their status now.

    Busiest first; people without chats in the window are listed with zeros.
    """
    fallback = _fallback_window(company_id, window)
    rolled_last = fallback.first_day - dt.timedelta(days=1) if fallback else window.last_day
    figures: dict[int, dict[str, Any]] = {}
    sources = []
    if rolled_last >= window.first_day:
        sources.append(_rolled_agents(company_id, window.first_day, rolled_last))
    if fallback:
        sources.append(_live_agents(company_id, fallback))
    for source in sources:
        for agent_id, row in source.items():
            merged = figures.setdefault(agent_id, dict.fromkeys(_AGENT_SUMS, 0))
            for key in _AGENT_SUMS:
                merged[key] += row[key] or 0
    people = (
        User.objects.filter(
            Q(company_id=company_id) & (Q(role__in=HANDLING_ROLES) | Q(pk__in=figures))
        )
        .order_by("username")
        .values(
            "id",
            "username",
            "first_name",
            "last_name",
            "role",
            "status",
            "active_chats",
            "is_active",
        )
    )
    table = []
    for person in people:
        row = figures.get(person["id"], dict.fromkeys(_AGENT_SUMS, 0))
        name = f"{person['first_name']} {person['last_name']}".strip() or person["username"]
        table.append(
            {
                "id": person["id"],
                "name": name,
                "username": person["username"],
                "role": person["role"],
                "status": person["status"],
                "status_label": _status_label(person["status"]),
                "active_chats": person["active_chats"],
                "chats": row["chats"],
                "resolved": row["resolved"],
                "abandoned": row["abandoned"],
                "escalations": row["escalations"],
                "sla_met": row["sla_met"],
                "sla_missed": row["sla_missed"],
                "compliance": _rate(row["sla_met"], row["sla_missed"]),
                "first_response_seconds": _weighted(row["first_weighted"], row["first_weight"]),
                "resolution_seconds": _weighted(
                    row["resolution_weighted"], row["resolution_weight"]
                ),
                "csat_responses": row["csat_responses"],
                "csat_average": _weighted(row["csat_sum"], row["csat_responses"]),
                "csat_satisfied_rate": (
                    round(float(row["csat_satisfied"]) / row["csat_responses"], 4)
                    if row["csat_responses"]
                    else None
                ),
            }
        )
    table.sort(key=lambda r: (-r["chats"], r["name"].lower()))
    return table


def label_table(company_id: int, window: Window) -> list[dict[str, Any]]:
    """Per label of the company, the window's chats that carry it: how many, resolved, SLA met
    and missed (compliance), and CSAT (responses, mean, share rated 4-5). A chat with two
    labels counts under each. One ``GROUP BY label`` over the join rows, from the chats of the
    window (the ``(company, status, created_at)`` index) — live, like the fallback days: labels
    change after the fact, so a daily roll-up would freeze a stale answer."""
    links = ConversationLabel.objects.unscoped().filter(
        company_id=company_id,
        label__company_id=company_id,
        conversation__company_id=company_id,
        conversation__created_at__gte=window.start,
        conversation__created_at__lt=window.end,
    )
    rows = (
        links.order_by()
        .values("label_id", "label__name", "label__color")
        .annotate(
            chats=Count("conversation_id"),
            resolved=Count(
                "conversation_id", filter=Q(conversation__status=ConversationStatus.RESOLVED)
            ),
            sla_met=Count("conversation_id", filter=_prefixed(_MET)),
            sla_missed=Count("conversation_id", filter=_prefixed(_MISSED)),
            csat_responses=Count(
                "conversation_id", filter=Q(conversation__csat_rating__isnull=False)
            ),
            csat_sum=Sum("conversation__csat_rating"),
            csat_satisfied=Count("conversation_id", filter=Q(conversation__csat_rating__gte=4)),
        )
    )
    table = []
    for row in rows:
        responses = row["csat_responses"]
        table.append(
            {
                "name": row["label__name"],
                "color": row["label__color"],
                "chats": row["chats"],
                "resolved": row["resolved"],
                "sla_met": row["sla_met"],
                "sla_missed": row["sla_missed"],
                "compliance": _rate(row["sla_met"], row["sla_missed"]),
                "csat_responses": responses,
                "csat_average": _weighted(row["csat_sum"], responses),
                "csat_satisfied_rate": (
                    round(row["csat_satisfied"] / responses, 4) if responses else None
                ),
            }
        )
    table.sort(key=lambda r: (-r["chats"], r["name"].lower()))
    return table


def _status_label(status: str) -> str:
    """An agent status in the reader's language (an unknown value as it is)."""
    try:
        return str(AgentStatus(status).label)
    except ValueError:
        return status


def _weighted(total: float | None, weight: int | None) -> float | None:
    return round(float(total) / weight, 1) if total is not None and weight else None


# --- now: the queue and the breaches --------------------------------------------------------


def queue_now(company_id: int, now: dt.datetime | None = None) -> dict[str, Any]:
    """Waiting chats per priority (count, longest wait) and the first ones in routing order."""
    now = now or timezone.now()
    waiting = Conversation.objects.for_company(company_id).filter(status=ConversationStatus.WAITING)
    queue = live_metrics.queue_now(company_id)  # the wallboard's and the API's numbers
    by_priority = []
    for priority in reversed(Priority.values):
        oldest = queue.oldest[priority]
        by_priority.append(
            {
                "priority": priority,
                "label": Priority(priority).label,
                "waiting": queue.waiting[priority],
                "longest_wait_seconds": (
                    round(max(0.0, (now - oldest).total_seconds())) if oldest else None
                ),
            }
        )
    assigned = (
        Conversation.objects.for_company(company_id)
        .filter(status=ConversationStatus.ASSIGNED)
        .count()
    )
    first = list(
        waiting.select_related("client", "channel").order_by("-priority_rank", "queued_at", "id")[
            :QUEUE_LIST_LIMIT
        ]
    )
    return {
        "by_priority": by_priority,
        "waiting": sum(p["waiting"] for p in by_priority),
        "assigned": assigned,
        "first": first,
        "now": now,
    }


def _with_agent(conversations: QuerySet[Conversation]) -> QuerySet[Conversation]:
    """Annotate the agent of the chat's latest assignment — the one holding it now, or the
    last who did (a subquery on the ``(conversation, offered_at)`` index)."""
    latest = ChatAssignment.objects.unscoped().filter(conversation_id=OuterRef("pk"))
    return conversations.annotate(
        agent_username=Subquery(
            latest.order_by("-offered_at", "-id").values("agent__username")[:1]
        ),
    )


def breaches(company_id: int, now: dt.datetime | None = None) -> dict[str, Any]:
    """Open chats past a due time (first response not given by ``first_response_due_at``, or
    not resolved by ``resolution_due_at``), most overdue first; and the chats of the last
    ``RECENTLY_MISSED_DAYS`` days that missed a target, newest first."""
    now = now or timezone.now()
    overdue_first = Q(first_response_at__isnull=True, first_response_due_at__lt=now)
    overdue_resolution = Q(resolution_due_at__lt=now)
    open_chats = Conversation.objects.for_company(company_id).filter(
        status__in=OPEN_CONVERSATION_STATUSES
    )
    overdue = open_chats.filter(overdue_first | overdue_resolution)
    counts = overdue.order_by().aggregate(
        total=Count("id"),
        first_response=Count("id", filter=overdue_first),
        resolution=Count("id", filter=overdue_resolution),
    )
    open_list = list(
        _with_agent(overdue.select_related("client"))
        .annotate(
            # The deadline that was passed first: the first response's, while it is missing.
            breached_due=Case(
                When(overdue_first, then=F("first_response_due_at")),
                default=F("resolution_due_at"),
            ),
        )
        .order_by("breached_due", "id")[:BREACH_LIST_LIMIT]
    )
    open_rows = [
        {
            "chat": chat,
            "kind": "first response"
            if chat.first_response_at is None and chat.breached_due == chat.first_response_due_at
            else "resolution",
            "kind_label": gettext("first response")
            if chat.first_response_at is None and chat.breached_due == chat.first_response_due_at
            else gettext("resolution"),
            "overdue_seconds": round((now - chat.breached_due).total_seconds()),
        }
        for chat in open_list
    ]
    since = now - dt.timedelta(days=RECENTLY_MISSED_DAYS)
    missed = Conversation.objects.for_company(company_id).filter(_MISSED, created_at__gte=since)
    missed_count = missed.order_by().count()
    missed_list = list(
        _with_agent(missed.select_related("client")).order_by("-created_at", "-id")[
            :BREACH_LIST_LIMIT
        ]
    )
    return {
        "open": open_rows,
        "open_count": counts["total"],
        "open_first_response": counts["first_response"],
        "open_resolution": counts["resolution"],
        "missed": missed_list,
        "missed_count": missed_count,
        "missed_days": RECENTLY_MISSED_DAYS,
        "now": now,
    }
