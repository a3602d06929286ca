"""Profile the router's batches in-process: what one file per message costs over text only.

Run: ``.venv/bin/python tests/perf/profile_attachments.py [--messages 6000] [--batch 500]
[--repeats 3] [--no-profile]``. Uses bench_router's database and data set-up (``--companies``
companies, ``--clients`` clients, as `bench_router.py --attachments`). Each repeat records the
same backlog twice from empty tables — text only, then with one generic-URL file per message —
through `process_batch` (the router's batch function: database, outbox publish and the
download task's enqueue after the commit), and prints for each the wall time per batch and
this process's and its PostgreSQL backend's CPU per message (steadier than wall time on a
shared machine; the backend's read from /proc: a local server), the SQL statements per batch
with their time, and the top of cProfile's listing.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import datetime as dt
import io
import os
import pstats
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_router


def entries(channels: list[Any], count: int, clients: int, run: int, files: bool) -> list[Any]:
    from routing_service.ingest import stream
    from routing_service.ingest.adapters.base import InboundMessage, MediaRef
    from routing_service.router.worker import StreamEntry

    now = dt.datetime.now(dt.UTC)
    items = []
    for n in range(count):
        channel = channels[n % len(channels)]
        media = [
            MediaRef(
                source="url",
                ref=f"https://files.example.com/{run}/{n}/photo.jpg",
                content_type="image/jpeg",
                name="photo.jpg",
                size=48_216,
            )
        ]
        entry = stream.InboundEntry(
            channel_id=channel.pk,
            company_id=channel.company_id,
            received_at=now,
            message=InboundMessage(
                provider="generic",
                provider_message_id=f"{run}-{n}",
                client_external_id=f"client-{n % clients}",
                client_name=f"Client {n % clients}",
                text="Hello, where is my order? It was due yesterday.",
                sent_at=now,
                attachments=media if files else [],
            ),
        )
        # Through the stream's own encoding and decoding, as the router receives it.
        payload = stream.encode(entry)
        decoded = stream.decode(payload)
        items.append(StreamEntry(stream="x", entry_id=f"{n}-0", payload=payload, entry=decoded))
    return items


def backend_pid(connection: Any) -> int:
    connection.ensure_connection()
    return int(connection.connection.info.backend_pid)


def process_cpu(pid: int) -> float:
    """CPU seconds of a local process (the PostgreSQL backend: same machine); 0 if unreadable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=6000)
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--companies", type=int, default=4)
    parser.add_argument("--agents", type=int, default=10)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--top", type=int, default=45)
    parser.add_argument("--sort", default="tottime", help="pstats order: cumulative, tottime")
    parser.add_argument("--dump", help="save each run's pstats to DUMP-text.prof / DUMP-files.prof")
    parser.add_argument(
        "--no-profile", action="store_true", help="time the batches only (no cProfile overhead)"
    )
    args = parser.parse_args()
    bench_router.configure()
    from django.db import connection

    from routing_service.router.worker import process_batch

    # One connection throughout, as a router's pooled one (this process runs without the pool,
    # and `process_batch` would otherwise reconnect each batch): its backend's CPU is measured.
    connection.settings_dict["CONN_MAX_AGE"] = None

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

    rates: dict[bool, list[float]] = {False: [], True: []}
    cpus: dict[bool, list[float]] = {False: [], True: []}
    pg_cpus: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(args.repeats):
        for files in (False, True):
            bench_router.reset_data()
            bench_router.delete_keys()
            channels = bench_router.set_up_companies(args.companies, args.agents)
            backlog = entries(channels, args.messages, args.clients, time.time_ns(), files)
            batches = [
                backlog[start : start + args.batch] for start in range(0, len(backlog), args.batch)
            ]
            statements.clear()
            seconds.clear()
            profiler = cProfile.Profile()
            started, cpu_started = time.perf_counter(), time.process_time()
            with contextlib.ExitStack() as stack:
                if not args.no_profile:
                    stack.enter_context(connection.execute_wrapper(spy))
                    profiler.enable()
                pg_cpu = 0.0
                for batch in batches:
                    pid = backend_pid(connection)
                    before = process_cpu(pid)
                    outcome = process_batch(batch)
                    assert len(outcome.acked) == len(batch), outcome.failed[:1]
                    pg_cpu += process_cpu(pid) - before
                profiler.disable()
            elapsed = time.perf_counter() - started
            cpu = time.process_time() - cpu_started
            rates[files].append(args.messages / elapsed)
            cpus[files].append(cpu / args.messages * 1e6)
            pg_cpus[files].append(pg_cpu / args.messages * 1e6)
            per_batch = elapsed / len(batches)
            label = "one file each" if files else "text only"
            print(f"\n=== {label}: {per_batch * 1000:.0f} ms per batch of {args.batch}", end="")
            print(
                f" ({args.messages / elapsed:,.0f} msg/s in-process; this process's CPU "
                f"{cpu / args.messages * 1e6:.0f} µs a message, its PostgreSQL backend's "
                f"{pg_cpu / args.messages * 1e6:.0f} µs)",
                flush=True,
            )
            if args.no_profile:
                continue
            total_sql = sum(seconds.values())
            print(
                f"SQL: {sum(statements.values()) / len(batches):.1f} statements per batch, "
                f"{total_sql / len(batches) * 1000:.0f} ms per batch"
            )
            for key, spent in seconds.most_common(25):
                count, ms = statements[key] / len(batches), spent / len(batches) * 1000
                print(f"  {count:6.1f}× {ms:7.1f} ms  {key}")
            if args.dump:
                profiler.dump_stats(f"{args.dump}-{'files' if files else 'text'}.prof")
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats(args.sort).print_stats(args.top)
            print(out.getvalue(), flush=True)
    text, files_rate = statistics.median(rates[False]), statistics.median(rates[True])
    print(
        f"median text only {text:,.0f} msg/s, with files {files_rate:,.0f} msg/s "
        f"→ ratio {files_rate / text:.1%}; CPU a message: text only "
        f"{statistics.median(cpus[False]):.0f} µs, "
        f"with files {statistics.median(cpus[True]):.0f} µs"
        f" (runs: {', '.join(f'{c:.0f}' for c in cpus[False])} | "
        f"{', '.join(f'{c:.0f}' for c in cpus[True])}); PostgreSQL backend: text only "
        f"{statistics.median(pg_cpus[False]):.0f} µs, with files "
        f"{statistics.median(pg_cpus[True]):.0f} µs"
    )
    bench_router.delete_keys()


if __name__ == "__main__":
    main()
