"""Profile one router batch in-process: where a new client's message spends its time.

Run: ``.venv/bin/python tests/perf/profile_first_contact.py [--batch 500] [--batches 4]``.
Uses bench_router's database and data set-up (one company, 20 agents, least busy). Records
``--batches`` batches of first messages from new clients, then as many batches of follow-ups
from the same clients, through `process_batch` (the router's batch function: database and
outbox publish; with the router process's garbage-collector settings, `worker.tune_gc`), and
prints for each kind the wall time per batch, the SQL statements per
batch with their time, and the top of cProfile's cumulative listing.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import datetime as dt
import io
import pstats
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_router


def entries(channel: Any, prefix: str, start: int, count: int, run: int) -> list[Any]:
    from routing_service.ingest import stream
    from routing_service.ingest.adapters.base import InboundMessage
    from routing_service.router.worker import StreamEntry

    now = dt.datetime.now(dt.UTC)
    items = []
    for n in range(start, start + count):
        entry = stream.InboundEntry(
            channel_id=channel.pk,
            company_id=channel.company_id,
            received_at=now,
            message=InboundMessage(
                provider="generic",
                provider_message_id=f"{run}-{prefix}-{n}",
                client_external_id=f"client-{n}",
                client_name=f"Client {n}",
                text="Hello, where is my order? It was due yesterday.",
                sent_at=now,
            ),
        )
        items.append(StreamEntry(stream="x", entry_id=f"{n}-0", payload=b"", entry=entry))
    return items


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--sort", default="cumulative", help="pstats order: cumulative, tottime")
    parser.add_argument(
        "--no-profile", action="store_true", help="time the batches only (no cProfile overhead)"
    )
    args = parser.parse_args()
    bench_router.configure()
    from django.db import connection

    from routing_service.router.worker import process_batch, tune_gc

    bench_router.reset_data()
    bench_router.delete_keys()
    (channel,) = bench_router.set_up_companies(1, 20, strategy="least_busy")
    tune_gc()  # as `run_router` does at start-up
    run = time.time_ns()
    statements: Counter[str] = Counter()
    seconds: Counter[str] = Counter()

    def spy(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            key = " ".join(sql.split())[:110]
            statements[key] += 1
            seconds[key] += time.perf_counter() - started

    for kind in ("new", "returning"):
        batches = [
            entries(channel, kind, b * args.batch, args.batch, run) for b in range(args.batches)
        ]
        statements.clear()
        seconds.clear()
        profiler = cProfile.Profile()
        started = time.perf_counter()
        with contextlib.ExitStack() as stack:
            if not args.no_profile:
                stack.enter_context(connection.execute_wrapper(spy))
                profiler.enable()
            for batch in batches:
                outcome = process_batch(batch)
                assert len(outcome.acked) == len(batch), outcome.failed[:1]
            profiler.disable()
        elapsed = time.perf_counter() - started
        per_batch = elapsed / args.batches
        print(f"\n=== {kind}: {per_batch * 1000:.0f} ms per batch of {args.batch}", end="")
        print(f" ({args.batch / per_batch:,.0f} msg/s in-process)")
        if args.no_profile:
            continue
        total_sql = sum(seconds.values())
        print(
            f"SQL: {sum(statements.values()) / args.batches:.1f} statements per batch, "
            f"{total_sql / args.batches * 1000:.0f} ms per batch"
        )
        for key, spent in seconds.most_common(25):
            count, ms = statements[key] / args.batches, spent / args.batches * 1000
            print(f"  {count:6.1f}× {ms:7.1f} ms  {key}")
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(args.sort).print_stats(args.top)
        print(out.getvalue())
    bench_router.delete_keys()


if __name__ == "__main__":
    main()
