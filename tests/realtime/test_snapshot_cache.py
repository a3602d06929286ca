"""Consoles connecting together share one read of the company queue, and it is never stale
beyond what the events after the snapshot's seq deliver (realtime.snapshots.waiting_queue)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from channels.db import database_sync_to_async

from events.log import publish_now
from events.schema import EventType, make_event, queue_group
from realtime import snapshots
from realtime.replay import snapshot_point
from realtime.snapshots import SnapshotPoint, agent_snapshot
from realtime.tickets import issue_ticket
from routing_service.chats.models import Channel, Conversation
from routing_service.tenancy.models import AgentStatus, Company, User
from tests.realtime.sockets import Socket

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def queue_reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The company ids of every real queue read."""
    reads: list[int] = []
    real = snapshots._waiting

    def counting(company_id: int, limit: int) -> Any:
        reads.append(company_id)
        return real(company_id, limit)

    monkeypatch.setattr(snapshots, "_waiting", counting)
    snapshots._queue_reads.clear()
    yield reads
    snapshots._queue_reads.clear()


@pytest.fixture
def offline_agents(make_agent: Callable[..., User], company_a: Company) -> list[User]:
    """Agents nobody routes to: the company's chats stay waiting."""
    return [make_agent(company_a, status=AgentStatus.OFFLINE) for _ in range(3)]


async def point(company: Company) -> SnapshotPoint:
    seq, queue_seq = await snapshot_point(company.pk, queue_group(company.pk))
    return SnapshotPoint(seq, queue_seq)


snapshot = database_sync_to_async(agent_snapshot)


def queue_ids(data: dict[str, Any]) -> list[int]:
    return [c["conversation_id"] for c in data["queue"]]


async def test_consoles_at_the_same_point_share_one_read(
    queue_reads: list[int],
    offline_agents: list[User],
    company_a: Company,
    channel_a: Channel,
    inbound: Callable[..., int],
) -> None:
    chats = [await database_sync_to_async(inbound)(channel_a, f"client-{n}") for n in range(3)]
    at = await point(company_a)
    got = [await snapshot(agent, company_a, at) for agent in offline_agents]
    assert queue_reads == [company_a.pk]
    assert all(queue_ids(data) == chats and data["queue_total"] == 3 for data in got)


async def test_a_queue_event_after_the_read_means_a_fresh_read(
    queue_reads: list[int],
    offline_agents: list[User],
    company_a: Company,
    channel_a: Channel,
    inbound: Callable[..., int],
) -> None:
    first = await database_sync_to_async(inbound)(channel_a, "client-1")
    before = await snapshot(offline_agents[0], company_a, await point(company_a))
    assert queue_ids(before) == [first]

    second = await database_sync_to_async(inbound)(channel_a, "client-2")  # a queue event
    after = await snapshot(offline_agents[1], company_a, await point(company_a))
    assert queue_ids(after) == [first, second]
    assert len(queue_reads) == 2


async def test_events_outside_the_queue_keep_the_read(
    queue_reads: list[int],
    offline_agents: list[User],
    company_a: Company,
    channel_a: Channel,
    inbound: Callable[..., int],
) -> None:
    chat = await database_sync_to_async(inbound)(channel_a, "client-1")
    first = await point(company_a)
    await snapshot(offline_agents[0], company_a, first)
    event = make_event(EventType.AGENT_STATUS, company_a.pk, {"x": 1}, supervisors=True)
    await database_sync_to_async(publish_now)([event])
    later = await point(company_a)
    assert later.seq > first.seq and later.queue_seq == first.queue_seq
    data = await snapshot(offline_agents[1], company_a, later)
    assert queue_ids(data) == [chat]
    assert queue_reads == [company_a.pk]


async def test_the_shared_read_expires(
    queue_reads: list[int],
    monkeypatch: pytest.MonkeyPatch,
    offline_agents: list[User],
    company_a: Company,
    channel_a: Channel,
    inbound: Callable[..., int],
) -> None:
    """A change made without an event (an admin edit, a lost publish) shows after the TTL."""
    chat = await database_sync_to_async(inbound)(channel_a, "client-1")
    at = await point(company_a)
    await snapshot(offline_agents[0], company_a, at)
    await database_sync_to_async(
        lambda: Conversation.objects.unscoped().filter(pk=chat).update(status="abandoned")
    )()
    monkeypatch.setattr(snapshots, "QUEUE_CACHE_SECONDS", 0.0)
    data = await snapshot(offline_agents[1], company_a, at)
    assert queue_ids(data) == [] and len(queue_reads) == 2


async def test_without_a_queue_seq_nothing_shared_is_used(
    queue_reads: list[int], offline_agents: list[User], company_a: Company
) -> None:
    """A resync snapshot (after a replay read) knows only the seq: it reads for itself."""
    for agent in offline_agents[:2]:
        await snapshot(agent, company_a, SnapshotPoint(0))
    assert len(queue_reads) == 2


async def test_console_snapshots_over_a_socket_include_every_queue_event_up_to_their_seq(
    queue_reads: list[int],
    offline_agents: list[User],
    company_a: Company,
    channel_a: Channel,
    inbound: Callable[..., int],
    ws: Callable[..., Any],
) -> None:
    first = await database_sync_to_async(inbound)(channel_a, "client-1")
    sock: Socket = await ws(f"/ws/agent/?ticket={issue_ticket(offline_agents[0])[0]}")
    snap = await sock.frame_of("snapshot")
    assert queue_ids(snap["data"]) == [first]

    second = await database_sync_to_async(inbound)(channel_a, "client-2")
    event = await sock.frame_of("queue.updated")
    assert event["data"]["conversation_id"] == second
    other: Socket = await ws(f"/ws/agent/?ticket={issue_ticket(offline_agents[1])[0]}")
    later = await other.frame_of("snapshot")
    assert later["seq"] >= event["seq"]
    assert queue_ids(later["data"]) == [first, second]
