"""⑤ Wallboard stats: one `wallboard.stats` per company per second at most, only after a change.

**What** (`compute_stats`): a handful of aggregate queries on indexed columns — the waiting
queue by priority (the partial queue index), agents by status with their load (the
company/status index), pending offers (the partial active-assignment index), SLA at risk and
breached now over the open chats (company/status index), and today's chats, median first
response and SLA compliance (company/created index). tests/perf/bench_wallboard.py measures it
at 10,000 open chats.

**Who and when** (`StatsTicker`): every web process that holds a wallboard of a company
ticks once per `WS_WALLBOARD_INTERVAL_MS`. "Something changed" needs no marking: every event of
a company increments its seq (events/log.py), so a company whose seq moved past the one
the last stats covered — or whose next time-driven change (a chat entering its warning window
or breaching) has come — is due. A Lua script checks that and takes a per-company lock for the
interval in one step, so with several web processes exactly one computes, and never more than
once per interval. The result goes out with `publish_now` to `company.<id>.supervisors`, so it
is logged and replayed like any other event.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import weakref
from collections import Counter
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import (
    Aggregate,
    Case,
    Count,
    DateTimeField,
    DurationField,
    ExpressionWrapper,
    F,
    Min,
    Q,
    QuerySet,
    Sum,
    When,
)
from django.db.models.functions import Coalesce, Least
from django.utils import timezone

from analytics import live_metrics
from events.log import publish_now, seq_key
from events.redis_clients import is_cluster_client
from events.schema import EventType, make_event
from realtime.connections import async_client, script, sync_client
from realtime.db import in_thread
from routing_service.chats.models import (
    OPEN_CONVERSATION_STATUSES,
    AssignmentStatus,
    ChatAssignment,
    Conversation,
    ConversationStatus,
)
from routing_service.chats.payloads import iso
from sla_engine.models import ChatSLA

logger = logging.getLogger(__name__)

AT_RISK_LIST = 20
_KEY_TTL_SECONDS = 24 * 3600


class Median(Aggregate):
    """PostgreSQL's `percentile_cont(0.5)`; works on intervals, so no epoch arithmetic."""

    function = "PERCENTILE_CONT"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = DurationField()


def warning_windows(company_id: int) -> dict[str, tuple[dt.timedelta, dt.timedelta]]:
    """Per priority, how long before each due time a chat counts as at risk.

    The window is the part of the target after `warning_percent` (80 % of a 60-minute target:
    the last 12 minutes), in wall-clock time — an approximation of the SLA timer's business-time
    warning that needs no calendar per chat.
    """
    windows = {}
    rows = ChatSLA.objects.unscoped().filter(company_id=company_id)
    for priority, first, resolution, percent in rows.values_list(
        "priority", "first_response_minutes", "resolution_minutes", "warning_percent"
    ):
        share = max(0, 100 - percent) / 100
        windows[priority] = (
            dt.timedelta(minutes=first * share),
            dt.timedelta(minutes=resolution * share),
        )
    return windows


def _sla_conditions(
    now: dt.datetime, windows: dict[str, tuple[dt.timedelta, dt.timedelta]]
) -> tuple[Q, Q | None]:
    """(breached now, at risk — None when the company has no SLA policy) for open chats."""
    unanswered = Q(first_response_at__isnull=True)
    breached = (unanswered & Q(first_response_due_at__lte=now)) | Q(resolution_due_at__lte=now)
    risk: Q | None = None
    for priority, (first, resolution) in windows.items():
        clause = Q(priority=priority) & (
            (unanswered & Q(first_response_due_at__lte=now + first))
            | Q(resolution_due_at__lte=now + resolution)
        )
        risk = clause if risk is None else risk | clause
    return breached, (risk & ~breached) if risk is not None else None


def _next_change_aggregates(
    now: dt.datetime, windows: dict[str, tuple[dt.timedelta, dt.timedelta]]
) -> dict[str, Any]:
    """Aggregates (over open chats) from which `_next_change` finds the next timed change."""
    unanswered = Q(first_response_at__isnull=True)
    aggregates: dict[str, Any] = {
        "next_fr": Min(
            "first_response_due_at", filter=unanswered & Q(first_response_due_at__gt=now)
        ),
        "next_res": Min("resolution_due_at", filter=Q(resolution_due_at__gt=now)),
    }
    for i, (priority, (first, resolution)) in enumerate(windows.items()):
        aggregates[f"next_fr{i}"] = Min(
            "first_response_due_at",
            filter=Q(priority=priority) & unanswered & Q(first_response_due_at__gt=now + first),
        )
        aggregates[f"next_res{i}"] = Min(
            "resolution_due_at",
            filter=Q(priority=priority) & Q(resolution_due_at__gt=now + resolution),
        )
    return aggregates


