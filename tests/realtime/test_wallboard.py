"""Wallboard: the snapshot, the stats numbers, and one coalesced `wallboard.stats` per interval."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis
from channels.db import database_sync_to_async
from django.test import override_settings
from django.utils import timezone

from events.log import log_key, publish_now
from events.schema import EventType, make_event, supervisors_group
from realtime.tickets import issue_ticket
from realtime.wallboard import StatsTicker, compute_stats
from routing_service.chats.models import (
    PRIORITY_RANK,
    AssignmentStatus,
    Channel,
    ChatAssignment,
    Client,
    Conversation,
    ConversationStatus,
    Priority,
)
from routing_service.tenancy.models import AgentStatus, Company, User
from tests.realtime.sockets import Socket

pytestmark = pytest.mark.django_db(transaction=True)

Open = Callable[..., Awaitable[Socket]]
NOON = timezone.now().replace(hour=12, minute=0, second=0, microsecond=0)


@database_sync_to_async
def db(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return func(*args, **kwargs)


def chat(
    channel: Channel,
    name: str,
    *,
    status: str,
    priority: str = Priority.MEDIUM,
    age: dt.timedelta,
    now: dt.datetime = NOON,
    first_due_in: dt.timedelta | None = None,
    resolution_due_in: dt.timedelta | None = None,
    answered_after: dt.timedelta | None = None,
    met: bool | None = None,
) -> Conversation:
    created = now - age
    client = Client.objects.create(company_id=channel.company_id, external_id=name, name=name)
    return Conversation.objects.create(
        company_id=channel.company_id,
        client=client,
        channel=channel,
        status=status,
        priority=priority,
        priority_rank=PRIORITY_RANK[Priority(priority)],
        created_at=created,
        queued_at=created,
        last_message_at=created,
        first_response_due_at=now + first_due_in if first_due_in is not None else None,
        resolution_due_at=now + resolution_due_in if resolution_due_in is not None else None,
        first_response_at=created + answered_after if answered_after is not None else None,
        first_response_met=met,
        resolved_at=now if status == ConversationStatus.RESOLVED else None,
    )


def build_floor(
    company: Company, channel: Channel, make_agent: Callable[..., User], now: dt.datetime
) -> dict[str, Any]:
    """Three agents and five chats with known SLA positions at `now`."""
    minute = dt.timedelta(minutes=1)
    busy = make_agent(company, max_chats=2, active_chats=1)
    make_agent(company, status=AgentStatus.AWAY, max_chats=3)
    make_agent(company, status=AgentStatus.OFFLINE, max_chats=3)
    calm = chat(
        channel,
        "calm",
        status=ConversationStatus.WAITING,
        priority=Priority.URGENT,
        now=now,
        age=5 * minute,
        first_due_in=5 * minute,
        resolution_due_in=55 * minute,
    )
    close = chat(
        channel,
        "close",
        status=ConversationStatus.WAITING,
        priority=Priority.LOW,
        now=now,
        age=9 * minute,
        first_due_in=minute,
    )
    late = chat(
        channel,
        "late",
        status=ConversationStatus.ASSIGNED,
        age=11 * minute,
        first_due_in=-minute,
        now=now,
    )
    ChatAssignment.objects.create(
        company=company,
        conversation=late,
        agent=busy,
        status=AssignmentStatus.OFFERED,
        offered_at=now - minute,
    )
    for name, after, met in (("quick", 30, True), ("slow", 90, False)):
        chat(
            channel,
            name,
            status=ConversationStatus.RESOLVED,
            now=now,
            age=30 * minute,
            answered_after=dt.timedelta(seconds=after),
            met=met,
        )
    return {"calm": calm, "close": close, "late": late, "busy": busy}


@pytest.fixture
def floor(
    company_a: Company, channel_a: Channel, make_agent: Callable[..., User], sla_a: None
) -> dict[str, Any]:
    """The floor at NOON of today: `compute_stats` is given that clock, so "today" is exact."""
    return build_floor(company_a, channel_a, make_agent, NOON)


@pytest.fixture
def live_floor(
    company_a: Company, channel_a: Channel, make_agent: Callable[..., User], sla_a: None
) -> dict[str, Any]:
    """The floor around the real clock, for paths that read it (the websocket snapshot): built
    around NOON, the "late" chat would not be due yet before 12:00 UTC."""
    return build_floor(company_a, channel_a, make_agent, timezone.now())


def test_stats_count_queue_agents_offers_sla_and_today(
    company_a: Company, floor: dict[str, Any]
) -> None:
    stats = compute_stats(company_a.pk, now=NOON)

    assert stats["waiting"]["total"] == 2
    assert stats["waiting"]["by_priority"] == {"urgent": 1, "high": 0, "medium": 0, "low": 1}
    assert stats["waiting"]["longest_wait_seconds"] == 9 * 60
    assert stats["agents"]["by_status"] == {
        "available": {"count": 1, "active_chats": 1, "capacity": 2},
        "away": {"count": 1, "active_chats": 0, "capacity": 3},
        "offline": {"count": 1, "active_chats": 0, "capacity": 3},
    }
    assert stats["agents"]["loads"][str(floor["busy"].pk)] == ["available", 1, 2]
    assert stats["pending_offers"] == 1
    assert (stats["sla"]["at_risk"], stats["sla"]["breached"]) == (1, 1)
    assert [(p["conversation_id"], p["state"]) for p in stats["sla"]["pressing"]] == [
        (floor["late"].pk, "breached"),
        (floor["close"].pk, "at_risk"),
    ]
    # The next change without any event: "close" breaches in a minute.
    assert stats["sla"]["next_change_at"] == (NOON + dt.timedelta(minutes=1)).isoformat()
    today = stats["today"]
    assert (today["chats"], today["resolved"], today["answered"]) == (5, 2, 2)
    assert today["median_first_response_seconds"] == 60
    # Met: "quick"; missed: "slow" and the unanswered, overdue "late".
    assert (today["first_response_met"], today["first_response_missed"]) == (1, 2)
    assert today["sla_compliance"] == round(1 / 3, 4)


def test_stats_of_a_company_without_sla_or_chats(company_b: Company) -> None:
    stats = compute_stats(company_b.pk)
    assert stats["waiting"]["total"] == 0
    assert (stats["sla"]["at_risk"], stats["sla"]["breached"]) == (0, 0)
    assert stats["today"]["sla_compliance"] is None
    assert stats["today"]["median_first_response_seconds"] is None


async def test_wallboard_snapshot_has_stats_grid_queue_by_priority_and_at_risk(
    ws: Open, supervisor_a: User, live_floor: dict[str, Any]
) -> None:
    floor = live_floor
    sock = await ws(f"/ws/wallboard/?ticket={issue_ticket(supervisor_a)[0]}")
    snapshot = await sock.frame_of("snapshot")
    data = snapshot["data"]

    assert data["kind"] == "wallboard"
    assert data["stats"]["waiting"]["total"] == 2
    grid = {a["agent_id"]: a for a in data["agents"]}
    assert grid[floor["busy"].pk]["pending_offers"] == 1
    assert supervisor_a.pk in grid  # supervisors take chats too
    by_priority = data["queue"]["by_priority"]
    assert [c["conversation_id"] for c in by_priority["urgent"]] == [floor["calm"].pk]
    assert [c["conversation_id"] for c in by_priority["low"]] == [floor["close"].pk]
    at_risk = {c["conversation_id"]: c["sla_state"] for c in data["at_risk"]}
    assert at_risk[floor["late"].pk] == "breached"
    assert data["at_risk"][0]["sla_due_at"]


async def collect(sock: Socket, seconds: float) -> list[tuple[float, dict[str, Any]]]:
    """Every frame for `seconds`, with its arrival time (never a timed-out receive)."""
    frames = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        if not await sock.nothing(min(left, 0.05)):
            frames.append((time.monotonic(), await sock.frame()))
    return frames


@override_settings(WS_WALLBOARD_INTERVAL_MS=200)
async def test_stats_are_coalesced_and_sent_only_after_a_change(
    ws: Open, supervisor_a: User, company_a: Company
) -> None:
    sock = await ws(f"/ws/wallboard/?ticket={issue_ticket(supervisor_a)[0]}")
    await sock.frame_of("snapshot")
    await sock.frame_of(EventType.WALLBOARD_STATS)  # the first tick: nothing computed yet
    assert not [f for _, f in await collect(sock, 0.6) if f["type"] == EventType.WALLBOARD_STATS]

    async def burst() -> None:
        for n in range(60):  # 60 events in ~0.6 s
            publish_now([make_event(EventType.QUEUE_UPDATED, company_a.pk, {"n": n}, queue=True)])
            await asyncio.sleep(0.01)

    started = time.monotonic()
    task = asyncio.create_task(burst())
    frames = await collect(sock, 1.0)
    await task  # on a loaded machine the burst can outlast the first second
    frames += await collect(sock, 0.4)  # the interval that covers the burst's tail
    elapsed = time.monotonic() - started
    stats = [(at, f) for at, f in frames if f["type"] == EventType.WALLBOARD_STATS]
    # One per 200 ms interval at most, not one per event.
    assert 2 <= len(stats) <= elapsed / 0.2 + 1, (len(stats), elapsed)
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(stats)]
    assert all(gap > 0.12 for gap in gaps), gaps
    frames = await collect(sock, 0.8)  # quiet: no change, no stats
    assert not [f for _, f in frames if f["type"] == EventType.WALLBOARD_STATS]


async def test_one_process_computes_per_interval(company_a: Company) -> None:
    first, second = StatsTicker(), StatsTicker()  # two web processes' tickers
    first.watching[company_a.pk] = second.watching[company_a.pk] = 1

    results = await asyncio.gather(first.tick(), second.tick())

    assert sorted(results, key=len) == [[], [company_a.pk]]


@override_settings(WS_WALLBOARD_INTERVAL_MS=100)
async def test_time_alone_triggers_stats_when_a_chat_breaches(
    company_a: Company, channel_a: Channel, sla_a: None, redis_client: redis.Redis
) -> None:
    now = timezone.now()
    due_in = dt.timedelta(seconds=1)
    await db(
        chat,
        channel_a,
        "soon",
        status=ConversationStatus.WAITING,
        age=dt.timedelta(minutes=9),
        now=now,
        first_due_in=due_in,
    )
    ticker = StatsTicker()
    ticker.watching[company_a.pk] = 1

    assert await ticker.tick() == [company_a.pk]  # first stats: at risk, breach in 1 s
    await asyncio.sleep(0.15)
    assert await ticker.tick() == []  # nothing happened
    await asyncio.sleep((now + due_in - timezone.now()).total_seconds() + 0.05)
    assert await ticker.tick() == [company_a.pk]  # the breach, with no event at all

    log = redis_client.xrange(log_key(company_a.pk, supervisors_group(company_a.pk)))
    sla = [json.loads(fields[b"e"])["data"]["sla"] for _, fields in log]
    assert [(s["at_risk"], s["breached"]) for s in sla] == [(1, 0), (0, 1)]
