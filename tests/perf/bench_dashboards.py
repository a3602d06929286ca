"""Benchmark the analytics dashboards, the session search and the chat dashboard at scale.

Run: ``.venv/bin/python tests/perf/bench_dashboards.py [--sessions 1000000] [--reuse]
[--repeat 7] [--explain] [--keep]``. Named ``bench_*`` so pytest never collects it.

It creates a separate benchmark database (``<DATABASE_URL's database>_bench_dashboards``,
dropped and re-created unless ``--reuse`` finds it loaded; dropped at the end unless
``--keep``/``--reuse``), migrates it, and loads with ``COPY``: one company with ``--sessions``
chat sessions over two years — 90% in three uploaded files (data sources marked done, as
the importer leaves them), 10% in the live conversations feed; skewed countries, languages
and categories; transcripts drawn from a Zipf-like vocabulary so some words are in a fifth of
the sessions and one in 1 of 10,000 — a second company with 5% as many (so every query really
filters by company), and for the chat dashboard two years of daily roll-ups for 20 agents
plus 30 days of conversations without roll-ups (the fallback path). Then ``VACUUM ANALYZE``,
as autovacuum would after an import.

It times the one-off daily roll-up of each file (what the first dashboard after an import
pays), then each query the pages run — the functions they call (``analytics.dashboards``,
``analytics.browse``, ``analytics.chat_dashboard``) — once to warm the cache, then
``--repeat`` times, printing the median and the worst against the targets: 300 ms per
dashboard query, 200 ms per search page (its rows and its capped count together).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
# DEBUG is off, as in production: settings need a long SECRET_KEY (children inherit it).
os.environ.setdefault("SECRET_KEY", "benchmark-only-secret-key-0123456789-abcdefghijklmn")
sys.path.insert(0, str(ROOT))

DASHBOARD_TARGET_MS = 300.0
SEARCH_TARGET_MS = 200.0
SPAN_DAYS = 730
AGENTS = 20

COUNTRIES = ["DE", "FR", "GB", "US", "ES", "IT", "NL", "AT", "CH", "PL", "SE", "BR", "IN", "JP"]
COUNTRY_WEIGHTS = [30, 15, 12, 10, 8, 6, 5, 4, 3, 2, 2, 1, 1, 1]
LANGUAGES = ["de", "en", "fr", "es", "it", "nl", "pl", "sv", "pt"]
LANGUAGE_WEIGHTS = [35, 30, 12, 8, 6, 4, 2, 2, 1]
CATEGORIES = [
    "billing",
    "orders",
    "returns",
    "technical",
    "account",
    "shipping",
    "complaint",
    "product",
    "privacy",
    "hr",
    "other",
]
CATEGORY_WEIGHTS = [20, 18, 12, 12, 10, 8, 6, 6, 3, 2, 3]
SENTIMENTS = ["Positive", "Neutral", "Negative", ""]
SENTIMENT_WEIGHTS = [45, 35, 15, 5]
RATINGS = ["", "1", "2", "3", "4", "5"]
RATING_WEIGHTS = [40, 4, 6, 12, 18, 20]
# Words for transcripts: a few very common ones, then a long tail (Zipf-like).
COMMON = [
    "hello",
    "thanks",
    "please",
    "order",
    "help",
    "account",
    "refund",
    "delivery",
    "invoice",
    "password",
]
RARE_WORD = "zephyrblue"  # in about 1 session in 10,000


def bench_database(url: str, reuse: bool) -> tuple[str, bool]:
    """``<name>_bench_dashboards`` next to the configured database: its URL and whether it
    already existed (kept only with ``reuse``)."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/") + "_bench_dashboards"
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and not reuse:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path="/" + name)), bool(exists)


def drop_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{parts.path.lstrip("/")}" WITH (FORCE)')


def vocabulary(rng: random.Random) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choice(letters) for _ in range(rng.randint(4, 9))) for _ in range(3000)]


