"""Benchmark the routing worker: routed messages/s with 1, 2 and 3 router processes.

Run: ``.venv/bin/python tests/perf/bench_router.py [--messages 20000] [--routers 1 2 3]
[--shards 8] [--attachments [--repeats 3]]``. Routers split the inbound shards by lease (one
reader per shard), so with one shard a second router is a hot standby; throughput scales with
shards.
Named ``bench_*`` so pytest never collects it. Everything goes to a database of its own,
``switchboard_bench_router`` or ``$BENCH_ROUTER_DB`` (created and migrated on the server of
``DATABASE_URL``, default the local server; emptied at every run) and to Redis keys under
``sbbench-router`` (deleted at the end).

For each router count: the inbound stream is filled the way the webhook fills it (the same
dedupe-and-append script) with ``--messages`` messages from ``--clients`` clients of
``--companies`` companies (agents with room for every chat, so each new chat is also offered),
then N ``manage.py run_router`` processes drain it. Reported: messages/s from the first to the
last recorded message, and the CPU seconds each process used (router, PostgreSQL, Redis), which
says where the ceiling is (``BENCH_PROFILE=file`` records the first router with py-spy as
collapsed stacks). Baseline in the same run: the bare rate of the append script
(pipelined), i.e. how fast Redis alone takes the entries.

``--attachments``: the same runs alternately with text-only messages and with messages that each
carry a file (a generic `attachments` URL; the router records it pending and enqueues its
download, it never downloads), ``--repeats`` times each; reported: the median rate of each and
their ratio — attachment-bearing traffic must stay within 5 % of text-only.

``--queue-rules N``: the same runs alternately with no queue rules and with N rules per company
(N - 1 that never match — each names a keyword absent from the messages — then a catch-all
sending every chat to a second queue holding every agent), ``--repeats`` times each; reported:
the median rate of each and their ratio. Issue 14 allows rules to cost at most 10 % of messages/s.

``--first-contact``: every message of the backlog from a new client (``--messages`` default
4,000 here, one company, 20 agents, least busy), then the same number of follow-ups from those
same clients into their now open chats — each run ``--repeats`` times, alternated; reported:
routed/s of each (median) and each as a ratio to the bare append rate of its own fill (issue 16:
≥ 5,000/s new, ≥ 8,000/s returning for one router).

``--cluster`` adds, for each router count, the same run on a local Redis Cluster (3 primaries
with a replica each, started for the run on free ports and killed at the end:
tests/support/redis_cluster.py) with ``REDIS_CLUSTER=true``, and reports routed/s on the
cluster against the single Redis of the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
# DEBUG is off, as in production: settings need a long SECRET_KEY (children inherit it).
os.environ.setdefault("SECRET_KEY", "benchmark-only-secret-key-0123456789-abcdefghijklmn")
sys.path.insert(0, str(ROOT))

# BENCH_ROUTER_DB: another database, e.g. for a branch whose migrations the others lack.
BENCH_DB = os.environ.get("BENCH_ROUTER_DB", "switchboard_bench_router")
DEFAULT_DATABASE_URL = "postgres://postgres:postgres@127.0.0.1:5432/switchboard"
PREFIX = "sbbench-router"


def configure() -> str:
    base = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    parts = urlsplit(base)
    url = urlunsplit(parts._replace(path=f"/{BENCH_DB}"))
    os.environ.update(
        DATABASE_URL=url,
        DATABASE_POOL="false",
        REDIS_KEY_PREFIX=PREFIX,
        LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="routing_service.settings",
    )
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/13")
    import psycopg

    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [BENCH_DB]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{BENCH_DB}"')
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return url


def reset_data() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE attachments_attachment, chats_message, chats_chatassignment, "
            "chats_assignmentevent, chats_chatnotification, sla_engine_slatimer, "
            "sla_engine_slapause, chats_conversation, chats_client RESTART IDENTITY CASCADE"
        )
        # Published outbox rows are deleted at once; without autovacuum (the test server runs
        # without it) their dead tuples pile up run after run and slow every claim down.
        cursor.execute("TRUNCATE events_outbox")


def delete_keys() -> None:
    from django.conf import settings

    from events.redis_clients import sync_client

    client = sync_client(settings.REDIS_URL)
    keys = list(client.scan_iter(match=f"{PREFIX}*", count=1000))
    for start in range(0, len(keys), 1000):
        client.delete(*keys[start : start + 1000])  # split by slot on a cluster


def use_redis(url: str, *, cluster: bool) -> dict[str, str]:
    """Point this process at `url` and return the routers' environment for it."""
    from django.conf import settings

    settings.REDIS_CLUSTER = cluster
    for name in ("REDIS_URL", "STREAM_REDIS_URL", "CHANNEL_LAYER_REDIS_URL", "CACHE_REDIS_URL"):
        setattr(settings, name, url)
    return {"REDIS_URL": url, "REDIS_CLUSTER": "true" if cluster else "false"}