def _next_change(
    row: dict[str, Any], windows: dict[str, tuple[dt.timedelta, dt.timedelta]]
) -> dt.datetime | None:
    """The next instant a chat enters its warning window or breaches, without any event."""
    candidates = [row["next_fr"], row["next_res"]]
    for i, (first, resolution) in enumerate(windows.values()):
        if row[f"next_fr{i}"] is not None:
            candidates.append(row[f"next_fr{i}"] - first)
        if row[f"next_res{i}"] is not None:
            candidates.append(row[f"next_res{i}"] - resolution)
    found = [c for c in candidates if c is not None]
    return min(found) if found else None


def _sla_due_order() -> Least:
    """The earlier of the chat's first-response due time (while unanswered) and resolution due."""
    first = Case(
        When(first_response_at__isnull=True, then=F("first_response_due_at")),
        default=None,
        output_field=DateTimeField(),
    )
    return Least(Coalesce(first, F("resolution_due_at")), Coalesce(F("resolution_due_at"), first))


def _pressing(
    company_id: int, now: dt.datetime, windows: dict[str, tuple[dt.timedelta, dt.timedelta]]
) -> QuerySet[Conversation]:
    """Open chats breached or at risk, soonest due first."""
    breached, risk = _sla_conditions(now, windows)
    return (
        Conversation.objects.unscoped()
        .filter(company_id=company_id, status__in=OPEN_CONVERSATION_STATUSES)
        .filter(breached | risk if risk is not None else breached)
        .annotate(sla_due=_sla_due_order())
        .order_by("sla_due", "pk")
    )


def at_risk_chats(
    company_id: int,
    now: dt.datetime,
    windows: dict[str, tuple[dt.timedelta, dt.timedelta]],
    limit: int,
) -> list[Conversation]:
    """The most pressing open chats, whole (for the snapshot's list)."""
    return list(_pressing(company_id, now, windows).select_related("client", "channel")[:limit])


def sla_state(conversation: Conversation, now: dt.datetime) -> tuple[str, str, dt.datetime | None]:
    """(kind, state, due) of the chat's most pressing SLA clock."""
    first = conversation.first_response_due_at if conversation.first_response_at is None else None
    resolution = conversation.resolution_due_at
    due: dt.datetime | None
    if first is not None and (resolution is None or first <= resolution):
        kind, due = "first_response", first
    else:
        kind, due = "resolution", resolution
    state = "breached" if due is not None and due <= now else "at_risk"
    return kind, state, due


def _seconds(value: dt.timedelta | None) -> float | None:
    return round(value.total_seconds(), 3) if value is not None else None


def _median_in_python(today: QuerySet[Conversation]) -> float | None:
    """SQLite (local runs only) has no percentile aggregate."""
    waits = sorted(
        (answered_at - created).total_seconds()
        for answered_at, created in today.filter(first_response_at__isnull=False).values_list(
            "first_response_at", "created_at"
        )
        if answered_at is not None
    )
    if not waits:
        return None
    mid = len(waits) // 2
    return round(waits[mid] if len(waits) % 2 else (waits[mid - 1] + waits[mid]) / 2, 3)


