"""The scale-out scenario on a Redis Cluster, and a primary killed (SIGKILL) mid-load.

2 web processes, 2 routers, an SLA timer (it runs the outbox relay) and an agent console per
company, all on a local cluster (3 primaries, a replica each). Clients post like providers do:
a message's next attempt follows a non-2xx answer after a short pause, and a client's next
message leaves only once its previous one was accepted. Midway, the primary that holds inbound
shard 0 is killed. After its replica took over: every message accepted (2xx) is in the
database exactly once and in order per conversation, nothing is left pending, and every
console ends at the last seq of its groups' logs (live, or caught up after the layer moved its
subscriptions). Prints the failover window and the counts.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import subprocess
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from websockets.asyncio.client import connect

from events.log import log_key
from events.schema import agent_group, queue_group
from realtime.tickets import issue_ticket
from routing_service.chats.models import Channel, Conversation, Message
from routing_service.ingest import stream
from routing_service.tenancy.models import User
from tests.router.test_scale_out import channels, post  # noqa: F401 (a fixture)
from tests.support.processes import (
    child_env,
    daphne,
    free_port,
    manage,
    running,
    stop,
    wait_for,
    wait_for_port,
)
from tests.support.redis_cluster import LocalCluster

# About a minute on an idle machine; a shared, loaded one needs more.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow, pytest.mark.timeout(900)]

SHARDS = 6
COMPANIES = 3
CLIENTS = 30
ROUNDS = 8  # 240 messages
RETRY_PAUSE = 0.2


@dataclass
class Attempts:
    """Every answer a client got, with the moment it got it."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    answers: list[tuple[float, int, int, str]] = field(default_factory=list)

    def post_until_accepted(
        self, http: httpx.Client, port: int, channel: Channel, client: int, seq: int
    ) -> int:
        deadline = time.monotonic() + 60
        while True:
            try:
                status = post(http, port, channel, client, seq)
            except httpx.HTTPError:
                status = 0
            with self.lock:
                self.answers.append((time.monotonic(), client, seq, str(status)))
            if 200 <= status < 300 or time.monotonic() > deadline:
                return status
            time.sleep(RETRY_PAUSE)


class Consoles:
    """Agent consoles on a background event loop, keeping every frame they receive."""

    def __init__(self, urls: list[str]) -> None:
        self.urls = urls
        self.frames: dict[str, list[dict[str, Any]]] = {url: [] for url in urls}
        self.stop = threading.Event()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        sockets = [await connect(url, origin=url.replace("ws://", "http://").split("/ws/")[0])
                   for url in self.urls]  # fmt: skip
        self.ready.set()

        async def read(url: str, sock: Any) -> None:
            while not self.stop.is_set():
                try:
                    raw = await asyncio.wait_for(sock.recv(), 0.2)
                except TimeoutError:
                    continue
                self.frames[url].append(json.loads(raw))

        await asyncio.gather(*(read(u, s) for u, s in zip(self.urls, sockets, strict=True)))
        for sock in sockets:
            await sock.close()

    def __enter__(self) -> Consoles:
        self.thread.start()
        assert self.ready.wait(60), "consoles did not connect"
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(30)


def pending(cluster: redis.RedisCluster) -> int:
    return sum(
        cluster.xpending(key, "routers")["pending"]
        for key in stream.all_stream_keys()
        if cluster.exists(key)
    )


def last_logged_seq(cluster: redis.RedisCluster, company_id: int, groups: list[str]) -> int:
    seqs = [0]
    for group in groups:
        newest = cluster.xrevrange(log_key(company_id, group), count=1)
        if newest:
            seqs.append(int(newest[0][0].split(b"-")[0]))
    return max(seqs)


@contextmanager
def serving(env: dict[str, str], count: int, logs: Path) -> Iterator[list[int]]:
    """`count` daphne processes (output in `logs`); a loaded machine may take a minute."""
    ports = [free_port() for _ in range(count)]
    webs = []
    for port in ports:
        with open(logs / f"web-{port}.log", "wb") as log:
            webs.append(daphne(port, env, stdout=log.fileno(), stderr=subprocess.STDOUT))
    try:
        for port, web in zip(ports, webs, strict=True):
            wait_for_port(port, web, timeout=120)
        yield ports
    finally:
        for web in webs:
            stop(web, timeout=15)


