"""The fault scenarios, each a function of the counts and a working directory that returns its
ledger: run small by the suite (tests/reliability/test_faults.py), large by
`tests/perf/fault_ledger.py`. Each builds its companies through the product's actions, runs the
deployed processes against the run's database, injects its faults while customers write in,
waits for the pipeline to drain and fills the ledger.

Redis is a private server (tests/support/servers.py) in every scenario that kills or stops it,
and in the others too (its keys are then the run's alone); the worker scenario enqueues from
this process and so shares its broker: the run's own Redis database and key prefix.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dramatiq
import redis
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from routing_service.chats.actions import send_agent_reply
from routing_service.chats.models import (
    AssignmentEvent,
    Channel,
    ChatAssignment,
    Conversation,
    DeliveryStatus,
    Message,
    Provider,
    RoutingPolicy,
)
from routing_service.tenancy.actions import create_company, create_user
from routing_service.tenancy.models import AgentStatus, Role, User
from sla_engine.models import ChatSLA, SlaTimer
from tests.reliability.ledger import Ledger, event_ledger, install_outbox_audit, message_ledger
from tests.reliability.pipeline import Pipeline, drain, fault_env
from tests.reliability.traffic import Inbox, Traffic
from tests.support.processes import behind_pgbouncer, wait_for_pgbouncer_logins
from tests.support.provider_server import ProviderServer, RecordedRequest, Reply
from tests.support.servers import RedisServer, connections_blocked, terminate_backends

SECRET = "fault-ledger-secret"


@dataclass(frozen=True)
class Counts:
    """How much traffic: `clients` customers writing `per_client` messages each, at once."""

    clients: int = 40
    per_client: int = 15
    companies: int = 2
    seed: int = 11

    @property
    def messages(self) -> int:
        return self.clients * self.per_client


def counts_for(messages: int, clients: int | None = None) -> Counts:
    clients = clients or max(20, min(200, messages // 25))
    return Counts(clients=clients, per_client=max(1, messages // clients))


def make_inboxes(counts: Counts, *, sla: bool = False, config: dict[str, Any] | None = None):
    """Companies with a generic channel each and agents with room for every chat (so each new
    chat is offered: later messages of it become `chat.message` events for the agent)."""
    inboxes = []
    for n in range(counts.companies):
        company = create_company(f"Fault {n}", f"fault-{n}")
        RoutingPolicy.objects.unscoped().filter(company=company).update(offer_timeout_seconds=3600)
        for a in range(3):
            create_user(
                username=f"fault-{n}-agent-{a}", password=None, role=Role.AGENT, company=company
            )
        User.objects.filter(company=company).update(status=AgentStatus.AVAILABLE, max_chats=10_000)
        if sla:
            for priority in ("low", "medium", "high", "urgent"):
                ChatSLA.objects.create(
                    company=company,
                    priority=priority,
                    first_response_minutes=10,
                    resolution_minutes=10,
                    warning_percent=50,
                    weekdays=[0, 1, 2, 3, 4, 5, 6],
                    include_weekends=True,
                    work_intervals=[["00:00", "00:00"]],
                    escalation_ladder=[],
                )
        channel = Channel.objects.create(
            company=company,
            name="Web",
            provider=Provider.GENERIC,
            secret=SECRET,
            config=config or {},
        )
        inboxes.append(Inbox(channel.pk, company.pk, channel.webhook_path, SECRET))
    return inboxes


def own_backend() -> int:
    """This process's database session: the referee, spared by every termination. Behind
    PgBouncer it is only the server connection of this transaction (see postgres_faults)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        row = cursor.fetchone()
    assert row is not None
    return int(row[0])


Fault = Callable[[Traffic, Pipeline, Ledger], None]


