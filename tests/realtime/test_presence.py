"""Presence: open consoles and heartbeats decide availability (realtime/presence.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis
from channels.db import database_sync_to_async
from django.conf import settings
from django.core.management import call_command
from rest_framework.test import APIClient

from realtime import presence
from realtime.tickets import issue_ticket
from routing_service.chats.models import AssignmentStatus, ChatAssignment
from routing_service.tenancy.models import AgentStatus, Company, User
from tests.realtime.sockets import Socket

pytestmark = pytest.mark.django_db(transaction=True)

Open = Callable[..., Awaitable[Socket]]
GRACE = settings.PRESENCE_GRACE_SECONDS
TIMEOUT = settings.PRESENCE_TIMEOUT_SECONDS


@database_sync_to_async
def db(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return func(*args, **kwargs)


def status_of(user: User) -> str:
    return User.objects.get(pk=user.pk).status


def offer_of(conversation_id: int) -> ChatAssignment:
    return ChatAssignment.objects.get(
        conversation_id=conversation_id, status=AssignmentStatus.OFFERED
    )


async def open_console(ws: Open, user: User) -> Socket:
    sock = await ws(f"/ws/agent/?ticket={issue_ticket(user)[0]}")
    await sock.frame_of("snapshot")
    return sock


async def test_last_console_closing_sets_away_after_grace_and_reroutes_offers(
    ws: Open,
    make_agent: Callable[..., User],
    company_a: Company,
    supervisor_a: User,
    channel_a,
    inbound,
) -> None:
    leaving = await db(make_agent, company_a)
    staying = await db(make_agent, company_a, status=AgentStatus.OFFLINE)
    chat = await db(inbound, channel_a, "client-1")
    assert (await db(offer_of, chat)).agent_id == leaving.pk
    await db(lambda: User.objects.filter(pk=staying.pk).update(status=AgentStatus.AVAILABLE))
    wallboard = await ws(f"/ws/wallboard/?ticket={issue_ticket(supervisor_a)[0]}")
    await wallboard.frame_of("snapshot")

    console = await open_console(ws, leaving)
    await console.disconnect()
    closed_at = time.time()

    within = await db(presence.presence_tick, closed_at + GRACE - 1)
    assert within.away == []
    assert await db(status_of, leaving) == AgentStatus.AVAILABLE

    after = await db(presence.presence_tick, closed_at + GRACE + 1)
    assert after.away == [leaving.pk]
    assert await db(status_of, leaving) == AgentStatus.AWAY
    assert (await db(offer_of, chat)).agent_id == staying.pk  # the offer went on
    event = await wallboard.frame_of("agent.status")
    assert (event["data"]["agent_id"], event["data"]["status"]) == (leaving.pk, "away")


async def test_reconnecting_within_grace_keeps_everything(
    ws: Open, agent_a: User, channel_a, inbound
) -> None:
    chat = await db(inbound, channel_a, "client-1")
    console = await open_console(ws, agent_a)
    await console.disconnect()
    closed_at = time.time()
    await open_console(ws, agent_a)  # back before the grace period ends

    result = await db(presence.presence_tick, closed_at + GRACE + 60)

    assert result.away == []
    assert await db(status_of, agent_a) == AgentStatus.AVAILABLE
    assert (await db(offer_of, chat)).agent_id == agent_a.pk


async def test_closing_one_of_two_consoles_changes_nothing(ws: Open, agent_a: User) -> None:
    first = await open_console(ws, agent_a)
    await open_console(ws, agent_a)
    await first.disconnect()

    result = await db(presence.presence_tick, time.time() + GRACE + 1)

    assert result.away == []
    assert await db(presence.open_consoles, agent_a.pk) == 1
    assert await db(status_of, agent_a) == AgentStatus.AVAILABLE


async def test_console_that_stops_beating_counts_as_closed(ws: Open, agent_a: User) -> None:
    """Its web process died: no disconnect ever comes, the heartbeats just stop."""
    await open_console(ws, agent_a)
    silent_since = time.time()

    reaped = await db(presence.presence_tick, silent_since + TIMEOUT + 1)
    assert (reaped.reaped, reaped.away) == (1, [])
    gone = await db(presence.presence_tick, silent_since + TIMEOUT + 1 + GRACE + 1)

    assert gone.away == [agent_a.pk]
    assert await db(status_of, agent_a) == AgentStatus.AWAY


async def test_ping_and_the_server_heartbeat_keep_a_console_fresh(
    ws: Open, agent_a: User, redis_client: redis.Redis
) -> None:
    console = await open_console(ws, agent_a)
    key = presence.conns_key(agent_a.pk)
    [(_, opened)] = redis_client.zrange(key, 0, -1, withscores=True)
    time.sleep(0.01)

    await console.request("ping")
    [(_, pinged)] = redis_client.zrange(key, 0, -1, withscores=True)
    assert pinged > opened

    consoles = [(m.decode(), agent_a.pk) for m in redis_client.zrange(key, 0, -1)]
    time.sleep(0.01)
    await presence.touch(consoles)  # what the per-process heartbeat sends
    [(_, beaten)] = redis_client.zrange(key, 0, -1, withscores=True)
    assert beaten > pinged


async def test_agent_whose_status_is_set_over_rest_and_who_never_opened_a_console_keeps_it(
    agent_a: User,
) -> None:
    """An integration or a bot: presence only acts on agents that had consoles open."""

    def set_over_rest() -> int:
        client = APIClient()
        client.force_authenticate(agent_a)
        response = client.post(f"/api/v1/agents/{agent_a.pk}/status/", {"status": "available"})
        return response.status_code

    await db(lambda: User.objects.filter(pk=agent_a.pk).update(status=AgentStatus.AWAY))
    assert await db(set_over_rest) == 200

    for later in (1, TIMEOUT + 1, TIMEOUT + GRACE + 3600):
        assert (await db(presence.presence_tick, time.time() + later)).away == []
    assert await db(status_of, agent_a) == AgentStatus.AVAILABLE


async def test_offline_or_away_agents_are_left_as_they_are(ws: Open, agent_a: User) -> None:
    console = await open_console(ws, agent_a)
    await console.request("set_status", status="offline")
    await console.disconnect()

    result = await db(presence.presence_tick, time.time() + GRACE + 1)

    assert result.away == []
    assert await db(status_of, agent_a) == AgentStatus.OFFLINE


async def test_several_checkers_set_an_agent_away_once(ws: Open, agent_a: User) -> None:
    console = await open_console(ws, agent_a)
    await console.disconnect()
    later = time.time() + GRACE + 1
    results: list[presence.TickResult] = []

    def check() -> None:
        results.append(presence.presence_tick(later))

    def run_two() -> None:
        threads = [threading.Thread(target=check) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    await db(run_two)

    assert sorted(len(r.away) for r in results) == [0, 1]


async def test_run_presence_once(ws: Open, agent_a: User, monkeypatch: pytest.MonkeyPatch) -> None:
    console = await open_console(ws, agent_a)
    await console.disconnect()
    future = time.time() + GRACE + 1
    monkeypatch.setattr(presence.time, "time", lambda: future)

    await db(call_command, "run_presence", "--once")

    assert await db(status_of, agent_a) == AgentStatus.AWAY
