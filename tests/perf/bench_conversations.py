"""Benchmark the supervisors' conversations page query (realtime/monitoring.py) at 100,000
open chats: the first page must be listed in ≤ 100 ms.

Run: ``.venv/bin/python tests/perf/bench_conversations.py [--open 100000] [--closed 20000]
[--runs 30]`` (under ``flock /tmp/switchboard-bench.lock``). Named ``bench_*`` so pytest never
collects it. The database ``switchboard_bench_conversations`` on the server of
``DATABASE_URL`` (default: the local test server) is created and migrated on first use and
refilled each run with one company, ``--open`` open chats (two thirds waiting, one third
assigned to 50 agents) and ``--closed`` resolved ones, all with SQL ``generate_series``; then
ANALYZE.

It prints the median and p95 of ``list_page`` — the first page (50 rows, no filter), a filtered
first page (status waiting), an agent's chats, the second page by cursor and a text search —
and, as the baseline, what the REST list ``/api/v1/conversations/`` does for a page (OFFSET
pagination: ``COUNT(*)`` plus the page with its active-assignment subqueries), measured in
the same run; then the plan of the first page's query.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from bench_wallboard import explain  # noqa: E402
from bench_ws import django_on_bench_data  # noqa: E402

BENCH_DB = "switchboard_bench_conversations"
TARGET_MS = 100.0


def populate(open_chats: int, closed: int, agents: int = 50) -> int:
    from django.db import connection

    from routing_service.chats.models import Channel
    from routing_service.tenancy import actions
    from routing_service.tenancy.models import Role, User

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE tenancy_company CASCADE")
    company = actions.create_company("Conversations bench", "conversations-bench")
    staff = []
    for n in range(agents):
        user = User(
            username=f"cv-agent-{company.pk}-{n}", company=company, role=Role.AGENT, max_chats=5000
        )
        user.set_unusable_password()
        staff.append(user)
    User.objects.bulk_create(staff)
    channel = Channel.objects.create(company=company, name="Web", provider="generic", secret="s")
    total = open_chats + closed
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO chats_client (company_id, external_id, name, email, phone, language,
                                      is_vip, metadata, created_at)
            SELECT %s, 'c' || n, 'Client ' || n, '', '', '', false, '{}', now()
            FROM generate_series(1, %s) AS n
            """,
            [company.pk, total],
        )
        cursor.execute(
            """
            INSERT INTO chats_conversation (
                company_id, client_id, channel_id, status, priority, priority_rank, language,
                category, subject, created_at, queued_at, last_message_at, escalation_level,
                message_count, csat_comment, first_response_due_at, resolution_due_at)
            SELECT c.company_id, c.id, %s,
                   CASE WHEN n > %s THEN 'resolved' WHEN n %% 3 = 0 THEN 'assigned'
                        ELSE 'waiting' END,
                   (ARRAY['low','medium','high','urgent'])[1 + n %% 4], (n %% 4)::int, '', '',
                   'Question number ' || n,
                   now() - make_interval(secs => (n * 5)::float8),
                   now() - make_interval(secs => (n * 5)::float8),
                   now() - make_interval(secs => (n * 3)::float8), 0, 2, '',
                   now() + make_interval(mins => (30 - n %% 60)::int),
                   now() + make_interval(mins => (120 - n %% 60)::int)
            FROM (SELECT id, company_id, row_number() OVER (ORDER BY id) AS n
                  FROM chats_client WHERE company_id = %s) AS c
            """,
            [channel.pk, open_chats, company.pk],
        )
        cursor.execute(
            """
            INSERT INTO chats_chatassignment (
                company_id, conversation_id, agent_id, status, offered_at, accepted_at,
                escalation_level, escalation_reason, end_reason)
            SELECT v.company_id, v.id, a.ids[1 + v.id %% array_length(a.ids, 1)], 'accepted',
                   v.created_at, v.created_at, 0, '', ''
            FROM chats_conversation v,
                 (SELECT array_agg(id ORDER BY id) AS ids FROM tenancy_user
                  WHERE company_id = %s) AS a
            WHERE v.company_id = %s AND v.status = 'assigned'
            """,
            [company.pk, company.pk],
        )
        cursor.execute("ANALYZE")
    return company.pk


def timed(func: Callable[[], object], runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        func()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def line(name: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return f"{name:<34} median {statistics.median(ordered):8.2f} ms   p95 {p95:8.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--open", type=int, default=100_000)
    parser.add_argument("--closed", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()

    with django_on_bench_data(BENCH_DB, "cvbench"):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        from realtime import monitoring
        from routing_service.api.chats import with_active_assignment
        from routing_service.chats.models import ChatAssignment, Conversation

        started = time.perf_counter()
        company_id = populate(args.open, args.closed)
        print(
            f"data: {args.open:,} open chats, {args.closed:,} resolved "
            f"(loaded in {time.perf_counter() - started:.1f} s)"
        )
        agent_id = (
            ChatAssignment.objects.unscoped()
            .filter(company_id=company_id)
            .values_list("agent_id", flat=True)
            .first()
        )
        first = monitoring.list_page(company_id, monitoring.Filters())
        assert len(first.rows) == monitoring.PAGE_SIZE and first.next_cursor
        cursor = monitoring.decode_cursor(first.next_cursor)

        def baseline() -> None:
            rows = with_active_assignment(
                Conversation.objects.unscoped()
                .filter(company_id=company_id)
                .select_related("client", "channel")
            ).order_by("-created_at", "-pk")
            rows.count()
            list(rows[: monitoring.PAGE_SIZE])

        cases: list[tuple[str, Callable[[], object]]] = [
            (
                "first page (no filter)",
                lambda: monitoring.list_page(company_id, monitoring.Filters()),
            ),
            (
                "first page, status waiting",
                lambda: monitoring.list_page(company_id, monitoring.Filters(statuses=("waiting",))),
            ),
            (
                "first page, one agent's chats",
                lambda: monitoring.list_page(company_id, monitoring.Filters(agent_id=agent_id)),
            ),
            (
                "second page (keyset cursor)",
                lambda: monitoring.list_page(company_id, monitoring.Filters(cursor=cursor)),
            ),
            (
                "first page, text search",
                lambda: monitoring.list_page(company_id, monitoring.Filters(q="Client 99")),
            ),
            ("baseline: REST list (COUNT+OFFSET)", baseline),
        ]
        results = {}
        for name, func in cases:
            timed(func, 3)  # warm the caches
            results[name] = timed(func, args.runs)
            print(line(name, results[name]))
        headline = statistics.median(results["first page (no filter)"])
        base = statistics.median(results["baseline: REST list (COUNT+OFFSET)"])
        print(
            f"\nfirst page median {headline:.2f} ms (target ≤ {TARGET_MS:.0f} ms: "
            f"{'met' if headline <= TARGET_MS else 'MISSED'}); baseline {base:.2f} ms, "
            f"ratio {headline / base:.3f}"
        )
        with CaptureQueriesContext(connection) as captured:
            monitoring.list_page(company_id, monitoring.Filters())
        for query in captured.captured_queries:
            print(f"  {float(query['time']) * 1000:6.2f} ms  {explain(query['sql'])}")
        if headline > TARGET_MS:
            raise SystemExit(1)


if __name__ == "__main__":
    main()