def run_messages(
    name: str,
    counts: Counts,
    workdir: Path,
    fault: Fault,
    *,
    redis_server: RedisServer | None,
    routers: int = 2,
    timers: int = 1,
    inboxes: list[Inbox] | None = None,
    after: Callable[[Pipeline, Ledger, redis.Redis], None] | None = None,
) -> Ledger:
    """Customers write in while `fault` runs; then drain, `after`, and the ledger."""
    ledger = Ledger(name)
    started = time.monotonic()
    install_outbox_audit()
    inboxes = inboxes or make_inboxes(counts)
    env = fault_env(redis_server.url() if redis_server else None)
    client = redis.Redis.from_url(redis_server.url() if redis_server else settings.REDIS_URL)
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        with Pipeline(env, workdir, routers=routers, timers=timers) as pipeline:
            traffic = Traffic(
                pipeline.base_url, inboxes, clients=counts.clients, per_client=counts.per_client
            )
            posted = traffic.run(lambda t: fault(t, pipeline, ledger))
            ledger.notes["traffic_s"] = round(traffic.elapsed, 1)
            ledger.notes["drain_s"] = round(
                drain(client, [i.channel_id for i in inboxes], sum(p.accepted for p in posted)),
                1,
            )
            if after is not None:
                after(pipeline, ledger, client)
            message_ledger(ledger, posted)
            event_ledger(ledger, client)
            if ledger.problems():
                ledger.examples.append(pipeline.logs())
    finally:
        client.close()
    ledger.seconds = time.monotonic() - started
    return ledger


