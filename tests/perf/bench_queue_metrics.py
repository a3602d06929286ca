"""Benchmark the live metrics of every queue, all refreshed every second (issue 14, "Speed").

Run: ``flock /tmp/switchboard-bench.lock .venv/bin/python tests/perf/bench_queue_metrics.py
[--companies 100] [--queues 10] [--open 100000] [--ticks 10]``. Named ``bench_*`` so pytest
never collects it. Its own database ``switchboard_bench_queue_metrics`` and a private Redis.

Data: ``--companies`` companies of ``--queues`` queues each (1,000 queues by default), 20
agents per company, each a member of two queues, ``--open`` open chats spread over the queues
(a third waiting), and an hour of live counters (one event a minute per queue and kind).

A tick is what the wallboards need every second: ``queues_metrics`` for every company (one
pipelined Redis round trip for all the counters, then four indexed queries per company). It
prints the cost per tick (wall clock, and this process's CPU) and the share of one core at one
tick a second, against, in the same run, the baseline of counting each company's window in
the database (``window_figures``, the query the counters replaced) for the companies alone.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from bench_wallboard import summary, timed  # noqa: E402
from bench_ws import django_on_bench_data  # noqa: E402

BENCH_DB = "switchboard_bench_queue_metrics"


def populate(companies: int, queues: int, open_chats: int) -> list[int]:
    """Fresh data as described above; returns the company ids."""
    from django.db import connection
    from django.utils import timezone

    from analytics import queue_counters
    from routing_service.chats.models import (
        PRIORITY_RANK,
        Channel,
        Client,
        Conversation,
        ConversationStatus,
        Priority,
    )
    from routing_service.queues.models import Queue, QueueMembership
    from routing_service.tenancy import actions
    from routing_service.tenancy.models import AgentStatus, Role, User

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE tenancy_company CASCADE")
    rng = random.Random(14)
    now = timezone.now()
    per_company = open_chats // companies
    ids = []
    for c in range(companies):
        company = actions.create_company(f"Bench {c}", f"bench-{c}")
        ids.append(company.pk)
        made = [Queue(company=company, name=f"Queue {q}", is_default=q == 0) for q in range(queues)]
        Queue.objects.unscoped().filter(company=company).delete()
        made = Queue.objects.bulk_create(made)
        staff = []
        for n in range(20):
            user = User(
                username=f"qm-{c}-{n}",
                company=company,
                role=Role.AGENT,
                status=rng.choice([AgentStatus.AVAILABLE] * 3 + [AgentStatus.AWAY]),
                max_chats=3,
            )
            user.set_unusable_password()
            staff.append(user)
        staff = User.objects.bulk_create(staff)
        QueueMembership.objects.bulk_create(
            QueueMembership(company=company, queue=made[(n + k) % queues], user=user)
            for n, user in enumerate(staff)
            for k in range(2)
        )
        channel = Channel.objects.create(
            company=company, name="Web", provider="generic", secret="s"
        )
        clients = Client.objects.bulk_create(
            Client(company=company, external_id=f"c{n}", name=f"Client {n}")
            for n in range(per_company)
        )
        chats = []
        for n, client in enumerate(clients):
            waiting = n % 3 == 0
            at = now - dt.timedelta(seconds=rng.randint(10, 3600))
            chats.append(
                Conversation(
                    company=company,
                    client=client,
                    channel=channel,
                    queue=made[n % queues],
                    status=ConversationStatus.WAITING if waiting else ConversationStatus.ASSIGNED,
                    priority=Priority.MEDIUM,
                    priority_rank=PRIORITY_RANK[Priority.MEDIUM],
                    created_at=at,
                    queued_at=at,
                    last_message_at=at,
                    first_response_at=None if waiting else at + dt.timedelta(seconds=15),
                )
            )
        Conversation.objects.bulk_create(chats, batch_size=5000)
        increments: list[queue_counters.Increment] = []
        for queue in made:
            for minute in range(60):
                at = now - dt.timedelta(minutes=minute)
                arrived = at - dt.timedelta(seconds=rng.randint(5, 60))
                increments += queue_counters.arrived(queue.pk, arrived)
                increments += queue_counters.answered(queue.pk, arrived, at, 20)
                increments += queue_counters.handled(queue.pk, at, at + dt.timedelta(seconds=300))
                if minute % 10 == 0:
                    increments += queue_counters.abandoned(queue.pk, at, counts=True)
        queue_counters.write(company.pk, increments)
    return ids


def redis_cpu() -> float:
    """The benchmark Redis server's CPU seconds so far (INFO cpu)."""
    from django.conf import settings

    from events.redis_clients import sync_client

    info = sync_client(settings.REDIS_URL).info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def backend_cpu() -> float:
    """This connection's PostgreSQL backend CPU seconds so far (/proc: the same machine)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:  # PostgreSQL elsewhere: not counted
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--companies", type=int, default=100)
    parser.add_argument("--queues", type=int, default=10)
    parser.add_argument("--open", type=int, default=100_000)
    parser.add_argument("--ticks", type=int, default=10)
    parser.add_argument("--profile", action="store_true", help="cProfile three ticks too.")
    args = parser.parse_args()

    with django_on_bench_data(BENCH_DB, "qmbench"):
        from django.utils import timezone

        from analytics.live_metrics import queues_metrics, window_figures

        started = time.perf_counter()
        ids = populate(args.companies, args.queues, args.open)
        print(
            f"data: {len(ids)} companies × {args.queues} queues, {args.open:,} open chats "
            f"(loaded in {time.perf_counter() - started:.1f} s)"
        )
        sample = queues_metrics(ids[:1])[ids[0]][0]
        print(
            f"check: {sample['queue']['name']}: waiting {sample['waiting']}, offered "
            f"{sample['offered']}, SL {sample['service_level']}, needed "
            f"{sample['forecast']['required_agents']} of {sample['forecast']['available_agents']}"
        )

        def tick() -> None:
            queues_metrics(ids)

        def baseline() -> None:
            now = timezone.now()
            for company_id in ids:
                window_figures(company_id, now - dt.timedelta(hours=1), now)

        timed(tick, 2)  # warm the caches
        redis_before, pg_before = redis_cpu(), backend_cpu()
        cpu_before = time.process_time()
        ours = timed(tick, args.ticks)
        cpu = (time.process_time() - cpu_before) / args.ticks * 1000
        redis_ms = (redis_cpu() - redis_before) / args.ticks * 1000
        pg_ms = (backend_cpu() - pg_before) / args.ticks * 1000
        from analytics import queue_counters

        redis_part = timed(lambda: queue_counters.read_windows(ids, timezone.now(), 60), args.ticks)
        base = timed(baseline, max(3, args.ticks // 2))
        queues = len(ids) * args.queues
        p50 = sorted(ours)[len(ours) // 2]
        print(f"\ntick: all {queues:,} queues   {summary(ours)}")
        print(f"      this process's CPU {cpu:.1f} ms per tick")
        print(f"      share of one core at one tick a second: {p50 / 10:.1f} % (wall clock)")
        print(f"      {cpu / 10:.1f} % (this process's CPU; PostgreSQL and Redis not counted)")
        print(
            f"      Redis server CPU {redis_ms:.1f} ms, PostgreSQL backend CPU {pg_ms:.1f} ms per "
            f"tick: all together {(cpu + redis_ms + pg_ms) / 10:.1f} % of one core"
        )
        print(f"  of which the counters' Redis round trip   {summary(redis_part)}")
        print(f"baseline: window counted in the database, companies only   {summary(base)}")
        ratio = p50 / sorted(base)[len(base) // 2]
        print(f"median ratio tick / baseline: {ratio:.2f}")
        if args.profile:
            import cProfile
            import pstats

            profile = cProfile.Profile()
            profile.runcall(lambda: [tick() for _ in range(3)])
            pstats.Stats(profile).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
