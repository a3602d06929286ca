"""Benchmark the wallboard stats (realtime/wallboard.py) at 10,000 open chats.

Run: ``.venv/bin/python tests/perf/bench_wallboard.py [--open 10000] [--history 50000]
[--agents 200] [--runs 50]``. Named ``bench_*`` so pytest never collects it. All on 127.0.0.1:

* PostgreSQL: the database ``switchboard_bench_wallboard`` on the server of ``DATABASE_URL``
  (default: the local test server), created and migrated on first use and refilled each run;
* Redis: a private ``redis-server`` on a free port (the stats are published like in production);
* data, in one company: `--agents` agents and supervisors, SLAs for every priority, `--open`
  open chats (60 % waiting across the four priorities, 20 % offered, 20 % accepted, due times
  spread from 30 minutes overdue to an hour ahead) and `--history` resolved chats over 30 days
  (5 % of them today) with their assignments; then ANALYZE.

It prints the time of `compute_stats` (the `wallboard.stats` payload: p50/p95/max over
`--runs`), each of its queries with its time and the index the plan uses, the wallboard
snapshot's time, and one ticker pass (claim in Redis + compute + publish) — the numbers behind
the choice of computing stats in the web process, once per second per company with a wallboard.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import random
import re
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from bench_ws import django_on_bench_data  # noqa: E402

BENCH_DB = "switchboard_bench_wallboard"


def populate(open_chats: int, history: int, agents: int) -> int:
    """A fresh company with the data described above; returns its id."""
    from django.db import connection
    from django.utils import timezone

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
    from routing_service.tenancy import actions
    from routing_service.tenancy.models import AgentStatus, Role, User
    from sla_engine.models import ChatSLA

    with connection.cursor() as cursor:  # the benchmark database holds only this data
        cursor.execute("TRUNCATE tenancy_company CASCADE")
    company = actions.create_company("Wallboard bench", "wallboard-bench")
    rng = random.Random(42)
    now = timezone.now()
    priorities = [Priority.LOW, Priority.MEDIUM, Priority.HIGH, Priority.URGENT]
    for priority in priorities:
        ChatSLA.objects.create(
            company=company,
            priority=priority,
            first_response_minutes=15,
            resolution_minutes=120,
            weekdays=[0, 1, 2, 3, 4, 5, 6],
            include_weekends=True,
            work_intervals=[["00:00", "00:00"]],
        )
    staff = []
    for n in range(agents):
        user = User(
            username=f"wb-agent-{company.pk}-{n}",
            company=company,
            role=Role.SUPERVISOR if n % 20 == 0 else Role.AGENT,
            status=rng.choice(
                [AgentStatus.AVAILABLE] * 3 + [AgentStatus.AWAY, AgentStatus.OFFLINE]
            ),
            max_chats=5,
        )
        user.set_unusable_password()
        staff.append(user)
    staff = User.objects.bulk_create(staff)
    channel = Channel.objects.create(company=company, name="Web", provider="generic", secret="s")
    clients = Client.objects.bulk_create(
        [
            Client(company=company, external_id=f"c{n}", name=f"Client {n}")
            for n in range(open_chats + history)
        ],
        batch_size=5000,
    )
    conversations = []
    kinds = []
    for n in range(open_chats):
        priority = rng.choice(priorities)
        created = now - dt.timedelta(minutes=rng.uniform(1, 240))
        due = now + dt.timedelta(minutes=rng.uniform(-30, 60))
        kind = "waiting" if n % 10 < 6 else ("offered" if n % 10 < 8 else "accepted")
        kinds.append(kind)
        conversations.append(
            Conversation(
                company=company,
                client=clients[n],
                channel=channel,
                status=ConversationStatus.WAITING
                if kind == "waiting"
                else ConversationStatus.ASSIGNED,
                priority=priority,
                priority_rank=PRIORITY_RANK[priority],
                created_at=created,
                queued_at=created,
                last_message_at=created,
                first_response_due_at=due,
                resolution_due_at=due + dt.timedelta(minutes=105),
                first_response_at=created + dt.timedelta(minutes=2) if kind == "accepted" else None,
                message_count=3,
            )
        )
    for n in range(history):
        day = 0 if n % 20 == 0 else rng.randrange(1, 30)
        created = now - dt.timedelta(days=day, minutes=rng.uniform(5, 600))
        if day == 0 and created.date() != now.date():
            created = now - dt.timedelta(minutes=rng.uniform(1, 5))
        waited = dt.timedelta(seconds=rng.uniform(10, 1500))
        priority = rng.choice(priorities)
        conversations.append(
            Conversation(
                company=company,
                client=clients[open_chats + n],
                channel=channel,
                status=ConversationStatus.RESOLVED,
                priority=priority,
                priority_rank=PRIORITY_RANK[priority],
                created_at=created,
                queued_at=created,
                last_message_at=created + waited,
                first_response_due_at=created + dt.timedelta(minutes=15),
                resolution_due_at=created + dt.timedelta(minutes=120),
                first_response_at=created + waited,
                first_response_met=waited <= dt.timedelta(minutes=15),
                resolved_at=created + 2 * waited,
                resolution_met=True,
                message_count=8,
            )
        )
    conversations = Conversation.objects.bulk_create(conversations, batch_size=5000)
    handlers = [u for u in staff if u.role == Role.AGENT]
    assignments = []
    for n, conversation in enumerate(conversations):
        kind = kinds[n] if n < open_chats else "resolved"
        if kind == "waiting":
            continue
        assignments.append(
            ChatAssignment(
                company=company,
                conversation=conversation,
                agent=handlers[n % len(handlers)],
                status={
                    "offered": AssignmentStatus.OFFERED,
                    "accepted": AssignmentStatus.ACCEPTED,
                    "resolved": AssignmentStatus.RESOLVED,
                }[kind],
                offered_at=conversation.created_at,
                offer_expires_at=now + dt.timedelta(minutes=5) if kind == "offered" else None,
                accepted_at=conversation.created_at if kind != "offered" else None,
            )
        )
    ChatAssignment.objects.bulk_create(assignments, batch_size=5000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return company.pk


def timed(func, runs: int) -> list[float]:  # type: ignore[no-untyped-def]
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        func()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return (
        f"p50 {statistics.median(ordered):7.2f} ms   p95 {p95:7.2f} ms   max {ordered[-1]:7.2f} ms"
    )


def explain(sql: str) -> str:
    """The plan's scan nodes and indexes, in one line."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
        plan = [row[0] for row in cursor.fetchall()]
    scans = []
    for line in plan:
        match = re.search(
            r"((?:Parallel )?(?:Index Only Scan|Index Scan|Bitmap Index Scan|Seq Scan)"
            r"(?: using (\w+))? on (\w+))",
            line,
        )
        if match:
            scans.append(match.group(1))
    total = next((line for line in plan if line.startswith("Execution Time")), "")
    return "; ".join(dict.fromkeys(scans)) + f"  [{total.strip()}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--open", type=int, default=10_000)
    parser.add_argument("--history", type=int, default=50_000)
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()

    with django_on_bench_data(BENCH_DB, "wbbench") as redis_url:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        from realtime.snapshots import wallboard_snapshot
        from realtime.wallboard import StatsTicker, compute_stats
        from routing_service.tenancy.models import Company, User

        started = time.perf_counter()
        company_id = populate(args.open, args.history, args.agents)
        print(
            f"data: {args.open:,} open chats, {args.history:,} resolved, {args.agents} staff "
            f"(loaded in {time.perf_counter() - started:.1f} s)"
        )
        stats = compute_stats(company_id)
        print(
            f"check: waiting {stats['waiting']['total']:,}, at risk {stats['sla']['at_risk']:,}, "
            f"breached {stats['sla']['breached']:,}, pending offers {stats['pending_offers']:,}, "
            f"today {stats['today']['chats']:,} chats"
        )

        timed(lambda: compute_stats(company_id), 3)  # warm the caches
        samples = timed(lambda: compute_stats(company_id), args.runs)
        print(f"\ncompute_stats          {summary(samples)}")
        with CaptureQueriesContext(connection) as captured:
            compute_stats(company_id)
        print(f"  {len(captured.captured_queries)} queries:")
        for query in captured.captured_queries:
            sql = query["sql"]
            head = re.sub(r"\s+", " ", sql)[:70]
            print(f"  {float(query['time']) * 1000:6.2f} ms  {head}…")
            print(f"             {explain(sql)}")

        company = Company.objects.get(pk=company_id)
        supervisor = User.objects.filter(company=company, role="supervisor").first()
        assert supervisor is not None
        runs = max(5, args.runs // 5)
        samples = timed(lambda: wallboard_snapshot(supervisor, company), runs)
        print(f"\nwallboard_snapshot     {summary(samples)}")

        async def ticker_passes() -> list[float]:
            from redis.asyncio import Redis

            ticker = StatsTicker()
            ticker.watching[company_id] = 1
            samples = []
            for _ in range(runs):
                await Redis.from_url(redis_url).delete(
                    f"wbbench:{{c{company_id}}}:wallboard:lock",
                    f"wbbench:{{c{company_id}}}:wallboard:done",
                )
                started = time.perf_counter()
                assert await ticker.tick() == [company_id]
                samples.append((time.perf_counter() - started) * 1000)
            idle = time.perf_counter()
            await ticker.tick()  # nothing changed: the claim alone
            samples_idle = (time.perf_counter() - idle) * 1000
            print(f"ticker pass, due       {summary(samples)}")
            print(f"ticker pass, unchanged {samples_idle:7.2f} ms (one Redis round trip)")
            return samples

        asyncio.run(ticker_passes())


if __name__ == "__main__":
    main()
