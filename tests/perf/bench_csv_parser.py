"""Benchmark the chat-session CSV parser: rows/s on one core and peak memory.

Run: ``.venv/bin/python tests/perf/bench_csv_parser.py [rows]`` (default 200,000). Named
``bench_*`` so pytest never collects it. The file is generated in a temp dir first; only the
parse is timed. Peak RSS is the process's high-water mark (generation included), so compare it
with the file size: a streaming parser stays far below it.
"""

from __future__ import annotations

import csv
import random
import resource
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from analytics.csv_parser import COLUMNS, parse_sessions


def write_sessions(path: Path, rows: int, seed: int = 7) -> None:
    """Typical rows: short quoted transcripts with commas, some multi-line, mixed IPs."""
    rng = random.Random(seed)
    countries = ["DE", "FR", "Zürich, CH", "US", "BR"]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for n in range(rows):
            day = 1 + n % 28
            transcript = f"Agent: Hello, how can I help?\nClient: my order #{n} is late"
            if n % 10 == 0:
                transcript += ', "urgent"'
            writer.writerow(
                [
                    f"S{n:08d}",
                    f"2024-03-{day:02d} 10:{n % 60:02d}:00",
                    f"2024-03-{day:02d}T11:{n % 60:02d}:30+00:00",
                    f"10.{n % 256}.{(n // 256) % 256}.{rng.randrange(1, 255)}"
                    if n % 50
                    else "2001:db8::1",
                    rng.choice(countries),
                    "de",
                    rng.randrange(0, 40),
                    rng.choice(["Positive", "neutral", "NEGATIVE", ""]),
                    rng.choice(["yes", "no", "true", "0"]),
                    rng.choice(["y", "n"]),
                    transcript,
                    f"{rng.random() * 30:.2f}",
                    rng.randrange(0, 5000),
                    f"{rng.random():.4f}",
                    "billing",
                    "my order is late",
                    rng.choice(["", "1", "3", "5"]),
                ]
            )


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sessions.csv"
        write_sessions(path, rows)
        size = path.stat().st_size
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        kinds: Counter[str] = Counter()
        started = time.perf_counter()
        with path.open("rb") as handle:
            for item in parse_sessions(handle):
                kinds[type(item).__name__] += 1
        elapsed = time.perf_counter() - started
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"rows: {dict(kinds)}  file: {size / 1e6:.1f} MB  lines/row ~2")
    rate = f"{rows / elapsed:,.0f} rows/s ({size / elapsed / 1e6:.1f} MB/s)"
    print(f"parse: {elapsed:.2f} s  ->  {rate}")
    print(f"peak RSS: {rss_after / 1024:.1f} MiB (before parsing: {rss_before / 1024:.1f} MiB)")


if __name__ == "__main__":
    main()