@pytest.fixture
def cluster_env(local_cluster: LocalCluster, settings: Any) -> Iterator[dict[str, str]]:
    settings.INBOUND_SHARDS = SHARDS
    yield child_env(
        REDIS_CLUSTER="true",
        REDIS_URL=local_cluster.url,
        REDIS_WAIT_REPLICAS="1",
        INBOUND_SHARDS=str(SHARDS),
        EVENT_LOG_MAXLEN="100000",
        ROUTER_BATCH_SIZE="20",
        ROUTER_BLOCK_MS="50",
        ROUTER_CLAIM_IDLE_MS="1000",
        ROUTER_LEASE_TTL_MS="1500",
        ROUTER_LEASE_RENEW_MS="300",
        OUTBOX_RELAY_AFTER_MS="1000",
        LOG_LEVEL="WARNING",
    )


def test_scale_out_on_a_cluster_loses_and_duplicates_nothing_when_a_primary_dies(
    local_cluster: LocalCluster,
    cluster_env: dict[str, str],
    channels: list[Channel],  # noqa: F811
    tmp_path: Path,
) -> None:
    agents = [User.objects.get(username=f"scale-{n}-agent-0") for n in range(COMPANIES)]
    victim = local_cluster.primary_port_of(stream.stream_key(0))
    routers = [manage("run_router", f"--name=cr{i}", env=cluster_env) for i in range(2)]
    timer = manage("run_sla_timer", "--metrics-every=0", "--name=ct0", env=cluster_env)
    attempts = Attempts()
    with serving(cluster_env, 2, tmp_path) as ports, running(*routers, timer):
        urls = [
            f"ws://127.0.0.1:{ports[0]}/ws/agent/?ticket={issue_ticket(agent)[0]}"
            for agent in agents
        ]
        with (
            Consoles(urls) as consoles,
            httpx.Client(timeout=10) as http,
            concurrent.futures.ThreadPoolExecutor(16) as pool,
        ):
            started = time.monotonic()
            killed_at = 0.0
            for seq in range(ROUNDS):
                if seq == ROUNDS // 2:
                    local_cluster.kill(victim)  # mid-traffic: the next round meets the failover
                    killed_at = time.monotonic()
                futures = [
                    pool.submit(
                        attempts.post_until_accepted,
                        http,
                        ports[(client + seq) % 2],
                        channels[client % COMPANIES],
                        client,
                        seq,
                    )
                    for client in range(CLIENTS)
                ]
                assert all(200 <= f.result() < 300 for f in futures)
            total = CLIENTS * ROUNDS
            cluster = local_cluster.client()
            try:
                wait_for(lambda: Message.objects.count() >= total and pending(cluster) == 0, 60)
                routed_in = time.monotonic() - started
                time.sleep(2)  # late events (the relay) reach the consoles
                expected = [
                    last_logged_seq(
                        cluster,
                        agent.company_id,
                        [queue_group(agent.company_id), agent_group(agent.pk)],
                    )
                    for agent in agents
                ]
            finally:
                cluster.close()
            wait_for(
                lambda: all(
                    consoles.frames[url] and consoles.frames[url][-1].get("seq") == want
                    for url, want in zip(urls, expected, strict=True)
                ),
                20,
            )

    # Accepted once each, none lost, none duplicated, in order per conversation.
    assert Message.objects.count() == total
    assert Message.objects.values("provider_message_id").distinct().count() == total
    assert Conversation.objects.unscoped().count() == CLIENTS
    sequences: dict[int, list[int]] = defaultdict(list)
    for conversation_id, text in Message.objects.order_by("id").values_list(
        "conversation_id", "text"
    ):
        sequences[conversation_id].append(int(text.removeprefix("seq=")))
    assert all(seqs == list(range(ROUNDS)) for seqs in sequences.values()), {
        k: v for k, v in sequences.items() if v != list(range(ROUNDS))
    }
    # Every console saw strictly increasing seqs, ending at its groups' last.
    for url in urls:
        seqs = [frame["seq"] for frame in consoles.frames[url] if "seq" in frame]
        assert seqs == sorted(set(seqs)), url

    answers = Counter(status for _, _, _, status in attempts.answers)
    refused = [at for at, _, _, status in attempts.answers if not status.startswith("2")]
    window = (max(refused) - killed_at) if refused else 0.0
    print(
        f"\ncluster failover: primary :{victim} killed {killed_at - started:.1f} s in; "
        f"answers {dict(answers)}; accepted {total}, lost "
        f"{total - Message.objects.values('provider_message_id').distinct().count()}, "
        f"duplicated {Message.objects.count() - total}; window (kill → last non-2xx) "
        f"{window:.2f} s; routed {total} in {routed_in:.1f} s"
    )
