"""Reconnecting with ?last_seq=N: exactly the missed events, in order, then live ones.

Over a real daphne (and channels-redis, PostgreSQL): the log read, the subscription fence and
the de-duplication at the seam are what is under test.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis
from channels.db import database_sync_to_async
from django.test import override_settings

from events.log import log_key, publish_now
from events.relay import relay_once
from events.schema import EventType, make_event
from realtime.tickets import issue_ticket
from routing_service.tenancy.models import Company, User
from tests.realtime.conftest import Daphne
from tests.realtime.wire import dial, next_frame
from tests.support.crashes import AFTER_COMMIT, crashing_writer

pytestmark = pytest.mark.django_db(transaction=True)


def publish(company: Company, label: str, **to: Any) -> tuple[str, int]:
    """Publish one test event; returns (its id, its seq)."""
    event = make_event(EventType.QUEUE_UPDATED, company.pk, {"label": label}, **to)
    [seq] = publish_now([event])
    return event.id, seq


async def open_console(daphne: Daphne, agent: User, last_seq: int | None = None) -> Any:
    ticket, _ = issue_ticket(agent)
    query = f"?ticket={ticket}" + (f"&last_seq={last_seq}" if last_seq is not None else "")
    return await dial(daphne.url(f"/ws/agent/{query}"))


async def test_reconnect_gets_exactly_the_missed_events_in_order_then_live_ones(
    daphne: Daphne,
    agent_a: User,
    make_agent: Callable[..., User],
    company_a: Company,
    company_b: Company,
) -> None:
    colleague = await database_sync_to_async(make_agent)(company_a)
    conn = await open_console(daphne, agent_a)
    snapshot = await next_frame(conn)
    assert snapshot["type"] == "snapshot" and snapshot["data"]["resync"] is False

    live_1 = publish(company_a, "live-1", agents=[agent_a.pk])
    live_2 = publish(company_a, "live-2", queue=True)
    got = [await next_frame(conn), await next_frame(conn)]
    assert [(f["id"], f["seq"]) for f in got] == [live_1, live_2]
    await conn.close()

    missed = [
        publish(company_a, "queue", queue=True),
        publish(company_a, "mine", agents=[agent_a.pk]),
        publish(company_a, "both-groups", queue=True, agents=[agent_a.pk]),
        publish(company_a, "queue-again", queue=True),
    ]
    publish(company_a, "supervisors-only", supervisors=True)
    publish(company_a, "colleague", agents=[colleague.pk])
    publish(company_b, "other-company", queue=True, supervisors=True)

    conn = await open_console(daphne, agent_a, last_seq=live_2[1])
    replayed = [await next_frame(conn) for _ in missed]
    assert [(f["id"], f["seq"]) for f in replayed] == missed
    assert [f["data"]["label"] for f in replayed] == ["queue", "mine", "both-groups", "queue-again"]
    with pytest.raises(TimeoutError):
        await next_frame(conn, timeout=0.3)  # no snapshot, no duplicate, nothing else

    live_3 = publish(company_a, "live-3", queue=True)
    frame = await next_frame(conn)
    assert (frame["id"], frame["seq"]) == live_3
    await conn.close()


async def test_nothing_missed_means_nothing_replayed(daphne: Daphne, agent_a: User) -> None:
    conn = await open_console(daphne, agent_a)
    seq = (await next_frame(conn))["seq"]
    await conn.close()
    conn = await open_console(daphne, agent_a, last_seq=seq)
    with pytest.raises(TimeoutError):
        await next_frame(conn, timeout=0.3)
    await conn.close()


async def test_events_published_during_the_reconnect_are_neither_lost_nor_doubled(
    daphne: Daphne, agent_a: User, company_a: Company
) -> None:
    """A publisher runs flat out while the client reconnects: the seam must be seamless."""
    conn = await open_console(daphne, agent_a)
    start = (await next_frame(conn))["seq"]
    await conn.close()

    published: list[int] = []
    stop = threading.Event()

    def publisher() -> None:
        n = 0
        while not stop.is_set() or n < 50:
            _, seq = publish(company_a, f"e{n}", queue=True, agents=[agent_a.pk])
            published.append(seq)
            n += 1
            time.sleep(0.0005)

    thread = threading.Thread(target=publisher)
    thread.start()
    try:
        await asyncio.sleep(0.05)  # some events are missed before the reconnect starts
        conn = await open_console(daphne, agent_a, last_seq=start)
        await asyncio.sleep(0.3)  # ...and more arrive during and after the replay
    finally:
        stop.set()
        await asyncio.to_thread(thread.join)
    _, marker = publish(company_a, "marker", queue=True)

    received: list[int] = []
    while True:
        frame = await next_frame(conn)
        received.append(frame["seq"])
        if frame["seq"] == marker:
            break
    await conn.close()
    assert received == [*published, marker]


async def test_gap_trimmed_from_the_log_gets_a_resync_snapshot(
    daphne: Daphne, agent_a: User, company_a: Company, redis_client: redis.Redis
) -> None:
    conn = await open_console(daphne, agent_a)
    seq = (await next_frame(conn))["seq"]
    await conn.close()
    for n in range(10):
        publish(company_a, f"old-{n}", agents=[agent_a.pk])
    redis_client.xtrim(log_key(company_a.pk, f"agent.{agent_a.pk}"), maxlen=2, approximate=False)

    conn = await open_console(daphne, agent_a, last_seq=seq)
    snapshot = await next_frame(conn)
    assert snapshot["type"] == "snapshot"
    assert snapshot["data"]["resync"] is True
    assert snapshot["data"]["resync_reason"] == "trimmed"
    assert snapshot["seq"] == seq + 10
    await conn.close()


async def test_trimmed_log_still_replays_a_gap_it_fully_holds(
    daphne: Daphne, agent_a: User, company_a: Company, redis_client: redis.Redis
) -> None:
    conn = await open_console(daphne, agent_a)
    await next_frame(conn)
    await conn.close()
    events = [publish(company_a, f"e{n}", agents=[agent_a.pk]) for n in range(10)]
    redis_client.xtrim(log_key(company_a.pk, f"agent.{agent_a.pk}"), maxlen=5, approximate=False)

    conn = await open_console(daphne, agent_a, last_seq=events[4][1])  # the log starts right after
    replayed = [await next_frame(conn) for _ in range(5)]
    assert [(f["id"], f["seq"]) for f in replayed] == events[5:]
    await conn.close()

    conn = await open_console(daphne, agent_a, last_seq=events[3][1])  # events[4] is gone
    snapshot = await next_frame(conn)
    assert (snapshot["type"], snapshot["data"]["resync_reason"]) == ("snapshot", "trimmed")
    await conn.close()


async def test_seq_the_server_never_issued_gets_a_resync_snapshot(
    daphne: Daphne, agent_a: User
) -> None:
    conn = await open_console(daphne, agent_a, last_seq=10**12)
    snapshot = await next_frame(conn)
    assert (snapshot["type"], snapshot["data"]["resync_reason"]) == ("snapshot", "unknown_seq")
    await conn.close()


@override_settings(WS_REPLAY_MAX_EVENTS=3)
async def test_too_long_a_gap_gets_a_resync_snapshot(
    ws: Callable[..., Any], agent_a: User, company_a: Company
) -> None:
    ticket, _ = issue_ticket(agent_a)
    sock = await ws(f"/ws/agent/?ticket={ticket}")
    seq = (await sock.frame())["seq"]
    await sock.disconnect()
    for n in range(5):
        publish(company_a, f"n{n}", queue=True)
    ticket, _ = issue_ticket(agent_a)
    sock = await ws(f"/ws/agent/?ticket={ticket}&last_seq={seq}")
    snapshot = await sock.frame()
    assert (snapshot["type"], snapshot["data"]["resync_reason"]) == ("snapshot", "too_many")
    assert snapshot["seq"] == seq + 5


async def test_events_a_crashed_writer_left_are_replayed_once_relayed_without_a_gap(
    daphne: Daphne, agent_a: User, company_a: Company
) -> None:
    conn = await open_console(daphne, agent_a)
    seq = (await next_frame(conn))["seq"]
    await conn.close()

    child = await asyncio.to_thread(crashing_writer, company_a.pk, AFTER_COMMIT)
    assert child.returncode == 9, child.stderr.decode()
    conn = await open_console(daphne, agent_a, last_seq=seq)
    with pytest.raises(TimeoutError):  # committed, but not in the log yet
        await next_frame(conn, timeout=0.3)

    assert await database_sync_to_async(relay_once)(older_than_ms=0) == 2
    live = [await next_frame(conn), await next_frame(conn)]  # the open console: live
    await conn.close()
    conn = await open_console(daphne, agent_a, last_seq=seq)  # a reconnecting one: replayed
    replayed = [await next_frame(conn), await next_frame(conn)]
    await conn.close()
    for frames in (live, replayed):
        assert [f["seq"] for f in frames] == [seq + 1, seq + 2]
        assert [f["data"]["label"] for f in frames] == ["crash-1", "crash-2"]
