"""Benchmark the SLA timer: tick cost, firing lag and burst drain rate at 100,000 open chats.

Run: ``.venv/bin/python tests/perf/bench_sla_timer.py [--chats 100000] [--seconds 60]``.
Named ``bench_*`` so pytest never collects it. Everything goes to a database of its own,
``switchboard_bench_sla`` (created and migrated on the server of ``DATABASE_URL``, default the
local test server; its tables are emptied at every run) and to Redis keys under the prefix
``sbbench-sla`` (deleted at the end).

Set-up: ``--companies`` companies with a 24/7 SLA policy and ``--chats`` open chats in all,
inserted in bulk with SQL; each chat has a first-response breach timer due at a random instant
of the next hour and a resolution breach timer an hour later (so the index holds 2 × chats
pending rows), as `schedule_timers` would have left them.

1. **lag** — the real worker loop (`SlaTimerWorker.run`) for ``--seconds``: for every
   published sla event, lag = publish time − its timer's due time (p50, p99, max), plus the
   cost of its turns (idle and firing);
2. **idle tick** — nothing due (every row pushed an hour ahead): the cost of one idle turn (an
   index probe) and of an empty claim transaction;
3. **burst** — ``--burst`` timers made due at once: drain time of `drain()` (full firing: claim,
   re-check, AssignmentEvent rows, missed flags, events published) → timers/s; and, reset, the
   claim alone (SELECT … FOR UPDATE SKIP LOCKED + conditional UPDATE, no firing) → claims/s;
4. **late schedule** — a deadline scheduled 50 ms ahead while the timer sleeps: its lag shows
   the poll bound (``max_sleep``) that a wake-up channel would remove;
5. **sorted set** — the alternative design measured on the same machine: a Redis ZSET with
   the same pending deadlines, an idle ZRANGEBYSCORE probe, and a burst drained with a Lua
   claim script (ZRANGEBYSCORE + ZREM) of the same batch size.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
# DEBUG is off, as in production: settings need a long SECRET_KEY (children inherit it).
os.environ.setdefault("SECRET_KEY", "benchmark-only-secret-key-0123456789-abcdefghijklmn")
sys.path.insert(0, str(ROOT))

BENCH_DB = "switchboard_bench_sla"
DEFAULT_DATABASE_URL = "postgres://postgres:postgres@127.0.0.1:5432/switchboard"
PREFIX = "sbbench-sla"


def configure() -> None:
    base = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    parts = urlsplit(base)
    os.environ["DATABASE_URL"] = urlunsplit(parts._replace(path=f"/{BENCH_DB}"))
    os.environ["DATABASE_POOL"] = "false"
    os.environ["REDIS_KEY_PREFIX"] = PREFIX
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/13")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["DJANGO_SETTINGS_MODULE"] = "routing_service.settings"
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


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def summary(values: list[float], unit: str = "ms", scale: float = 1000) -> str:
    if not values:
        return "no samples"
    p50, p99 = percentile(values, 0.5) * scale, percentile(values, 0.99) * scale
    top = max(values) * scale
    return f"p50 {p50:.2f} {unit}, p99 {p99:.2f} {unit}, max {top:.2f} {unit} (n={len(values)})"


# --- set-up ---------------------------------------------------------------------------------


def reset_and_fill(chats: int, companies: int) -> list[int]:
    from django.db import connection

    from routing_service.chats.models import Channel, Provider
    from routing_service.tenancy.models import Company
    from sla_engine.models import ChatSLA

    tables = [
        "sla_engine_slatimer",
        "sla_engine_slapause",
        "chats_assignmentevent",
        "chats_chatassignment",
        "chats_message",
        "chats_conversation",
        "chats_client",
        "chats_channel",
        "chats_chatnotification",
        "chats_routingpolicy",
        "sla_engine_chatsla",
        "analytics_chatresponsetracking",
    ]
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(tables)}, tenancy_company CASCADE")
    ids = []
    per_company = chats // companies
    started = time.perf_counter()
    for n in range(companies):
        company = Company.objects.create(name=f"Bench {n}", slug=f"bench-{n}")
        ids.append(company.pk)
        channel = Channel.objects.create(
            company=company, name="Web", provider=Provider.GENERIC, secret="s"
        )
        ChatSLA.objects.create(
            company=company,
            priority="medium",
            first_response_minutes=60,
            resolution_minutes=120,
            work_start=dt.time(0),
            work_end=dt.time(0),
            weekdays=[0, 1, 2, 3, 4, 5, 6],
            include_weekends=True,
            escalation_ladder=[],
        )
        with connection.cursor() as cursor:
            cursor.execute("SELECT setseed(%s)", [0.1 + n / (2 * companies)])
            cursor.execute(
                """
                INSERT INTO chats_client (company_id, external_id, name, email, phone, language,
                                          is_vip, metadata, created_at)
                SELECT %s, 'bench-' || g, 'Client ' || g, '', '', '', false, '{}', now()
                FROM generate_series(1, %s) g
                """,
                [company.pk, per_company],
            )
            cursor.execute(
                """
                INSERT INTO chats_conversation (
                    company_id, client_id, channel_id, status, priority, priority_rank,
                    language, category, subject, created_at, queued_at, last_message_at,
                    first_response_due_at, resolution_due_at, escalation_level, message_count)
                SELECT c.company_id, c.id, %s, 'waiting', 'medium', 1, '', '', 'Help',
                       d.due - interval '60 minutes', d.due - interval '60 minutes',
                       d.due - interval '60 minutes', d.due, d.due + interval '60 minutes', 0, 1
                FROM chats_client c,
                     LATERAL (SELECT now() + interval '5 seconds'
                                     + random() * interval '3600 seconds' + c.id * interval '0'
                              AS due) d
                WHERE c.company_id = %s
                """,
                [channel.pk, company.pk],
            )
            cursor.execute(
                """
                INSERT INTO sla_engine_slatimer (company_id, conversation_id, kind, stage, due_at,
                                                 fired_at, cancelled, step)
                SELECT company_id, id, 'first_response', 1, first_response_due_at,
                       NULL::timestamptz, false, NULL::jsonb
                FROM chats_conversation WHERE company_id = %s
                UNION ALL
                SELECT company_id, id, 'resolution', 1, resolution_due_at, NULL::timestamptz,
                       false, NULL::jsonb
                FROM chats_conversation WHERE company_id = %s
                """,
                [company.pk, company.pk],
            )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE sla_engine_slatimer")
        cursor.execute("VACUUM ANALYZE chats_conversation")
        cursor.execute("SELECT count(*) FROM sla_engine_slatimer WHERE fired_at IS NULL")
        pending = cursor.fetchone()[0]
    print(
        f"set-up: {companies} companies, {per_company * companies:,} open chats, "
        f"{pending:,} pending timers in {time.perf_counter() - started:.1f} s"
    )
    return ids


class LagRecorder:
    """Wraps the outbox's fast path: the lag of every sla event from its timer's due time."""

    def __init__(self) -> None:
        from events import outbox

        self.outbox = outbox
        self.original = outbox.publish_rows
        self.lags: list[float] = []
        self.events = 0

    def __enter__(self) -> LagRecorder:
        def recording(rows: Any) -> None:
            self.original(rows)
            now = time.time()
            for row in rows:
                scheduled = row.event.data.get("scheduled_at")
                if row.event.type.startswith("sla.") and scheduled:
                    self.lags.append(now - dt.datetime.fromisoformat(scheduled).timestamp())
            self.events += len(rows)

        self.outbox.publish_rows = recording
        return self

    def __exit__(self, *exc: object) -> None:
        self.outbox.publish_rows = self.original


# --- phases ---------------------------------------------------------------------------------


def start_deadlines_in(seconds: float) -> None:
    """Move every deadline (timers and chats alike) so that the first is `seconds` away: the
    set-up takes a while, and deadlines it let pass would count as lag."""
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT now() + %s * interval '1 second' - min(due_at) FROM sla_engine_slatimer",
            [seconds],
        )
        shift = cursor.fetchone()[0]
        cursor.execute("UPDATE sla_engine_slatimer SET due_at = due_at + %s", [shift])
        cursor.execute(
            "UPDATE chats_conversation SET first_response_due_at = first_response_due_at + %s,"
            " resolution_due_at = resolution_due_at + %s",
            [shift, shift],
        )


def phase_lag(seconds: float, batch: int, max_sleep: float) -> None:
    from django.db import connection

    from sla_engine.timer import SlaTimerWorker

    # Moving 300,000 rows leaves as many dead tuples: vacuum them now, not during the run.
    lead = 10.0
    start_deadlines_in(lead)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE sla_engine_slatimer")
        cursor.execute("VACUUM ANALYZE chats_conversation")
    seconds += lead

    worker = SlaTimerWorker(name="bench", batch_size=batch, max_sleep=max_sleep, metrics_every=0)
    idle_turns: list[float] = []
    firing_turns: list[tuple[float, int]] = []
    original_turn = worker.turn

    def timed_turn() -> tuple[int, float]:
        started = time.perf_counter()
        fired, delay = original_turn()
        elapsed = time.perf_counter() - started
        if fired:
            firing_turns.append((elapsed, fired))
        else:
            idle_turns.append(elapsed)
        return fired, delay

    worker.turn = timed_turn  # type: ignore[method-assign]
    threading.Timer(seconds, worker.request_stop).start()
    with LagRecorder() as recorder:
        worker.run()
    per_firing = [elapsed / fired for elapsed, fired in firing_turns]
    print(f"\n1. lag over {seconds:.0f} s of the worker loop (max_sleep {max_sleep * 1000:.0f} ms)")
    print(f"   fired {worker.fired:,} deadlines")
    print(f"   lag deadline -> event published: {summary(recorder.lags)}")
    print(f"   idle turns (index probe): {summary(idle_turns)}")
    print(f"   firing turns, per deadline: {summary(per_firing)}")


def push_all_ahead() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE sla_engine_slatimer SET due_at = due_at + interval '2 hours'"
            " WHERE fired_at IS NULL"
        )
        cursor.execute(
            "UPDATE chats_conversation SET first_response_due_at = first_response_due_at"
            " + interval '2 hours', resolution_due_at = resolution_due_at + interval '2 hours'"
        )
        cursor.execute("VACUUM ANALYZE sla_engine_slatimer")


def phase_idle(rounds: int = 2000) -> None:
    from sla_engine.firing import fire_due
    from sla_engine.timer import SlaTimerWorker

    worker = SlaTimerWorker(name="bench", metrics_every=0)
    turns, claims = [], []
    for _ in range(rounds):
        started = time.perf_counter()
        fired, _delay = worker.turn()
        turns.append(time.perf_counter() - started)
        assert fired == 0
    for _ in range(rounds // 4):
        started = time.perf_counter()
        fire_due()
        claims.append(time.perf_counter() - started)
    print("\n2. idle tick, nothing due")
    print(f"   idle turn (next-deadline probe): {summary(turns)}")
    print(f"   empty claim transaction (BEGIN, SELECT ... SKIP LOCKED, COMMIT): {summary(claims)}")


def make_due(count: int, at: dt.datetime) -> None:
    """`count` first-response breaches (and their chats' due times), among the ones at least an
    hour away, now due at `at`."""
    from django.db import connection, transaction
    from django.utils import timezone

    # One transaction, as schedule_timers writes them: a timer must never see the row moved
    # without its chat (it would re-pend the row at the chat's old due time).
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            """
            WITH picked AS (
                SELECT id FROM sla_engine_slatimer
                WHERE fired_at IS NULL AND kind = 'first_response' AND due_at > %s
                ORDER BY id LIMIT %s)
            UPDATE sla_engine_slatimer t SET due_at = %s FROM picked WHERE t.id = picked.id
            RETURNING t.conversation_id
            """,
            [timezone.now() + dt.timedelta(hours=1), count, at],
        )
        conversation_ids = [row[0] for row in cursor.fetchall()]
        if len(conversation_ids) < count:
            print(f"   (only {len(conversation_ids):,} deadlines could be moved)")
        cursor.execute(
            "UPDATE chats_conversation SET first_response_due_at = %s WHERE id = ANY(%s)",
            [at, conversation_ids],
        )


def phase_burst(count: int, batch: int) -> None:
    from django.db import connection, transaction
    from django.utils import timezone

    from sla_engine.firing import BatchResult, _claim
    from sla_engine.timer import SlaTimerWorker

    worker = SlaTimerWorker(name="bench", batch_size=batch, metrics_every=0)
    due = timezone.now()
    make_due(count, due)
    with LagRecorder() as recorder:
        started = time.perf_counter()
        fired = worker.drain()
        elapsed = time.perf_counter() - started
    print(f"\n3. burst: {count:,} deadlines due at once, batch {batch}")
    print(
        f"   full firing (claim, re-check, AssignmentEvent, missed flag, publish): {fired:,} in "
        f"{elapsed:.2f} s -> {fired / elapsed:,.0f} timers/s"
    )
    print(f"   lag in the burst: {summary(recorder.lags)}")

    # The same rows again, claimed only: the index and locking mechanism on its own.
    for claim_batch in (batch, 2000):
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE sla_engine_slatimer SET fired_at = NULL WHERE due_at = %s", [due]
            )
            cursor.execute("VACUUM sla_engine_slatimer")
        claimed = 0
        started = time.perf_counter()
        while True:
            with transaction.atomic():
                result = BatchResult()
                rows = _claim(timezone.now(), claim_batch, result)
            claimed += len(rows)
            if result.candidates < claim_batch:
                break
        elapsed = time.perf_counter() - started
        print(
            f"   claim only (FOR UPDATE SKIP LOCKED + conditional UPDATE), batch {claim_batch}:"
            f" {claimed:,} in {elapsed:.2f} s -> {claimed / elapsed:,.0f} claims/s"
        )


def phase_burst_processes(count: int, batch: int, workers: int) -> None:
    """The same burst drained by `workers` real `run_sla_timer` processes at once."""
    import subprocess

    from django.db import connection
    from django.utils import timezone

    env = {**os.environ, "LOG_LEVEL": "WARNING"}
    command = [
        sys.executable,
        str(ROOT / "manage.py"),
        "run_sla_timer",
        "--skip-checks",
        "--metrics-every=0",
        f"--batch-size={batch}",
    ]
    processes = [
        subprocess.Popen([*command, f"--name=bench-{n}"], cwd=ROOT, env=env) for n in range(workers)
    ]
    try:
        time.sleep(4)  # started and idle
        due = timezone.now() + dt.timedelta(milliseconds=500)
        make_due(count, due)
        with connection.cursor() as cursor:
            while True:
                cursor.execute(
                    "SELECT count(*) FROM sla_engine_slatimer WHERE fired_at IS NULL"
                    " AND due_at <= %s",
                    [due],
                )
                if cursor.fetchone()[0] == 0 and timezone.now() > due:
                    break
                time.sleep(0.005)
            cursor.execute(
                "SELECT max(fired_at), count(*) FROM sla_engine_slatimer WHERE due_at = %s",
                [due],
            )
            last, fired = cursor.fetchone()
        elapsed = max(time.time() - due.timestamp(), 1e-9)
        claim_span = (last - due).total_seconds()
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
    print(
        f"   {workers} run_sla_timer processes: {fired:,} fired, all committed "
        f"{elapsed:.2f} s after the due time -> {fired / elapsed:,.0f} timers/s "
        f"(last claim at +{claim_span:.2f} s)"
    )


def phase_late_schedule(max_sleep: float, samples: int = 20) -> None:
    from django.db import connection
    from django.utils import timezone

    from sla_engine.timer import SlaTimerWorker

    worker = SlaTimerWorker(name="bench", max_sleep=max_sleep, metrics_every=0)
    thread = threading.Thread(target=worker.run)
    with LagRecorder() as recorder:
        thread.start()
        for _ in range(samples):
            time.sleep(0.137)  # land anywhere in the worker's sleep
            at = timezone.now() + dt.timedelta(milliseconds=50)
            make_due(1, at)
        time.sleep(max_sleep + 0.3)
        worker.request_stop()
        thread.join()
    connection.close()
    sleep_ms = max_sleep * 1000
    print(
        f"\n4. deadline scheduled 50 ms ahead while the timer sleeps (max_sleep {sleep_ms:.0f} ms)"
    )
    print(f"   lag: {summary(recorder.lags)}")


def phase_sorted_set(pending: int, count: int, batch: int) -> None:
    import random

    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL)
    key = f"{PREFIX}:bench:deadlines"
    client.delete(key)
    now = time.time()
    rng = random.Random(7)
    pipe = client.pipeline(transaction=False)
    for n in range(pending):
        pipe.zadd(key, {str(n): now + 5 + rng.random() * 3600})
        if n % 10_000 == 9_999:
            pipe.execute()
    pipe.execute()
    probes = []
    for _ in range(2000):
        started = time.perf_counter()
        client.zrange(key, 0, 0, withscores=True)
        probes.append(time.perf_counter() - started)
    pipe = client.pipeline(transaction=False)
    for n in range(count):
        pipe.zadd(key, {str(n): now - 1})
    pipe.execute()
    claim = client.register_script(
        "local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])\n"
        "if #due > 0 then redis.call('ZREM', KEYS[1], unpack(due)) end\n"
        "return due"
    )
    drained = 0
    started = time.perf_counter()
    while True:
        got = claim(keys=[key], args=[time.time(), batch])
        drained += len(got)
        if len(got) < batch:
            break
    elapsed = time.perf_counter() - started
    client.delete(key)
    print(f"\n5. Redis sorted set, {pending:,} pending deadlines (the alternative, for comparison)")
    print(f"   idle probe (ZRANGE 0 0): {summary(probes)}")
    print(
        f"   claim only, Lua ZRANGEBYSCORE+ZREM: {drained:,} in {elapsed:.3f} s -> "
        f"{drained / elapsed:,.0f} claims/s"
    )


def cleanup_redis() -> None:
    import redis
    from django.conf import settings

    client = redis.Redis.from_url(settings.REDIS_URL)
    keys = list(client.scan_iter(match=f"{PREFIX}*", count=1000))
    for start in range(0, len(keys), 1000):
        client.delete(*keys[start : start + 1000])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chats", type=int, default=100_000)
    parser.add_argument("--companies", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--burst", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--max-sleep-ms", type=int, default=200)
    parser.add_argument(
        "--workers", type=int, nargs="*", default=[1, 2], help="Process counts for the burst."
    )
    args = parser.parse_args()
    configure()
    try:
        reset_and_fill(args.chats, args.companies)
        max_sleep = args.max_sleep_ms / 1000
        phase_lag(args.seconds, args.batch, max_sleep)
        push_all_ahead()
        phase_idle()
        phase_burst(args.burst, args.batch)
        for workers in args.workers:
            phase_burst_processes(args.burst, args.batch, workers)
        phase_late_schedule(max_sleep)
        phase_sorted_set(args.chats * 2, args.burst, args.batch)
    finally:
        cleanup_redis()


if __name__ == "__main__":
    main()