def milestones(traffic: Traffic, parts: int) -> list[int]:
    """Accepted-message counts that split the traffic into `parts` + 1 equal stretches."""
    total = len(traffic.posted)
    return [total * (k + 1) // (parts + 1) for k in range(parts)]


# --- router kill -9 storm --------------------------------------------------------------------


def router_kill_storm(counts: Counts, workdir: Path) -> Ledger:
    """Three routers; one of them `kill -9`ed and replaced at every tenth of the traffic."""

    def fault(traffic: Traffic, pipeline: Pipeline, ledger: Ledger) -> None:
        chance = random.Random(counts.seed)
        for mark in milestones(traffic, 8):
            traffic.wait_accepted(mark)
            pipeline.kill_and_replace(pipeline.routers, chance.randrange(len(pipeline.routers)))
            ledger.faults += 1

    with RedisServer() as server:
        return run_messages(
            "router kill -9 storm", counts, workdir, fault, redis_server=server, routers=3
        )


# --- Redis kill -9 ---------------------------------------------------------------------------


def redis_kill(counts: Counts, workdir: Path) -> Ledger:
    """Redis `kill -9`ed twice mid-traffic and started again 1.5 s later (its AOF replayed)."""

    def fault(traffic: Traffic, pipeline: Pipeline, ledger: Ledger) -> None:
        for mark in milestones(traffic, 2):
            traffic.wait_accepted(mark)
            server.kill()
            ledger.faults += 1
            time.sleep(1.5)
            server.start()

    with RedisServer() as server:
        return run_messages("Redis kill -9", counts, workdir, fault, redis_server=server)


# --- Redis SIGSTOP ---------------------------------------------------------------------------


def redis_stop(
    counts: Counts, workdir: Path, *, stopped_for: float = 12.0, bound: float = 8.0
) -> Ledger:
    """Redis stopped (SIGSTOP) for `stopped_for` seconds at a third of the traffic, then
    resumed (SIGCONT); every answer true, and none waiting for the resume."""

    window: dict[str, float] = {}

    def fault(traffic: Traffic, pipeline: Pipeline, ledger: Ledger) -> None:
        traffic.wait_accepted(len(traffic.posted) // 3)
        server.pause()
        window["stopped"] = time.monotonic()
        ledger.faults += 1
        try:
            time.sleep(stopped_for)
        finally:
            server.resume()
            window["resumed"] = time.monotonic()

    def waited(pipeline: Pipeline, ledger: Ledger, client: redis.Redis) -> None:
        ledger.notes["stopped_s"] = stopped_for
        # Attempts sent in the stall's first `stopped_for - bound` seconds must be answered
        # before it ends (the documented bound is 5 s; `bound` leaves room for a loaded
        # machine): one answered after the resume waited for Redis instead.
        early_until = window["stopped"] + max(0.0, stopped_for - bound)
        late = [
            (p.message_id, answer, round(took, 1))
            for p in traffic_posted
            for sent, answer, took in zip(p.sent_at, p.answers, p.took, strict=True)
            if window["stopped"] <= sent <= early_until and sent + took > window["resumed"]
        ]
        ledger.notes["sent_in_stall"] = sum(
            1
            for p in traffic_posted
            for sent in p.sent_at
            if window["stopped"] <= sent <= window["resumed"]
        )
        ledger.notes["waited_for_resume"] = len(late)
        if late:
            ledger.examples.append(f"answered only after Redis resumed: {late[:10]}")

    traffic_posted: list[Any] = []

    def fault_and_keep(traffic: Traffic, pipeline: Pipeline, ledger: Ledger) -> None:
        traffic_posted.extend(traffic.posted)
        fault(traffic, pipeline, ledger)

    with RedisServer() as server:
        return run_messages(
            "Redis SIGSTOP", counts, workdir, fault_and_keep, redis_server=server, after=waited
        )


# --- PostgreSQL backends terminated, connections blocked -------------------------------------


def postgres_faults(counts: Counts, workdir: Path, *, blocked_for: float = 4.0) -> Ledger:
    """Every session of the run's database but the referee's terminated (three rounds, 0.3 s
    apart) at a quarter and at half of the traffic; at three quarters, new connections refused
    for 4 s (ALLOW_CONNECTIONS false) with the open ones terminated."""
    referee = own_backend()

    def fault(traffic: Traffic, pipeline: Pipeline, ledger: Ledger) -> None:
        total = len(traffic.posted)
        terminated = 0
        for mark in (total // 4, total // 2):
            traffic.wait_accepted(mark)
            for _ in range(3):
                terminated += terminate_backends(referee)
                ledger.faults += 1
                time.sleep(0.3)
        traffic.wait_accepted(total * 3 // 4)
        with connections_blocked(referee):
            ledger.faults += 1
            time.sleep(blocked_for)
        if behind_pgbouncer():
            # The referee is PgBouncer's client, not a backend it can spare: PgBouncer may go
            # on refusing every client for up to `server_login_retry` after the block (the
            # deployed processes must ride that out too); the referee waits before it counts.
            started = time.monotonic()
            wait_for_pgbouncer_logins()
            ledger.notes["pgbouncer_refusing_s"] = round(time.monotonic() - started, 1)
        ledger.notes["sessions_terminated"] = terminated

    with RedisServer() as server:
        ledger = run_messages(
            "PostgreSQL terminated/blocked", counts, workdir, fault, redis_server=server
        )
    ledger.notes["blocked_s"] = blocked_for
    return ledger


# --- SLA timer kill -9 storm -----------------------------------------------------------------


def sla_timer_kill_storm(
    counts: Counts, workdir: Path, *, window: float = 6.0, kills: int = 5
) -> Ledger:
    """Every chat's four SLA timers (warnings and breaches) brought due over `window` seconds
    while two timers fire them, the first `kill -9`ed and replaced at every sixth of the
    firing; each timer must fire once and each event it commits be published once (the relay
    takes what a kill left)."""
    inboxes = make_inboxes(counts, sla=True)

    def fault(traffic: Traffic, pipeline: Pipeline, ledger: Ledger) -> None:
        pass  # the storm comes once every chat is open (`after`)

    def storm(pipeline: Pipeline, ledger: Ledger, client: redis.Redis) -> None:
        timers = SlaTimer.objects.unscoped()
        rows = list(timers.filter(fired_at__isnull=True).values_list("id", flat=True))
        ledger.notes["sla_timers"] = len(rows)
        # Chat by chat over the window: its warnings, then half a second later its due time
        # and both breaches (a breach row due before its chat is re-pended to the chat's due
        # time by design). One transaction, so no timer sees half of it.
        start = timezone.now() + dt.timedelta(seconds=2)
        chats, deadlines = Conversation._meta.db_table, SlaTimer._meta.db_table
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                f"""
                UPDATE {chats} c
                SET first_response_due_at = %(start)s + (r.n * %(window)s / r.total + 0.5)
                        * interval '1 second',
                    resolution_due_at = %(start)s + (r.n * %(window)s / r.total + 0.5)
                        * interval '1 second'
                FROM (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n,
                             count(*) OVER () AS total FROM {chats}) r
                WHERE c.id = r.id
                """,  # noqa: S608
                {"start": start, "window": window},
            )
            cursor.execute(
                f"""
                UPDATE {deadlines} t
                SET due_at = c.first_response_due_at
                    - CASE WHEN t.stage = 0 THEN interval '0.5 second' ELSE interval '0' END
                FROM {chats} c WHERE c.id = t.conversation_id AND t.fired_at IS NULL
                """  # noqa: S608
            )
        # The first timer killed (and replaced) at each sixth of the firing, while it is busy;
        # the second one lives on, so the firing goes on however long a replacement takes to
        # start on a loaded machine.
        unfired = timers.filter(fired_at__isnull=True)
        deadline = time.monotonic() + window + 240
        for turn in range(kills):
            mark = len(rows) * (turn + 1) // (kills + 1)
            while len(rows) - unfired.count() < mark and time.monotonic() < deadline:
                time.sleep(0.05)
            pipeline.kill_and_replace(pipeline.timers, 0)
            ledger.faults += 1
        while unfired.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        drain(client, [], 0, timeout=30)  # the relay publishes what the kills left
        fired = Counter(
            AssignmentEvent.objects.unscoped()
            .filter(action__in=["sla_warning", "sla_breached"])
            .values_list("conversation_id", "data__kind", "action")
        )
        ledger.notes["sla_fired"] = sum(fired.values())
        ledger.notes["sla_unfired"] = timers.filter(fired_at__isnull=True).count()
        ledger.notes["sla_fired_twice"] = sum(1 for n in fired.values() if n > 1)
        if ledger.notes["sla_unfired"] or ledger.notes["sla_fired_twice"]:
            ledger.examples.append(f"SLA timers: {ledger.notes}")

    with RedisServer() as server:
        ledger = run_messages(
            "SLA timer kill -9 storm",
            counts,
            workdir,
            fault,
            redis_server=server,
            timers=2,
            inboxes=inboxes,
            after=storm,
        )
    return ledger


# --- dramatiq worker killed during reply delivery --------------------------------------------


class HoldingProvider:
    """The provider stand-in, answering each callback after `hold` seconds; knows which
    Idempotency-Keys it is holding (in flight) at any moment."""

    def __init__(self, server: ProviderServer, hold: float) -> None:
        self.server = server
        self.hold = hold
        self.lock = threading.Lock()
        self.holding: set[str] = set()
        server.respond_with(self.answer)

    def answer(self, request: RecordedRequest) -> Reply:
        key = request.header("idempotency-key")
        with self.lock:
            self.holding.add(key)
        time.sleep(self.hold)
        with self.lock:
            self.holding.discard(key)
        return Reply(200, {"ok": True})

    def in_flight(self) -> set[str]:
        with self.lock:
            return set(self.holding)


def worker_kill(counts: Counts, workdir: Path, *, kills: int = 2, budget: float = 60.0) -> Ledger:
    """Every open chat gets an agent reply; `deploy/worker.sh` (one dramatiq process, two
    threads) delivers them to the provider stand-in, which takes 0.3 s per callback; the
    worker child is `kill -9`ed `kills` times mid-delivery. Each reply must reach the provider
    (redelivered within `budget` seconds of the kill) under one Idempotency-Key, `sb-<id>`."""
    from tests.outbound.workers import children, forked_children, start_worker, stop_session

    with ProviderServer() as server:
        provider = HoldingProvider(server, hold=0.3)
        config = {"callback_url": f"{server.url}/hooks"}
        inboxes = make_inboxes(counts, config=config)

        def replies(pipeline: Pipeline, ledger: Ledger, client: redis.Redis) -> None:
            broker = dramatiq.get_broker()
            broker.flush_all()
            held = {
                a.conversation_id: a.agent_id
                for a in ChatAssignment.objects.unscoped().order_by("id")
            }
            agents = {u.pk: u for u in User.objects.filter(pk__in=set(held.values()))}
            worker = start_worker(workdir / "worker.log", supervised=True)
            sent: list[Message] = []
            kill_times: list[tuple[float, set[str]]] = []
            try:
                for conversation_id, agent_id in held.items():
                    sent.append(send_agent_reply(conversation_id, agents[agent_id], "On its way."))
                marks = [len(sent) * (k + 1) // (kills + 2) for k in range(kills)]
                for mark in marks:
                    deadline = time.monotonic() + 240  # a restart may take a while to boot
                    while len(server.requests) < mark or not provider.in_flight():
                        assert time.monotonic() < deadline, (workdir / "worker.log").read_text()
                        time.sleep(0.02)
                    (main,) = children(worker.pid)
                    child = forked_children(main)[0]
                    in_flight = provider.in_flight()
                    os.kill(child, signal.SIGKILL)
                    kill_times.append((time.monotonic(), in_flight))
                    ledger.faults += 1
                    # worker.sh starts a new dramatiq once the old parent has given up.
                    deadline = time.monotonic() + 30
                    while [p for p in children(worker.pid) if p != main] == []:
                        assert time.monotonic() < deadline, "worker.sh did not restart dramatiq"
                        time.sleep(0.1)
                ids = [m.pk for m in sent]
                deadline = time.monotonic() + budget + 30
                while time.monotonic() < deadline:
                    done = (
                        Message.objects.unscoped()
                        .filter(pk__in=ids, delivery_status=DeliveryStatus.SENT)
                        .count()
                    )
                    if done == len(ids):
                        break
                    time.sleep(0.25)
            finally:
                stop_session(worker)
                broker.flush_all()
            # A worker killed (or stopped) between a reply's commit and its publish leaves the
            # row to the routers' relays, which publish it OUTBOX_RELAY_AFTER_MS later.
            drain(client, [], 0, timeout=30)
            reply_ledger(ledger, sent, server.requests, kill_times)

        ledger = run_messages(
            "worker kill -9 during delivery",
            counts,
            workdir,
            lambda traffic, pipeline, ledger: None,
            redis_server=None,
            inboxes=inboxes,
            after=replies,
        )
    return ledger


def reply_ledger(
    ledger: Ledger,
    sent: list[Message],
    requests: list[RecordedRequest],
    kills: list[tuple[float, set[str]]],
) -> None:
    """Replies: every one delivered (SENT) and seen by the provider, under its own single
    Idempotency-Key; the ones in flight at a kill redelivered within a minute."""
    ids = {m.pk for m in sent}
    statuses = dict(
        Message.objects.unscoped().filter(pk__in=ids).values_list("pk", "delivery_status")
    )
    keys_by_message: dict[int, set[str]] = {}
    arrivals: dict[str, list[float]] = {}
    unexpected = 0
    for request in requests:
        try:
            message_id = int(request.json()["message_id"].removeprefix("sb-"))
        except (ValueError, KeyError, TypeError, AttributeError):
            unexpected += 1
            continue
        key = request.header("idempotency-key")
        keys_by_message.setdefault(message_id, set()).add(key)
        arrivals.setdefault(key, []).append(request.received_at)
    lost = [
        pk for pk in ids if statuses.get(pk) != DeliveryStatus.SENT or pk not in keys_by_message
    ]
    wrong_key = [pk for pk, keys in keys_by_message.items() if pk in ids and keys != {f"sb-{pk}"}]
    unexpected += sum(1 for pk in keys_by_message if pk not in ids)
    worst = 0.0
    late = []
    for killed_at, in_flight in kills:
        for key in in_flight:
            again = [t for t in arrivals.get(key, []) if t > killed_at]
            if not again:
                late.append(key)
                continue
            worst = max(worst, min(again) - killed_at)
    ledger.notes.update(
        replies=len(ids),
        replies_lost=len(lost),
        replies_wrong_key=len(wrong_key),
        replies_unexpected=unexpected,
        replies_redelivered=sum(len(v) - 1 for v in arrivals.values()),
        in_flight_at_kills=sum(len(f) for _, f in kills),
        never_redelivered=len(late),
        slowest_redelivery_s=round(worst, 1),
    )
    ledger.lost += len(lost)
    ledger.duplicated += len(wrong_key)
    ledger.unexpected += unexpected + len(late)
    if lost or wrong_key or late:
        ledger.examples.append(
            f"replies lost {lost[:10]} wrong key {wrong_key[:10]} late {late[:10]}"
        )


SCENARIOS: dict[str, Callable[[Counts, Path], Ledger]] = {
    "router": router_kill_storm,
    "redis-kill": redis_kill,
    "redis-stop": redis_stop,
    "postgres": postgres_faults,
    "sla-timer": sla_timer_kill_storm,
    "worker": worker_kill,
}
