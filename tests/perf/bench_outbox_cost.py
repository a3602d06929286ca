"""What the transactional outbox costs the router: messages/s and CPU with the outbox as shipped
against the same router with the outbox write bypassed (events published straight after the
commit, as before the outbox — what issue 11 item 10 replaced: a crash between commit and
publish then loses the events).

Run: ``flock /tmp/switchboard-bench.lock .venv/bin/python tests/perf/bench_outbox_cost.py
[--messages 20000] [--runs 3]``. Reuses ``bench_router.py`` (its database, companies, stream
filling and measurement); the two modes alternate run by run so a change in the machine's load
hits both alike. Reported: the median of each mode's runs (messages/s, router CPU ms and
PostgreSQL+Redis CPU ms per 1,000 messages) and their ratios. The bypass lives only here, in the
router processes this benchmark starts: no product setting turns the outbox off.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
_spec = importlib.util.spec_from_file_location("bench_router", HERE / "bench_router.py")
assert _spec is not None and _spec.loader is not None
bench_router: Any = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_router)

# Run in each router process before the command: with "bypass", batches write no outbox rows
# and publish their events straight after the commit (the pre-outbox path).
_PRELUDE = """
import os, sys, django
django.setup()
if os.environ.get("BENCH_OUTBOX") == "bypass":
    import logging
    from redis.exceptions import RedisError
    from events import outbox
    from events.log import entry_for, publish_entries

    def _insert(events):
        return [outbox.Row(0, event, entry_for(event)) for event in events]

    def publish_rows(rows):
        if rows:
            try:
                publish_entries([row.entry for row in rows])
            except RedisError:
                logging.getLogger(__name__).warning("publish failed: events lost")

    outbox._insert = _insert
    outbox.publish_rows = publish_rows
from django.core.management import execute_from_command_line
execute_from_command_line(["manage.py", *sys.argv[1:]])
"""


def run_router(mode: str, messages: int, url: str) -> dict[str, float]:
    """One router (with the psycopg pool, as deployed) drains the filled stream."""
    from routing_service.chats.models import Message

    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DATABASE_POOL": "true",
        "ROUTER_BLOCK_MS": "50",
        "BENCH_OUTBOX": mode,
    }
    shared_before = bench_router.cpu_by_pid(bench_router.shared_pids())
    proc = subprocess.Popen(
        [sys.executable, "-c", _PRELUDE, "run_router", f"--name=outbox-{mode}"],
        cwd=bench_router.ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    first: float | None = None
    deadline = time.monotonic() + 900
    done = 0
    while time.monotonic() < deadline:
        done = Message.objects.count()
        if done and first is None:
            first = time.perf_counter()
        if done >= messages:
            break
        time.sleep(0.05)
    last = time.perf_counter()
    router_cpu = bench_router.cpu_seconds([proc.pid])
    shared_cpu = sum(
        cpu - shared_before.get(pid, 0.0)
        for pid, cpu in bench_router.cpu_by_pid(bench_router.shared_pids()).items()
    )
    proc.terminate()
    try:
        proc.wait(timeout=300)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    elapsed = last - (first or last)
    return {
        "rate": done / elapsed if elapsed else 0.0,
        "router_ms_per_1k": router_cpu * 1e6 / done if done else 0.0,
        "shared_ms_per_1k": shared_cpu * 1e6 / done if done else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=2_000)
    parser.add_argument("--companies", type=int, default=4)
    parser.add_argument("--agents", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    url = bench_router.configure()
    from events.models import OutboxEvent

    results: dict[str, list[dict[str, float]]] = {"outbox": [], "bypass": []}
    print(f"{args.messages} messages, 1 router, load {os.getloadavg()[0]:.1f}", flush=True)
    try:
        for run in range(args.runs):
            for mode in ("outbox", "bypass") if run % 2 == 0 else ("bypass", "outbox"):
                bench_router.reset_data()
                bench_router.delete_keys()
                channels = bench_router.set_up_companies(args.companies, args.agents)
                bench_router.fill_stream(channels, args.messages, args.clients)
                result = run_router(mode, args.messages, url)
                assert not OutboxEvent.objects.exists()
                results[mode].append(result)
                print(
                    f"run {run + 1} {mode:6}: {result['rate']:7,.0f} msg/s, router CPU "
                    f"{result['router_ms_per_1k']:5.0f} ms/1k msgs, PostgreSQL+Redis CPU "
                    f"{result['shared_ms_per_1k']:5.0f} ms/1k (load {os.getloadavg()[0]:.1f})",
                    flush=True,
                )
    finally:
        bench_router.delete_keys()
    median = {
        mode: {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        for mode, runs in results.items()
    }
    outbox, bypass = median["outbox"], median["bypass"]
    print(
        f"median outbox: {outbox['rate']:,.0f} msg/s, router {outbox['router_ms_per_1k']:.0f} "
        f"+ shared {outbox['shared_ms_per_1k']:.0f} CPU ms/1k\n"
        f"median bypass: {bypass['rate']:,.0f} msg/s, router {bypass['router_ms_per_1k']:.0f} "
        f"+ shared {bypass['shared_ms_per_1k']:.0f} CPU ms/1k\n"
        f"outbox/bypass: throughput {outbox['rate'] / bypass['rate']:.1%}, router CPU "
        f"{outbox['router_ms_per_1k'] / bypass['router_ms_per_1k']:.1%}, shared CPU "
        f"{outbox['shared_ms_per_1k'] / bypass['shared_ms_per_1k']:.1%}"
    )


if __name__ == "__main__":
    main()