def set_up_companies(companies: int, agents: int, *, strategy: str | None = None) -> list[object]:
    from routing_service.chats.models import Channel, Provider, RoutingPolicy
    from routing_service.tenancy.actions import create_company, create_user
    from routing_service.tenancy.models import AgentStatus, Company, Role, User

    channels = []
    for n in range(companies):
        company = Company.objects.filter(slug=f"bench-{n}").first() or create_company(
            f"Bench {n}", f"bench-{n}"
        )
        RoutingPolicy.objects.unscoped().filter(company=company).update(offer_timeout_seconds=3600)
        if strategy:
            RoutingPolicy.objects.unscoped().filter(company=company).update(strategy=strategy)
        for a in range(agents):
            username = f"bench-{n}-agent-{a}"
            if not User.objects.filter(username=username).exists():
                create_user(username=username, password=None, role=Role.AGENT, company=company)
        User.objects.filter(company=company).update(
            status=AgentStatus.AVAILABLE, active_chats=0, max_chats=1000
        )
        channel, _ = Channel.objects.unscoped().get_or_create(
            company=company, name="bench", provider=Provider.GENERIC, defaults={"secret": "x" * 24}
        )
        channels.append(channel)
    return channels


def fill_stream(
    channels: list[object],
    messages: int,
    clients: int,
    *,
    attachments: bool = False,
    client_prefix: str = "client",
) -> float:
    """Append like the webhook does; returns the append rate (entries/s, pipelined)."""

    from django.conf import settings

    from events.redis_clients import cluster_enabled, sync_client
    from routing_service.ingest import stream
    from routing_service.ingest.adapters.base import InboundMessage, MediaRef

    client: Any = sync_client(settings.STREAM_REDIS_URL)
    script = client.register_script(stream.APPEND_LUA)
    now = dt.datetime.now(dt.UTC)
    run = time.time_ns()
    started = time.perf_counter()
    pipes: dict[str, Any] = {}

    def pipe_for(key: str) -> Any:
        """One pipeline per node on a cluster (its own pipeline refuses scripts)."""
        if not cluster_enabled():
            return pipes.setdefault("", client.pipeline(transaction=False))
        node = client.get_node_from_key(key)
        return pipes.setdefault(node.name, node.redis_connection.pipeline(transaction=False))

    for n in range(messages):
        channel = channels[n % len(channels)]
        entry = stream.InboundEntry(
            channel_id=channel.pk,  # type: ignore[attr-defined]
            company_id=channel.company_id,  # type: ignore[attr-defined]
            received_at=now,
            message=InboundMessage(
                provider="generic",
                provider_message_id=f"{run}-{n}",
                client_external_id=f"{client_prefix}-{n % clients}",
                client_name=f"Client {n % clients}",
                text="Hello, where is my order? It was due yesterday.",
                sent_at=now,
                attachments=(
                    [
                        MediaRef(
                            source="url",
                            ref=f"https://files.example.com/{run}/{n}/photo.jpg",
                            content_type="image/jpeg",
                            name="photo.jpg",
                            size=48_216,
                        )
                    ]
                    if attachments
                    else []
                ),
            ),
        )
        keys, args = stream.append_args(entry)
        script(keys=keys, args=args, client=pipe_for(keys[1]))
        if n % 1000 == 999:
            for pipe in pipes.values():
                pipe.execute()
    for pipe in pipes.values():
        pipe.execute()
    return messages / (time.perf_counter() - started)


def cpu_by_pid(pids: list[int]) -> dict[int, float]:
    ticks = os.sysconf("SC_CLK_TCK")
    usage: dict[int, float] = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            usage[pid] = (int(fields[11]) + int(fields[12])) / ticks
        except (FileNotFoundError, ProcessLookupError):
            pass
    return usage


def cpu_seconds(pids: list[int]) -> float:
    return sum(cpu_by_pid(pids).values())


def shared_pids() -> list[int]:
    """PostgreSQL (every backend, including the routers' own) and Redis server processes."""
    return pids_of("postgres") + pids_of("redis-server")


def pids_of(name: str) -> list[int]:
    out = subprocess.run(["pgrep", "-f", name], capture_output=True, text=True, check=False)
    return [int(p) for p in out.stdout.split()]


