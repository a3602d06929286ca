"""The whole pipeline scaled out on loopback: 2 web processes, 3 routers (one killed with
SIGKILL midway), 2 SLA timers. Every message is routed once and in order per conversation, and
every SLA warning and breach fires once."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import json
import signal
import subprocess
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
import redis
from django.utils import timezone

from routing_service.chats.models import (
    AssignmentEvent,
    Channel,
    Conversation,
    Message,
    Provider,
    RoutingPolicy,
)
from routing_service.ingest import stream
from routing_service.ingest.adapters.generic import sign_generic
from routing_service.tenancy.actions import create_company, create_user
from routing_service.tenancy.models import AgentStatus, Role, User
from sla_engine.models import ChatSLA, SlaTimer
from tests.support.processes import (
    child_env,
    daphne,
    free_port,
    listening,
    manage,
    running,
    stop,
    wait_for,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

SHARDS = 4
COMPANIES = 3
CLIENTS = 100
ROUNDS = 12  # messages per client: 1,200 in all
SECRET = "scale-out-secret"


@contextmanager
def serving(env: dict[str, str], count: int) -> Iterator[list[int]]:
    """`count` daphne processes on free loopback ports (their output is not collected)."""
    ports = [free_port() for _ in range(count)]
    webs = [daphne(port, env, stderr=subprocess.STDOUT) for port in ports]
    try:
        wait_for(lambda: all(listening(port) for port in ports), 30)
        yield ports
    finally:
        for web in webs:
            web.terminate()
        for web in webs:
            try:
                web.wait(timeout=10)
            except subprocess.TimeoutExpired:
                web.kill()
                web.wait()


def pending(client: redis.Redis) -> int:
    return sum(
        client.xpending(key, "routers")["pending"]
        for key in stream.all_stream_keys()
        if client.exists(key)
    )


@pytest.fixture
def channels() -> Iterator[list[Channel]]:
    result = []
    for n in range(COMPANIES):
        company = create_company(f"Scale {n}", f"scale-{n}")
        RoutingPolicy.objects.unscoped().filter(company=company).update(offer_timeout_seconds=3600)
        for priority in ("low", "medium", "high", "urgent"):
            ChatSLA.objects.create(
                company=company,
                priority=priority,
                first_response_minutes=1,
                resolution_minutes=1,
                warning_percent=50,
                weekdays=[0, 1, 2, 3, 4, 5, 6],
                include_weekends=True,
                work_intervals=[["00:00", "00:00"]],
                escalation_ladder=[],
            )
        for a in range(3):
            create_user(
                username=f"scale-{n}-agent-{a}", password=None, role=Role.AGENT, company=company
            )
        User.objects.filter(company=company).update(status=AgentStatus.AVAILABLE, max_chats=50)
        result.append(
            Channel.objects.create(
                company=company, name="Web", provider=Provider.GENERIC, secret=SECRET
            )
        )
    yield result


def post(http: httpx.Client, port: int, channel: Channel, client: int, seq: int) -> int:
    body = json.dumps(
        {
            "message_id": f"c{client}-{seq}",
            "client": {"id": f"client-{client}", "name": f"Client {client}"},
            "text": f"seq={seq}",
            "sent_at": dt.datetime.now(dt.UTC).isoformat(),
        }
    ).encode()
    timestamp = int(time.time())
    response = http.post(
        f"http://127.0.0.1:{port}{channel.webhook_path}",
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-Switchboard-Timestamp": str(timestamp),
            "X-Switchboard-Signature": sign_generic(SECRET, timestamp, body),
        },
    )
    return response.status_code


def test_two_webs_three_routers_two_timers_keep_order_and_fire_once(
    redis_client: redis.Redis, channels: list[Channel], settings
) -> None:
    settings.INBOUND_SHARDS = SHARDS
    env = child_env(
        INBOUND_SHARDS=str(SHARDS),
        ROUTER_BATCH_SIZE="20",
        ROUTER_BLOCK_MS="50",
        ROUTER_CLAIM_IDLE_MS="1000",
        ROUTER_LEASE_TTL_MS="1500",
        ROUTER_LEASE_RENEW_MS="300",
    )
    routers = [manage("run_router", f"--name=scale-r{i}", env=env) for i in range(3)]
    timer_args = ("run_sla_timer", "--metrics-every=0", "--batch-size=50")
    timers = [manage(*timer_args, f"--name=scale-t{i}", env=env) for i in range(2)]
    # running() first: if the web processes fail to start, the routers and timers still stop
    # (left behind, they would fire the next tests' deadlines against this database).
    with running(*routers, *timers), serving(env, 2) as ports:
        started = time.monotonic()
        statuses: Counter[int] = Counter()
        with (
            httpx.Client(timeout=10) as http,
            concurrent.futures.ThreadPoolExecutor(16) as pool,
        ):
            for seq in range(ROUNDS):
                # A client's next message leaves only after its previous one was accepted;
                # the two web processes take turns.
                futures = [
                    pool.submit(
                        post,
                        http,
                        ports[(client + seq) % 2],
                        channels[client % COMPANIES],
                        client,
                        seq,
                    )
                    for client in range(CLIENTS)
                ]
                statuses.update(f.result() for f in futures)
                if seq == ROUNDS // 2:
                    stop(routers[0], signal.SIGKILL)  # mid-traffic, mid-batch as likely as not
        assert statuses == {202: CLIENTS * ROUNDS}
        total = CLIENTS * ROUNDS
        wait_for(lambda: Message.objects.count() == total and pending(redis_client) == 0, 40)
        routed_in = time.monotonic() - started

        # Every open chat has its 4 rows (warning and breach, first response and resolution);
        # bring them within seconds, the warnings first.
        conversations = Conversation.objects.unscoped().count()
        assert conversations == CLIENTS
        assert SlaTimer.objects.unscoped().filter(fired_at__isnull=True).count() == CLIENTS * 4
        now = timezone.now()
        breach = now + dt.timedelta(seconds=3)
        Conversation.objects.unscoped().update(
            first_response_due_at=breach, resolution_due_at=breach
        )
        SlaTimer.objects.unscoped().filter(stage=0).update(due_at=now + dt.timedelta(seconds=2))
        SlaTimer.objects.unscoped().filter(stage=1).update(due_at=breach)
        wait_for(lambda: not SlaTimer.objects.unscoped().filter(fired_at__isnull=True).exists(), 20)
        time.sleep(0.5)  # a double fire in flight would show now

    # Routed once each, in order within every conversation.
    assert Message.objects.values("provider_message_id").distinct().count() == total
    sequences: dict[int, list[int]] = defaultdict(list)
    for conversation_id, text in Message.objects.order_by("id").values_list(
        "conversation_id", "text"
    ):
        sequences[conversation_id].append(int(text.removeprefix("seq=")))
    assert len(sequences) == CLIENTS
    assert all(seqs == list(range(ROUNDS)) for seqs in sequences.values()), {
        k: v for k, v in sequences.items() if v != list(range(ROUNDS))
    }
    # Every (conversation, kind, stage) fired exactly once, none dropped.
    assert not SlaTimer.objects.unscoped().filter(cancelled=True).exists()
    fired = Counter(
        AssignmentEvent.objects.unscoped()
        .filter(action__in=["sla_warning", "sla_breached"])
        .values_list("conversation_id", "data__kind", "action")
    )
    assert len(fired) == CLIENTS * 4 and set(fired.values()) == {1}
    print(f"routed {total} messages through 2 webs and 3 routers in {routed_in:.1f} s")