def compute_stats(company_id: int, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """The `wallboard.stats` payload (realtime/PROTOCOL.md describes every field)."""
    now = now or timezone.now()
    windows = warning_windows(company_id)
    chats = Conversation.objects.unscoped().filter(company_id=company_id)

    # The queue and the agents: the same functions as GET /api/v1/metrics/ (one definition).
    queue = live_metrics.queue_now(company_id)
    waiting = queue.waiting
    oldest_by_priority = {name: iso(since) for name, since in queue.oldest.items()}
    oldest = queue.oldest_since
    staff = live_metrics.agents_now(company_id)
    agents = staff.rows
    by_status = staff.by_status
    # Pending offers: the partial index on active assignments, by agent.
    pending_offers = (
        ChatAssignment.objects.unscoped()
        .filter(agent_id__in=[a[0] for a in agents], status=AssignmentStatus.OFFERED)
        .count()
        if agents
        else 0
    )

    # SLA now, over the open chats: "WHERE company_id = ? AND status IN (...)", one scan for
    # the counts and the next timed change, then the few most pressing (narrow rows, top-N).
    open_chats = chats.filter(status__in=OPEN_CONVERSATION_STATUSES)
    breached, risk = _sla_conditions(now, windows)
    aggregates = {"breached": Count("pk", filter=breached), **_next_change_aggregates(now, windows)}
    if risk is not None:
        aggregates["at_risk"] = Count("pk", filter=risk)
    sla_row = {"at_risk": 0, **open_chats.aggregate(**aggregates)}
    next_change = _next_change(sla_row, windows)
    pressing = []
    for hot in _pressing(company_id, now, windows).values(
        "pk",
        "priority",
        "status",
        "first_response_at",
        "first_response_due_at",
        "resolution_due_at",
    )[:AT_RISK_LIST]:
        kind, state, due = sla_state(
            Conversation(
                first_response_at=hot["first_response_at"],
                first_response_due_at=hot["first_response_due_at"],
                resolution_due_at=hot["resolution_due_at"],
            ),
            now,
        )
        pressing.append(
            {
                "conversation_id": hot["pk"],
                "priority": hot["priority"],
                "status": hot["status"],
                "kind": kind,
                "state": state,
                "due_at": iso(due),
            }
        )

    # Today (server time zone): "WHERE company_id = ? AND created_at >= midnight".
    midnight = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    today = chats.filter(created_at__gte=midnight)
    unanswered_late = Q(
        first_response_met__isnull=True,
        first_response_at__isnull=True,
        first_response_due_at__lte=now,
    )
    day_aggregates: dict[str, Any] = {
        "chats": Count("pk"),
        "resolved": Count("pk", filter=Q(status=ConversationStatus.RESOLVED)),
        "answered": Count("pk", filter=Q(first_response_at__isnull=False)),
        "met": Count("pk", filter=Q(first_response_met=True)),
        "missed": Count("pk", filter=Q(first_response_met=False) | unanswered_late),
        # Satisfaction surveys answered for today's chats (chats/csat.py).
        "csat_responses": Count("pk", filter=Q(csat_rating__isnull=False)),
        "csat_sum": Sum("csat_rating"),
        "csat_satisfied": Count("pk", filter=Q(csat_rating__gte=4)),
    }
    postgres = connection.vendor == "postgresql"
    if postgres:  # percentile_cont skips the NULL waits of unanswered chats
        day_aggregates["median"] = Median(
            ExpressionWrapper(
                F("first_response_at") - F("created_at"), output_field=DurationField()
            )
        )
    day = today.aggregate(**day_aggregates)
    queues = [
        _queue_tile(q) for q in live_metrics.queues_metrics([company_id], now=now)[company_id]
    ]
    median = _seconds(day["median"]) if postgres else _median_in_python(today)
    judged = day["met"] + day["missed"]
    return {
        "company_id": company_id,
        "computed_at": iso(now),
        "waiting": {
            "total": sum(waiting.values()),
            "by_priority": waiting,
            "oldest_since": iso(oldest),
            "oldest_since_by_priority": oldest_by_priority,
            "longest_wait_seconds": queue.longest_wait_seconds(now),
        },
        "agents": {
            "by_status": by_status,
            # agent id → [status, active chats, max chats]: the wallboard grid's load column.
            "loads": {str(pk): [status, active, cap] for pk, status, active, cap in agents},
        },
        "pending_offers": pending_offers,
        "sla": {
            "at_risk": sla_row["at_risk"],
            "breached": sla_row["breached"],
            "pressing": pressing,
            "next_change_at": iso(next_change),
        },
        # One tile per named queue: the live metrics of the last hour and the forecast.
        "queues": queues,
        "today": {
            "since": iso(midnight),
            "chats": day["chats"],
            "resolved": day["resolved"],
            "answered": day["answered"],
            "median_first_response_seconds": median,
            "first_response_met": day["met"],
            "first_response_missed": day["missed"],
            "sla_compliance": round(day["met"] / judged, 4) if judged else None,
            "csat": _csat(day["csat_responses"], day["csat_sum"], day["csat_satisfied"]),
        },
    }


def _queue_tile(metrics: dict[str, Any]) -> dict[str, Any]:
    """A queue's wallboard tile: the live metrics' figures a supervisor reads across a room."""
    forecast = metrics["forecast"]
    return {
        "id": metrics["queue"]["id"],
        "name": metrics["queue"]["name"],
        "waiting": metrics["waiting"],
        "longest_wait_seconds": metrics["longest_wait_seconds"],
        "offered": metrics["offered"],
        "service_level": metrics["service_level"],
        "service_level_seconds": metrics["service_level_seconds"],
        "service_level_target": metrics["service_level_target"],
        "asa_seconds": metrics["asa_seconds"],
        "required_agents": forecast["required_agents"],
        "available_agents": forecast["available_agents"],
        "expected_service_level": forecast["expected_service_level"],
    }


def _csat(responses: int, total: int | None, satisfied: int) -> dict[str, Any]:
    """`{responses, average (1-5), satisfied_rate (share rated 4-5, 0-1)}`."""
    return {
        "responses": responses,
        "average": round((total or 0) / responses, 2) if responses else None,
        "satisfied_rate": round(satisfied / responses, 4) if responses else None,
    }


# --- who computes, when ------------------------------------------------------------------------


def _key(company_id: int, name: str) -> str:
    return f"{settings.REDIS_KEY_PREFIX}:{{c{company_id}}}:wallboard:{name}"


_CLAIM_KEYS = ("done", "next", "lock")
# KEYS: seq, done (the seq the last stats cover), next (ms of the next timed change), lock.
# ARGV: now ms, lock ms. Returns the current seq if the caller should compute, else false.
_CLAIM_LUA = """
local seq = tonumber(redis.call('GET', KEYS[1]) or '0')
local done = redis.call('GET', KEYS[2])
local nxt = tonumber(redis.call('GET', KEYS[3]) or '0')
if done and seq <= tonumber(done) and (nxt == 0 or nxt > tonumber(ARGV[1])) then
  return false
end
if redis.call('SET', KEYS[4], '1', 'NX', 'PX', ARGV[2]) then
  return seq
end
return false
"""


def publish_stats(company_id: int, seq_before: int) -> int:
    """Compute and publish the company's stats; remember which seq they cover.

    `seq_before` was read before the queries: every event up to it is in the numbers. If other
    events got a seq between it and ours, they may not be, so the next tick computes again.
    """
    now = timezone.now()
    stats = compute_stats(company_id, now=now)
    event = make_event(EventType.WALLBOARD_STATS, company_id, stats, supervisors=True)
    [seq] = publish_now([event])
    covered = seq if seq == seq_before + 1 else seq_before
    next_change = stats["sla"]["next_change_at"]
    next_ms = int(dt.datetime.fromisoformat(next_change).timestamp() * 1000) if next_change else 0
    pipe = sync_client(settings.CHANNEL_LAYER_REDIS_URL).pipeline(transaction=False)
    pipe.set(_key(company_id, "done"), covered, ex=_KEY_TTL_SECONDS)
    pipe.set(_key(company_id, "next"), next_ms, ex=_KEY_TTL_SECONDS)
    pipe.execute()
    return seq


class StatsTicker:
    """The companies with a wallboard open in this process, ticked once per interval."""

    def __init__(self) -> None:
        self.watching: Counter[int] = Counter()
        self.task: asyncio.Task[None] | None = None

    def watch(self, company_id: int) -> None:
        self.watching[company_id] += 1
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._run())

    def unwatch(self, company_id: int) -> None:
        self.watching[company_id] -= 1
        if self.watching[company_id] <= 0:
            del self.watching[company_id]
        if not self.watching and self.task is not None:
            self.task.cancel()
            self.task = None

    async def _run(self) -> None:
        interval = settings.WS_WALLBOARD_INTERVAL_MS / 1000
        while self.watching:
            started = time.monotonic()
            try:
                await self.tick()
            except Exception:  # the next tick retries
                logger.exception("wallboard stats tick failed")
            await asyncio.sleep(max(0.05, interval - (time.monotonic() - started)))

    async def tick(self) -> list[int]:
        """Compute the due companies; returns their ids."""
        companies = list(self.watching)
        if not companies:
            return []
        client = async_client()  # the seq keys' Redis: the script reads them with its own keys
        claim = script(client, _CLAIM_LUA)
        now_ms = int(time.time() * 1000)
        lock_ms = settings.WS_WALLBOARD_INTERVAL_MS

        async def claim_all() -> list[Any]:
            if is_cluster_client(client):  # a cluster pipeline refuses scripts: one call each
                return list(
                    await asyncio.gather(
                        *(
                            claim(
                                keys=[seq_key(c), *(_key(c, n) for n in _CLAIM_KEYS)],
                                args=[now_ms, lock_ms],
                            )
                            for c in companies
                        )
                    )
                )
            pipe = client.pipeline(transaction=False)
            for company_id in companies:
                keys = [seq_key(company_id), *(_key(company_id, n) for n in _CLAIM_KEYS)]
                await claim(keys=keys, args=[now_ms, lock_ms], client=pipe)
            return list(await pipe.execute())

        results = await claim_all()
        due = [(c, int(seq)) for c, seq in zip(companies, results, strict=True) if seq is not None]
        for company_id, seq in due:
            await in_thread(publish_stats)(company_id, seq)
        return [c for c, _ in due]


_tickers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, StatsTicker] = (
    weakref.WeakKeyDictionary()
)


def ticker() -> StatsTicker:
    """This process's (event loop's) ticker."""
    return _tickers.setdefault(asyncio.get_running_loop(), StatsTicker())
