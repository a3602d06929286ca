"""Several real router processes, and one killed with SIGKILL mid-batch."""

from __future__ import annotations

import signal
from collections import defaultdict
from collections.abc import Callable

import pytest
import redis

from routing_service.chats.models import (
    ChatAssignment,
    Conversation,
    Message,
    RoutingPolicy,
)
from routing_service.ingest import stream
from routing_service.tenancy.models import Company, User
from tests.support.inbound import append_inbound, inbound_message
from tests.support.processes import child_env, manage, running, stop, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def pending(client: redis.Redis) -> int:
    return sum(
        client.xpending(key, "routers")["pending"]
        for key in stream.all_stream_keys()
        if client.exists(key)
    )


def max_concurrent_assignments(agent_id: int) -> int:
    """Replay the agent's assignments as intervals and return the most held at once."""
    edges: list[tuple[object, int]] = []
    for offered, ended in (
        ChatAssignment.objects.unscoped()
        .filter(agent_id=agent_id)
        .values_list("offered_at", "ended_at")
    ):
        edges.append((offered, 1))
        if ended is not None:
            edges.append((ended, -1))
    held = peak = 0
    for _, delta in sorted(edges, key=lambda e: (e[0], e[1])):  # ends before starts on ties
        held += delta
        peak = max(peak, held)
    return peak


def test_three_routers_route_2000_messages_once_within_capacity(
    redis_client: redis.Redis,
    channel_a,
    channel_b,
    make_agent: Callable[..., User],
) -> None:
    agents: list[User] = []
    for channel in (channel_a, channel_b):
        RoutingPolicy.objects.unscoped().filter(company=channel.company).update(
            offer_timeout_seconds=3600
        )
        agents += [make_agent(channel.company, max_chats=3) for _ in range(5)]
    for n in range(10):  # 200 clients x 10 messages, interleaved like real traffic
        for client in range(200):
            channel = channel_a if client % 2 else channel_b
            append_inbound(
                redis_client, channel, inbound_message(f"m-{client}-{n}", f"client-{client}")
            )

    env = child_env(ROUTER_BATCH_SIZE="50", ROUTER_BLOCK_MS="100")
    with running(*(manage("run_router", f"--name=r{i}", env=env) for i in range(3))):
        wait_for(lambda: Message.objects.count() == 2000 and pending(redis_client) == 0, 180)

    assert Message.objects.values("provider_message_id").distinct().count() == 2000
    assert Conversation.objects.unscoped().count() == 200
    counts = Conversation.objects.unscoped().values_list("message_count", flat=True)
    assert set(counts) == {10}
    # 30 agents' worth of capacity: exactly that many offers, never more per agent.
    assert ChatAssignment.objects.unscoped().count() == 30
    for agent in agents:
        agent.refresh_from_db()
        assert agent.active_chats == 3
        assert max_concurrent_assignments(agent.pk) <= agent.max_chats
    assert all(
        a.company_id == Conversation.objects.unscoped().get(pk=a.conversation_id).company_id
        and User.objects.get(pk=a.agent_id).company_id == a.company_id
        for a in ChatAssignment.objects.unscoped()
    )


def test_killed_router_loses_and_duplicates_nothing(
    redis_client: redis.Redis, channel_a, make_agent: Callable[..., User]
) -> None:
    make_agent(channel_a.company, max_chats=50)
    for n in range(1500):
        append_inbound(redis_client, channel_a, inbound_message(f"k-{n}", f"client-{n % 300}"))
    env = child_env(ROUTER_BATCH_SIZE="100", ROUTER_CLAIM_IDLE_MS="500", ROUTER_BLOCK_MS="100")

    victim = manage("run_router", "--name=victim", env=env)
    with running(victim):  # stopped even when the wait below fails
        wait_for(lambda: Message.objects.count() >= 200, 60, interval=0.01)
        stop(victim, signal.SIGKILL)
    stopped_at = Message.objects.count()
    assert stopped_at < 1500, "the router finished before it could be killed"

    with running(manage("run_router", "--name=survivor", env=env)):
        wait_for(lambda: Message.objects.count() == 1500 and pending(redis_client) == 0, 120)

    assert Message.objects.values("provider_message_id").distinct().count() == 1500
    per_client: dict[int, int] = defaultdict(int)
    for client_id, count in Conversation.objects.unscoped().values_list(
        "client_id", "message_count"
    ):
        per_client[client_id] += count
    assert sorted(set(per_client.values())) == [5]
    assert Company.objects.count() == 1