def run_routers(
    count: int,
    messages: int,
    url: str,
    redis_env: dict[str, str] | None = None,
    *,
    already: int = 0,
) -> dict[str, float]:
    """Start `count` routers and time them until `messages` more than `already` are recorded."""
    from routing_service.chats.models import Message

    # The routers as deployed: with the psycopg pool (this process itself runs without it).
    env = {**os.environ, "DATABASE_URL": url, "DATABASE_POOL": "true", "ROUTER_BLOCK_MS": "50"}
    env.update(redis_env or {})
    shared_before = cpu_by_pid(shared_pids())
    profile = os.environ.get("BENCH_PROFILE")  # py-spy collapsed stacks of router 0, if set
    procs = [
        subprocess.Popen(
            [sys.executable, str(ROOT / "manage.py"), "run_router", f"--name=bench-{i}"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i in range(count)
    ]
    spy = (
        subprocess.Popen(
            ["py-spy", "record", "-r", "200", "-f", "raw", "-o", profile, "-p", str(procs[0].pid)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if profile
        else None
    )
    first: float | None = None
    deadline = time.monotonic() + 600
    done = 0
    while time.monotonic() < deadline:
        done = Message.objects.count() - already
        if done and first is None:
            first = time.perf_counter()
        if done >= messages:
            break
        time.sleep(0.05)
    last = time.perf_counter()
    router_cpu = cpu_seconds([p.pid for p in procs])
    # Backends started for the routers count whole; older processes count their increase.
    shared_cpu = sum(
        cpu - shared_before.get(pid, 0.0) for pid, cpu in cpu_by_pid(shared_pids()).items()
    )
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:  # a loaded machine: do not lose the run's figures
            proc.kill()
            proc.wait(timeout=30)
    if spy:
        spy.wait(timeout=30)
    elapsed = last - (first or last)
    return {
        "routed": done,
        "rate": done / elapsed if elapsed else 0.0,
        "elapsed": elapsed,
        "router_cpu": router_cpu,
        "shared_cpu": shared_cpu,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=2_000)
    parser.add_argument("--companies", type=int, default=4)
    parser.add_argument("--agents", type=int, default=10)
    parser.add_argument("--routers", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--shards", type=int, help="INBOUND_SHARDS (default: the setting)")
    parser.add_argument(
        "--attachments",
        action="store_true",
        help="compare text-only with attachment-bearing traffic (one router count: the first)",
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--cluster", action="store_true", help="also on a local Redis Cluster, same run"
    )
    parser.add_argument(
        "--first-contact",
        action="store_true",
        help="new clients only, then the same clients returning (issue 16); per router count",
    )
    parser.add_argument(
        "--queue-rules",
        type=int,
        default=0,
        help="compare no queue rules with this many per company (one router count: the first)",
    )
    args = parser.parse_args()
    if args.shards:
        os.environ["INBOUND_SHARDS"] = str(args.shards)  # read by settings and the routers
    url = configure()
    from django.conf import settings

    print(
        f"{args.messages} messages from {args.clients} clients of {args.companies} companies, "
        f"{settings.INBOUND_SHARDS} shard(s)"
    )
    if args.attachments:
        try:
            compare_attachments(args, url)
        finally:
            delete_keys()
        return
    if args.first_contact:
        try:
            compare_first_contact(args, url)
        finally:
            delete_keys()
        return
    if args.queue_rules:
        try:
            compare_queue_rules(args, url)
        finally:
            delete_keys()
        return
    with contextlib.ExitStack() as stack:
        targets = [("redis", settings.REDIS_URL, False)]
        if args.cluster:
            from tests.support.redis_cluster import started

            base = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-cluster-")))
            cluster = stack.enter_context(started(base))
            targets.append(("cluster", cluster.url, True))
        for count in args.routers:
            rates: dict[str, float] = {}
            for label, redis_url, is_cluster in targets:
                redis_env = use_redis(redis_url, cluster=is_cluster)
                try:
                    reset_data()
                    delete_keys()
                    channels = set_up_companies(args.companies, args.agents)
                    append_rate = fill_stream(channels, args.messages, args.clients)
                    result = run_routers(count, args.messages, url, redis_env)
                finally:
                    delete_keys()
                rates[label] = result["rate"]
                print(
                    f"routers={count} [{label}]: {result['rate']:,.0f} msg/s "
                    f"({result['routed']:,} in {result['elapsed']:.1f} s; "
                    f"router CPU {result['router_cpu']:.1f} s, PostgreSQL+Redis CPU "
                    f"{result['shared_cpu']:.1f} s) | bare append {append_rate:,.0f}/s "
                    f"→ ratio {result['rate'] / append_rate:.1%}"
                )
            if "cluster" in rates and rates["redis"]:
                ratio = rates["cluster"] / rates["redis"]
                print(f"routers={count}: cluster/single Redis = {ratio:.2f}")


def compare_attachments(args: argparse.Namespace, url: str) -> None:
    """Text-only and attachment-bearing runs, alternated so load drifts hit both alike."""
    import statistics

    count = args.routers[0]
    rates: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(args.repeats):
        for with_files in (False, True):
            reset_data()
            delete_keys()
            channels = set_up_companies(args.companies, args.agents)
            fill_stream(channels, args.messages, args.clients, attachments=with_files)
            result = run_routers(count, args.messages, url)
            rates[with_files].append(result["rate"])
            label = "with a file each" if with_files else "text only"
            print(
                f"routers={count} {label}: {result['rate']:,.0f} msg/s (router CPU "
                f"{result['router_cpu']:.1f} s, PostgreSQL+Redis CPU {result['shared_cpu']:.1f} s)",
                flush=True,
            )
    text, files = statistics.median(rates[False]), statistics.median(rates[True])
    print(
        f"median text only {text:,.0f} msg/s, with files {files:,.0f} msg/s "
        f"→ ratio {files / text:.1%} (runs: {', '.join(f'{r:,.0f}' for r in rates[False])} | "
        f"{', '.join(f'{r:,.0f}' for r in rates[True])})"
    )


def compare_first_contact(args: argparse.Namespace, url: str) -> None:
    """Per router count: a backlog of first messages from new clients, then as many follow-ups
    from the same clients (their chats open and offered by now), `--repeats` times."""
    import statistics

    messages = args.messages if args.messages != 20_000 else 4_000
    for count in args.routers:
        rates: dict[str, list[float]] = {"new": [], "returning": []}
        ratios: dict[str, list[float]] = {"new": [], "returning": []}
        for repeat in range(args.repeats):
            reset_data()
            delete_keys()
            channels = set_up_companies(1, 20, strategy="least_busy")
            prefix = f"fc{repeat}"
            for kind, already in (("new", 0), ("returning", messages)):
                append_rate = fill_stream(channels, messages, messages, client_prefix=prefix)
                result = run_routers(count, messages, url, already=already)
                rates[kind].append(result["rate"])
                ratios[kind].append(result["rate"] / append_rate)
                print(
                    f"routers={count} {kind}: {result['rate']:,.0f} msg/s "
                    f"({result['routed']:,} in {result['elapsed']:.2f} s; router CPU "
                    f"{result['router_cpu']:.1f} s, PostgreSQL+Redis CPU "
                    f"{result['shared_cpu']:.1f} s) | bare append {append_rate:,.0f}/s "
                    f"→ ratio {result['rate'] / append_rate:.1%}",
                    flush=True,
                )
            delete_keys()
        for kind in rates:
            print(
                f"routers={count} {kind} clients: median {statistics.median(rates[kind]):,.0f} "
                f"msg/s, median ratio to bare append {statistics.median(ratios[kind]):.1%} "
                f"(runs: {', '.join(f'{r:,.0f}' for r in rates[kind])})",
                flush=True,
            )


def set_up_queue_rules(channels: list[Any], count: int) -> None:
    """`count` rules per company, the last a catch-all to a second queue; 0 removes them."""
    from routing_service.queues import actions
    from routing_service.queues.models import Queue, QueueRule
    from routing_service.tenancy.models import Role, User

    for channel in channels:
        company_id = channel.company_id
        QueueRule.objects.unscoped().filter(company_id=company_id).delete()
        actions.bump_version(company_id)
        if not count:
            continue
        queue = Queue.objects.unscoped().filter(company_id=company_id, name="Bench rules").first()
        if queue is None:
            agents = User.objects.filter(company_id=company_id, role=Role.AGENT)
            queue = actions.create_queue(
                company_id, name="Bench rules", members=[(a.pk, 5) for a in agents]
            )
        for n in range(count - 1):
            match = {"keywords": [f"nevermatches{n}", f"absent phrase {n}"], "vip": False}
            actions.create_rule(company_id, queue=queue, order=n, match=match)
        actions.create_rule(company_id, queue=queue, order=count, match={})


def compare_queue_rules(args: argparse.Namespace, url: str) -> None:
    """No rules and `--queue-rules` rules per company, alternated so load drifts hit both."""
    import statistics

    count = args.routers[0]
    rates: dict[int, list[float]] = {0: [], args.queue_rules: []}
    for _ in range(args.repeats):
        for rules in rates:
            reset_data()
            delete_keys()
            channels = set_up_companies(args.companies, args.agents)
            set_up_queue_rules(channels, rules)
            fill_stream(channels, args.messages, args.clients)
            result = run_routers(count, args.messages, url)
            rates[rules].append(result["rate"])
            print(f"routers={count} queue rules={rules}: {result['rate']:,.0f} msg/s")
    bare, ruled = statistics.median(rates[0]), statistics.median(rates[args.queue_rules])
    print(
        f"median no rules {bare:,.0f} msg/s, {args.queue_rules} rules {ruled:,.0f} msg/s "
        f"→ ratio {ruled / bare:.1%} (runs: {', '.join(f'{r:,.0f}' for r in rates[0])} | "
        f"{', '.join(f'{r:,.0f}' for r in rates[args.queue_rules])})"
    )


if __name__ == "__main__":
    main()
