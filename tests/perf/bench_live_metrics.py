"""Benchmark `GET /api/v1/metrics/`'s computation (analytics/live_metrics.py) on a big history.

Since issue 14 the window figures come from Redis counters (empty in this benchmark's private
Redis: its "check" line shows zeros, and the window query section no longer runs); the cost of
many queues at once is tests/perf/bench_queue_metrics.py's. What this one still measures is a
single company's call against the wallboard's, and ``window_figures`` (the database count,
kept as the reference) when run by hand.

Run: ``.venv/bin/python tests/perf/bench_live_metrics.py [--open 10000] [--history 200000]
[--agents 200] [--runs 50]``. Named ``bench_*`` so pytest never collects it. The data are
bench_wallboard.py's (one company: open chats, resolved chats over 30 days, 5 % of them
today), in their own database ``switchboard_bench_live_metrics``.

It prints, in the same run:

* `live_metrics` (60-minute window) and `compute_stats` (the wallboard's payload, the baseline:
  what a supervisor's screen already costs every second), p50/p95/max over `--runs`;
* each query of `live_metrics` with its time and the indexes its plan uses;
* the window query again with the two indexes it was given dropped (inside a transaction that
  is rolled back): what it would cost without them.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

from bench_wallboard import explain, populate, summary, timed  # noqa: E402
from bench_ws import django_on_bench_data  # noqa: E402

BENCH_DB = "switchboard_bench_live_metrics"
NEW_INDEXES = ("conv_company_answered_idx", "conv_company_ended_idx")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--open", type=int, default=10_000)
    parser.add_argument("--history", type=int, default=200_000)
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()

    with django_on_bench_data(BENCH_DB, "lmbench"):
        from django.db import connection, transaction
        from django.test.utils import CaptureQueriesContext

        from analytics.live_metrics import live_metrics
        from realtime.wallboard import compute_stats

        started = time.perf_counter()
        company_id = populate(args.open, args.history, args.agents)
        print(
            f"data: {args.open:,} open chats, {args.history:,} resolved, {args.agents} staff "
            f"(loaded in {time.perf_counter() - started:.1f} s)"
        )
        body = live_metrics(company_id)
        print(
            f"check: waiting {body['waiting']:,}, offered {body['offered']:,}, answered "
            f"{body['answered']:,}, AHT {body['aht_seconds']} s, service level "
            f"{body['service_level']}, needed {body['forecast']['required_agents']} of "
            f"{body['forecast']['available_agents']} available"
        )

        for func in (lambda: live_metrics(company_id), lambda: compute_stats(company_id)):
            timed(func, 3)  # warm the caches
        ours = timed(lambda: live_metrics(company_id), args.runs)
        baseline = timed(lambda: compute_stats(company_id), args.runs)
        print(f"\nlive_metrics (60 min)  {summary(ours)}")
        print(f"compute_stats (base)   {summary(baseline)}")
        ratio = sorted(ours)[len(ours) // 2] / sorted(baseline)[len(baseline) // 2]
        print(f"median ratio live_metrics / compute_stats: {ratio:.2f}")

        with CaptureQueriesContext(connection) as captured:
            live_metrics(company_id)
        print(f"\n{len(captured.captured_queries)} queries:")
        window_sql = ""
        for query in captured.captured_queries:
            sql = query["sql"]
            if "first_response_at" in sql and "resolved_at" in sql:
                window_sql = sql
            head = re.sub(r"\s+", " ", sql)[:70]
            print(f"  {float(query['time']) * 1000:6.2f} ms  {head}…")
            print(f"             {explain(sql)}")

        if window_sql:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    for name in NEW_INDEXES:
                        cursor.execute(f"DROP INDEX {name}")
                without = timed(lambda: connection.cursor().execute(window_sql), 10)
                print(f"\nwindow query without {', '.join(NEW_INDEXES)}: {summary(without)}")
                print(f"             {explain(window_sql)}")
                transaction.set_rollback(True)


if __name__ == "__main__":
    main()
