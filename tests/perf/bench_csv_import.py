"""Benchmark the CSV import end to end: parse → COPY → INSERT … ON CONFLICT, rows/s and memory.

Run: ``.venv/bin/python tests/perf/bench_csv_import.py [rows] [--sqlite] [--keep]
[--without-search-index]``
(default 1,000,000 rows). Named ``bench_*`` so pytest never collects it.

It generates the file (bench_csv_parser's typical rows), creates a separate benchmark database
(``<DATABASE_URL's database>_bench``, dropped and re-created; ``--sqlite`` uses a file in a
temp dir instead), migrates it, and runs ``analytics.importer.run_import`` — what the worker
runs — twice: a first import, then the same file again (every row a duplicate). Peak RSS is
sampled at every progress write, so it shows whether memory stays flat as the file streams.
Nothing is enqueued: the data source row is created directly, not through the upload action.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
# DEBUG is off, as in production: settings need a long SECRET_KEY (children inherit it).
os.environ.setdefault("SECRET_KEY", "benchmark-only-secret-key-0123456789-abcdefghijklmn")
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def rss_mib() -> float:
    """Current resident set size (Linux /proc), in MiB."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc; 0 if it is not readable)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def python_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_database(url: str) -> str:
    """Drop and re-create ``<name>_bench`` next to the configured database; its URL."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/") + "_bench"
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(parts._replace(path="/" + name))


def calibrate(path: Path, rows: int = 200_000) -> None:
    """Bare COPY and executemany of already parsed rows: how fast is this machine?"""
    import itertools

    import psycopg
    from django.db import connection
    from msgspec.structs import astuple

    from analytics.csv_parser import SessionRow, parse_sessions

    with path.open("rb") as handle:
        parsed = [
            astuple(item)
            for item in itertools.islice(parse_sessions(handle), rows)
            if isinstance(item, SessionRow)
        ]
    connection.ensure_connection()
    raw = connection.connection
    assert isinstance(raw, psycopg.Connection)
    with raw.cursor() as cursor:
        cursor.execute(
            "CREATE TEMP TABLE calibrate (line int, session_id text, start_time timestamptz, "
            "end_time timestamptz, ip_address text, country text, language text, "
            "messages_sent bigint, sentiment text, escalated bool, forwarded_hr bool, "
            "full_transcript text, avg_response_time float8, tokens numeric, "
            "tokens_eur numeric, category text, initial_msg text, user_rating int)"
        )
        started = time.perf_counter()
        with cursor.copy("COPY calibrate FROM STDIN") as copy:
            for row in parsed:
                copy.write_row(row)
        copy_rate = len(parsed) / (time.perf_counter() - started)
        cursor.execute("TRUNCATE calibrate")
        placeholders = ", ".join(["%s"] * 18)
        started = time.perf_counter()
        insert = f"INSERT INTO calibrate VALUES ({placeholders})"  # noqa: S608
        cursor.executemany(insert, parsed)
        many_rate = len(parsed) / (time.perf_counter() - started)
        cursor.execute("DROP TABLE calibrate")
    print(
        f"calibration, {len(parsed):,} parsed rows into an unindexed table: "
        f"COPY {copy_rate:,.0f} rows/s, executemany {many_rate:,.0f} rows/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("rows", nargs="?", type=int, default=1_000_000)
    parser.add_argument("--sqlite", action="store_true", help="benchmark the SQLite fallback")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    parser.add_argument(
        "--lanes", type=int, default=None, help="PostgreSQL connections (default: LANES)"
    )
    parser.add_argument(
        "--calibrate",
        action="store_true",
        help="also time bare COPY and executemany of 200,000 parsed rows into an unindexed "
        "table, to compare this machine with others",
    )
    parser.add_argument(
        "--without-search-index",
        action="store_true",
        help="drop the full-text GIN index first, to see what its upkeep costs (the stored "
        "search vector it indexes is still computed for every row)",
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-import-"))
    from bench_csv_parser import write_sessions

    csv_path = work / "sessions.csv"
    started = time.perf_counter()
    write_sessions(csv_path, args.rows)
    size = csv_path.stat().st_size
    took = time.perf_counter() - started
    print(f"generated {args.rows:,} rows, {size / 2**20:.1f} MiB in {took:.1f} s")

    database_url = os.environ.get(
        "DATABASE_URL", "postgres://postgres:postgres@127.0.0.1:5432/switchboard"
    )
    os.environ["DATABASE_URL"] = (
        f"sqlite:///{work / 'bench.sqlite3'}" if args.sqlite else bench_database(database_url)
    )
    os.environ["DATABASE_POOL"] = "false"
    os.environ["MEDIA_ROOT"] = str(work / "media")
    os.environ["SWITCHBOARD_VAR_DIR"] = str(work / "var")
    os.environ["DJANGO_SETTINGS_MODULE"] = "routing_service.settings"

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from analytics import importer
    from analytics.models import DataSource
    from routing_service.tenancy.actions import create_company

    call_command("migrate", verbosity=0)
    if args.without_search_index:
        with connection.cursor() as cursor:
            cursor.execute("DROP INDEX IF EXISTS session_search_idx")
    company = create_company("Bench", "bench")
    stored = Path(os.environ["MEDIA_ROOT"]) / "imports" / "sessions.csv"
    stored.parent.mkdir(parents=True)
    shutil.move(csv_path, stored)

    if args.calibrate and connection.vendor == "postgresql":
        calibrate(stored)

    samples: list[float] = []
    save = importer._save_progress

    def sampled(source: Any, report: Any, bytes_processed: int) -> None:
        save(source, report, bytes_processed)
        samples.append(rss_mib())

    importer._save_progress = sampled  # type: ignore[assignment]

    # CPU seconds of the PostgreSQL backends the import talks to, read from /proc before each
    # lane closes: on a shared machine wall-clock rates vary with the load, CPU per row less.
    backend_cpu: list[float] = []
    lane_close = importer._Lane.close

    def close_and_count(lane: Any) -> None:
        backend_cpu.append(process_cpu_seconds(lane._raw.info.backend_pid))
        lane_close(lane)

    importer._Lane.close = close_and_count  # type: ignore[method-assign]
    lanes = importer.LANES if args.lanes is None else args.lanes
    print(
        f"database: {connection.vendor} {connection.settings_dict['NAME']}"
        + (f", {lanes} lane(s)" if connection.vendor == "postgresql" else "")
        + (", without the full-text index" if args.without_search_index else "")
    )
    baseline = rss_mib()
    for label in ("first import", "same file again"):
        samples.clear()
        source = DataSource.objects.create(
            company=company,
            name=label,
            file="imports/sessions.csv",
            bytes_total=size,
        )
        backend_cpu.clear()
        lane0_before = (
            process_cpu_seconds(connection.connection.info.backend_pid)
            if connection.vendor == "postgresql" and connection.connection is not None
            else 0.0
        )
        python_before = python_cpu_seconds()
        started = time.perf_counter()
        result = importer.run_import(source.pk, lanes=lanes)
        elapsed = time.perf_counter() - started
        python_cpu = python_cpu_seconds() - python_before
        database_cpu = sum(backend_cpu) - lane0_before
        source.refresh_from_db()
        print(
            f"{label}: {result.outcome} in {elapsed:.1f} s -> {args.rows / elapsed:,.0f} rows/s "
            f"({size / 2**20 / elapsed:.1f} MiB/s); imported {source.rows_imported:,}, "
            f"duplicates {source.duplicates:,}, rejected {source.rows_rejected:,}"
        )
        if samples:
            quarter = max(len(samples) // 4, 1)
            print(
                f"  RSS during import: {samples[0]:.1f} MiB after the first batch, "
                f"{max(samples[:quarter]):.1f} max in the first quarter, "
                f"{max(samples[-quarter:]):.1f} max in the last quarter "
                f"({len(samples)} batches; {baseline:.1f} MiB before)"
            )
        if backend_cpu:
            per_row = (python_cpu + database_cpu) / args.rows * 1e6
            print(
                f"  CPU: Python {python_cpu:.1f} s, PostgreSQL {database_cpu:.1f} s "
                f"-> {per_row:.1f} µs per row in all (load average {os.getloadavg()[0]:.1f})"
            )
    print(f"peak RSS of the process: {peak_rss_mib():.1f} MiB (file: {size / 2**20:.1f} MiB)")

    connection.close()
    if not args.keep and not args.sqlite:
        import psycopg

        parts = urlsplit(os.environ["DATABASE_URL"])
        admin = urlunsplit(parts._replace(path="/postgres"))
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{parts.path.lstrip("/")}" WITH (FORCE)')
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