def session_lines(
    company_id: int,
    sources: list[int],
    live: int,
    count: int,
    now: dt.datetime,
    prefix: str,
    seed: int,
) -> Iterator[bytes]:
    """COPY text rows (tab-separated, \\N for null) of ``count`` sessions, in chunks."""
    rng = random.Random(seed)
    words = vocabulary(rng)
    tail_weights = [1 / (rank + 10) for rank in range(len(words))]
    start_span = SPAN_DAYS * 86400
    buffer: list[str] = []
    choices = rng.choices
    for n in range(count):
        start = now - dt.timedelta(seconds=rng.random() * start_span)
        end = start + dt.timedelta(seconds=rng.randint(30, 3600))
        country = choices(COUNTRIES, COUNTRY_WEIGHTS)[0]
        language = choices(LANGUAGES, LANGUAGE_WEIGHTS)[0]
        category = choices(CATEGORIES, CATEGORY_WEIGHTS)[0]
        sentiment = choices(SENTIMENTS, SENTIMENT_WEIGHTS)[0]
        rating = choices(RATINGS, RATING_WEIGHTS)[0] or "\\N"
        tokens = rng.randint(100, 5000)
        body = choices(words, tail_weights, k=rng.randint(20, 60))
        body += rng.sample(COMMON, 2)
        if n % 10_000 == 7:
            body.append(RARE_WORD)
        rng.shuffle(body)
        first = " ".join(body[:8])
        transcript = f"Client: {first}\\nAgent: {' '.join(body[8:])}"
        response = f"{rng.random() * 90 + 1:.2f}" if rng.random() > 0.05 else "\\N"
        buffer.append(
            "\t".join(
                (
                    str(company_id),
                    str(live if n % 10 == 0 else sources[n % len(sources)]),
                    f"{prefix}{n:08d}",
                    start.isoformat(),
                    end.isoformat(),
                    f"10.{n % 256}.{(n >> 8) % 256}.{n % 250 + 1}",
                    country,
                    language,
                    str(rng.randint(1, 40)),
                    sentiment,
                    "t" if rng.random() < 0.12 else "f",
                    "t" if rng.random() < 0.03 else "f",
                    transcript,
                    response,
                    str(tokens),
                    f"{tokens * 0.00002:.4f}",
                    category,
                    first,
                    rating,
                )
            )
        )
        if len(buffer) == 5000:
            yield ("\n".join(buffer) + "\n").encode()
            buffer.clear()
    if buffer:
        yield ("\n".join(buffer) + "\n").encode()


SESSION_COLUMNS = (
    "company_id, data_source_id, session_id, start_time, end_time, ip_address, country, "
    "language, messages_sent, sentiment, escalated, forwarded_hr, full_transcript, "
    "avg_response_time, tokens, tokens_eur, category, initial_msg, user_rating"
)


def copy_sessions(raw: Any, lines: Iterator[bytes]) -> None:
    with (
        raw.cursor() as cursor,
        cursor.copy(f"COPY analytics_chatsession ({SESSION_COLUMNS}) FROM STDIN") as copy,
    ):
        for chunk in lines:
            copy.write(chunk)


def load(sessions: int) -> None:
    """Companies, sources, sessions, agents, roll-ups and recent conversations."""
    from django.db import connection, transaction

    from analytics.live import live_feed
    from analytics.models import ChatResponseTracking, DataSource
    from routing_service.chats.models import Channel, Client, Conversation
    from routing_service.tenancy.actions import create_company, create_user
    from routing_service.tenancy.models import Role

    now = dt.datetime.now(dt.UTC)
    company = create_company("Bench", "bench")
    other = create_company("Other", "other")
    for target, count, seed in ((company, sessions, 1), (other, sessions // 20, 2)):
        sources = [DataSource.objects.create(company=target, name=f"export {i}") for i in range(3)]
        live = live_feed(target.pk).pk
        started = time.perf_counter()
        connection.ensure_connection()
        with transaction.atomic():
            copy_sessions(
                connection.connection,
                session_lines(
                    target.pk, [s.pk for s in sources], live, count, now, f"{target.slug}-", seed
                ),
            )
        elapsed = time.perf_counter() - started
        print(f"COPY {count:,} sessions of {target.slug} in {elapsed:.1f} s", flush=True)
        # What the importer does when a file is in: the sources are done, with their counts.
        for source in sources:
            DataSource.objects.filter(pk=source.pk).update(
                status=DataSource.Status.DONE,
                rows_imported=source.sessions.count(),
                finished_at=dt.datetime.now(dt.UTC),
            )

    # Chat dashboard: agents, roll-ups for every day but the last 30, conversations for those.
    agents = [
        create_user(username=f"agent{i}", password="bench-pw-1", role=Role.AGENT, company=company)
        for i in range(AGENTS)
    ]
    rng = random.Random(3)
    rollup_days = [now.date() - dt.timedelta(days=d) for d in range(30, SPAN_DAYS)]
    rows = []
    for day in rollup_days:
        for agent in [None, *agents]:
            chats = rng.randint(200, 400) if agent is None else rng.randint(10, 20)
            met = int(chats * rng.uniform(0.8, 0.98))
            rows.append(
                ChatResponseTracking(
                    company=company,
                    date=day,
                    agent=agent,
                    chats=chats,
                    resolved=int(chats * 0.9),
                    abandoned=int(chats * 0.03),
                    escalations=int(chats * 0.05),
                    first_response_median_seconds=rng.uniform(20, 120),
                    first_response_p90_seconds=rng.uniform(120, 600),
                    resolution_median_seconds=rng.uniform(600, 3600),
                    sla_met=met,
                    sla_missed=chats - met,
                    sla_compliance_rate=met / chats,
                )
            )
    ChatResponseTracking.objects.bulk_create(rows, batch_size=5000)
    channel = Channel.objects.create(company=company, name="web", provider="generic", secret="x")
    clients = Client.objects.bulk_create(
        [Client(company=company, external_id=f"c{i}") for i in range(20_000)], batch_size=5000
    )
    conversations = []
    for i, client in enumerate(clients):
        created = now - dt.timedelta(seconds=rng.random() * 30 * 86400)
        is_open = i % 100 == 0
        first_response = created + dt.timedelta(seconds=rng.uniform(5, 900))
        resolved = first_response + dt.timedelta(seconds=rng.uniform(60, 7200))
        rank = rng.choice([0, 1, 1, 2, 3])
        conversations.append(
            Conversation(
                company=company,
                client=client,
                channel=channel,
                status=("waiting" if i % 200 == 0 else "assigned") if is_open else "resolved",
                priority=["low", "medium", "high", "urgent"][rank],
                priority_rank=rank,
                created_at=created,
                queued_at=created,
                last_message_at=created,
                first_response_at=None if is_open else first_response,
                resolved_at=None if is_open else resolved,
                first_response_due_at=created + dt.timedelta(minutes=15),
                resolution_due_at=created + dt.timedelta(hours=4),
                first_response_met=None
                if is_open
                else first_response - created < dt.timedelta(minutes=15),
                resolution_met=None if is_open else resolved - created < dt.timedelta(hours=4),
            )
        )
    Conversation.objects.bulk_create(conversations, batch_size=5000)
    print(f"roll-ups {len(rows):,} rows, conversations {len(conversations):,}", flush=True)
    with connection.cursor() as cursor:
        for table in (
            "analytics_chatsession",
            "analytics_chatresponsetracking",
            "chats_conversation",
        ):
            started = time.perf_counter()
            cursor.execute(f"VACUUM (ANALYZE) {table}")
            print(f"VACUUM ANALYZE {table} in {time.perf_counter() - started:.1f} s", flush=True)


def timed(function: Callable[[], Any], repeat: int) -> tuple[float, float]:
    function()  # warm the cache, as a page that is looked at is
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), max(samples)


def report(label: str, target: float, function: Callable[[], Any], repeat: int) -> bool:
    median, worst = timed(function, repeat)
    ok = median <= target
    mark = "ok  " if ok else "SLOW"
    print(f"  {mark} {label:<58} median {median:7.1f} ms   worst {worst:7.1f} ms", flush=True)
    return ok


def explain(label: str, queryset: Any) -> None:
    plan = queryset.explain(analyze=True, buffers=True)
    print(f"--- {label}\n{plan}\n", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--reuse", action="store_true", help="keep a loaded benchmark database")
    parser.add_argument("--keep", action="store_true", help="do not drop the database at the end")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--explain", action="store_true", help="print the query plans")
    args = parser.parse_args()

    database_url = os.environ.get(
        "DATABASE_URL", "postgres://postgres:postgres@127.0.0.1:5432/switchboard"
    )
    url, existed = bench_database(database_url, args.reuse)
    os.environ["DATABASE_URL"] = url
    os.environ["DATABASE_POOL"] = "false"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "routing_service.settings")

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.db.models import Count
    from django.http import QueryDict

    from analytics import browse, chat_dashboard, dashboards
    from analytics.models import ChatSession, Dashboard
    from routing_service.tenancy.models import Company

    call_command("migrate", verbosity=0)
    company = Company.objects.filter(slug="bench").first()
    loaded = company is not None and (
        ChatSession.objects.for_company(company).count() >= args.sessions
    )
    if not (existed and loaded):
        if existed:
            connection.close()
            url, _ = bench_database(database_url, reuse=False)
            call_command("migrate", verbosity=0)
        load(args.sessions)
        company = Company.objects.get(slug="bench")
    assert company is not None
    total = ChatSession.objects.for_company(company).count()
    print(
        f"\ndatabase {connection.settings_dict['NAME']}: {total:,} sessions of company "
        f"'bench' over {SPAN_DAYS} days; median of {args.repeat} warm runs\n"
    )

    today = dt.datetime.now(dt.UTC).date()
    from analytics import rollups
    from analytics.models import DataSource, SessionRollup

    # The first dashboard after an import rolls each finished file up once (or the import
    # does, when it calls rollups.roll_up_data_source): time that one-off build per file.
    SessionRollup.objects.for_company(company).delete()
    for source in DataSource.objects.for_company(company).filter(kind="csv"):
        started = time.perf_counter()
        rollups.roll_up_data_source(source.pk)
        print(
            f"roll-up of {source.name} ({source.rows_imported:,} sessions), once after its "
            f"import: {time.perf_counter() - started:.2f} s"
        )
    live = DataSource.objects.for_company(company).get(kind="live")
    print(f"live feed: {live.sessions.count():,} sessions, counted directly (not rolled up)\n")
    csv_sources = tuple(
        DataSource.objects.for_company(company)
        .filter(kind="csv")
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    unsaved = Dashboard(company=company, include_live=True, last_days=30)
    no_live = Dashboard(company=company, include_live=False, last_days=30)
    everything = dashboards.scope_for_dashboard(
        Dashboard(company=company, last_days=SPAN_DAYS), today=today
    )
    scopes = {
        "30 days": dashboards.scope_for_dashboard(unsaved, today=today),
        "30 days, without the live feed": dashboards.scope_for_dashboard(no_live, today=today),
        "365 days": dashboards.scope_for_dashboard(
            Dashboard(company=company, last_days=365), today=today
        ),
        "all 730 days (every session)": everything,
        "all 730 days, two files + live feed": dashboards.Scope(
            company.pk, everything.start, everything.end, (*csv_sources[:2], live.pk)
        ),
        "all 730 days, live feed only (no roll-up)": dashboards.Scope(
            company.pk, everything.start, everything.end, (live.pk,)
        ),
    }
    failures = 0
    print("Dashboards (target 300 ms per query):")
    for name, scope in scopes.items():
        plan = dashboards._plan(scope)
        print(f" {name}: {len(plan.rolled)} rolled-up source(s)")
        checks: list[tuple[str, Callable[[], Any]]] = [
            ("sources' roll-up states (plan)", lambda s=scope: dashboards._plan(s)),
            (
                "time series (sessions, rates, sentiment, tokens...)",
                lambda s=scope, p=plan: dashboards.time_series(s, plan=p),
            ),
            *(
                (
                    f"breakdown by {field}",
                    lambda s=scope, f=field, p=plan: dashboards.breakdown(s, f, plan=p),
                )
                for field in dashboards.BREAKDOWN_FIELDS
            ),
            (
                "rating distribution",
                lambda s=scope, p=plan: dashboards.rating_distribution(s, plan=p),
            ),
        ]
        for label, function in checks:
            failures += not report(label, DASHBOARD_TARGET_MS, function, args.repeat)
        median, worst = timed(lambda s=scope: dashboards.dashboard_data(s), args.repeat)
        print(
            f"       whole dashboard (all of the above): median {median:.1f} ms, "
            f"worst {worst:.1f} ms"
        )
        if args.explain and plan.raw is not None:
            explain(
                f"{name}: sessions counted directly",
                plan.raw.values("country").annotate(n=Count("start_time")),
            )

    print("\nSearch (target 200 ms: one page of 25 and the capped count):")
    searches = {
        "no filter (newest first)": "",
        "common word 'refund'": "q=refund",
        "two common words 'refund invoice'": "q=refund+invoice",
        f"rare word '{RARE_WORD}'": f"q={RARE_WORD}",
        "phrase '\"thanks please\"'": "q=%22thanks+please%22",
        "word + country + sentiment": "q=refund&country=FR&sentiment=Negative",
        "filters: country, language, escalated": "country=DE&language=de&escalated=true",
        "filters: category + rating 1..2": "category=privacy&rating_min=1&rating_max=2",
        "date range (one week) + word": (
            f"q=password&date_from={today - dt.timedelta(days=60)}"
            f"&date_to={today - dt.timedelta(days=53)}"
        ),
        "page 40 of a broad match": "q=hello&page=40",
    }
    for label, query in searches.items():
        params = QueryDict(query)
        page = int(params.get("page", "1"))
        failures += not report(
            label,
            SEARCH_TARGET_MS,
            lambda p=params, n=page: browse.search(company.pk, p, n),
            args.repeat,
        )
    print("\nChat dashboard (target 300 ms per query):")
    window = chat_dashboard.Window.last_days(30, today=today)
    long_window = chat_dashboard.Window.last_days(365, today=today)
    checks = [
        (
            "SLA series, 30 days (roll-ups + conversation fallback)",
            lambda: chat_dashboard.sla_series(company.pk, window),
        ),
        ("SLA series, 365 days", lambda: chat_dashboard.sla_series(company.pk, long_window)),
        ("agent table, 30 days", lambda: chat_dashboard.agent_table(company.pk, window)),
        ("agent table, 365 days", lambda: chat_dashboard.agent_table(company.pk, long_window)),
        ("queue now", lambda: chat_dashboard.queue_now(company.pk)),
        ("breaches", lambda: chat_dashboard.breaches(company.pk)),
    ]
    for label, function in checks:
        failures += not report(label, DASHBOARD_TARGET_MS, function, args.repeat)

    connection.close()
    if not args.keep and not args.reuse:
        drop_database(url)
    print(f"\n{failures} over target" if failures else "\nall within target")


if __name__ == "__main__":
    main()
