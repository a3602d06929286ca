"""Benchmark: an inbound attachment is stored with flat memory, whatever its size.

Run: ``.venv/bin/python tests/perf/bench_attachments.py [--sizes 1 10 25]`` (MiB).
Named ``bench_*`` so pytest never collects it. No database: it measures the worker's download
step alone (`fetch.download`: the SSRF-guarded stream into Django's storage, size limit and
sniff included) against a file served by a child `python -m http.server` on 127.0.0.1.

For each size: the Python heap's peak during the download (tracemalloc) and the growth of the
process's peak RSS (VmHWM). Baseline in the same run: the naive way — `httpx.get(url).content`,
the whole body in memory — for the same files. Flat means the streamed peak does not grow with
the file (one 64 KiB chunk and the 64 KiB sniff window), while the naive one grows by the size.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("SECRET_KEY", "benchmark-only-secret-key-0123456789-abcdefghijklmn")
os.environ.setdefault("OUTBOUND_ALLOWED_HOSTS", "127.0.0.1")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "routing_service.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

MiB = 1024 * 1024


def peak_rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "http.server", "-b", "127.0.0.1", "-d", str(folder), str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            time.sleep(0.1)
    return process, f"http://127.0.0.1:{port}"


def write_file(folder: Path, size_mib: int) -> str:
    """A PNG header then filler: sniffed image/png, `size_mib` MiB long."""
    name = f"photo-{size_mib}.png"
    with open(folder / name, "wb") as handle:
        handle.write(b"\x89PNG\r\n\x1a\n" + b"\x00" * 24)
        block = os.urandom(MiB)
        for _ in range(size_mib):
            handle.write(block)
    return name


def measure(fn: object) -> tuple[int, int]:
    """(tracemalloc peak bytes, VmHWM growth KiB) of one call."""
    rss_before = peak_rss_kib()
    tracemalloc.start()
    tracemalloc.reset_peak()
    fn()  # type: ignore[operator]
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak, peak_rss_kib() - rss_before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 10, 25])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    media_root = tempfile.mkdtemp(prefix="sb-bench-media-")
    os.environ["MEDIA_ROOT"] = media_root
    import django

    django.setup()
    import httpx

    from routing_service.attachments import fetch, rules

    limits = rules.Limits(64 * MiB, rules.normalise_categories([]), 0)
    folder = Path(tempfile.mkdtemp(prefix="sb-bench-files-"))
    names = {size: write_file(folder, size) for size in args.sizes}
    server, base = serve(folder)
    try:
        # Warm up: imports, the connection pool, the first storage folder.
        fetch.download(fetch.Request(f"{base}/{names[args.sizes[0]]}"), limits, 1, "")
        # All streamed runs first: the peak RSS (VmHWM) only ever grows, so the naive runs,
        # which raise it by the file's size, come after.
        results: dict[int, dict[str, list[tuple[int, int]]]] = {}
        seconds: dict[int, list[float]] = {}
        for size in args.sizes:
            url = f"{base}/{names[size]}"
            results[size] = {"streamed": [], "naive": []}
            seconds[size] = []
            for _ in range(args.repeats):
                started = time.perf_counter()
                results[size]["streamed"].append(
                    measure(lambda url=url: fetch.download(fetch.Request(url), limits, 1, ""))
                )
                seconds[size].append(time.perf_counter() - started)
        for size in args.sizes:
            url = f"{base}/{names[size]}"
            for _ in range(args.repeats):
                results[size]["naive"].append(measure(lambda url=url: httpx.get(url).content))
        print(
            f"{'size':>7} | {'streamed: peak heap':>20} {'RSS growth':>11} {'time':>6} | "
            f"{'naive: peak heap':>17} {'RSS growth':>11}"
        )
        for size in args.sizes:
            s_heap = statistics.median(p for p, _ in results[size]["streamed"])
            s_rss = max(r for _, r in results[size]["streamed"])
            n_heap = statistics.median(p for p, _ in results[size]["naive"])
            n_rss = max(r for _, r in results[size]["naive"])
            print(
                f"{size:>4} MiB | {s_heap / MiB:>16.2f} MiB {s_rss / 1024:>7.1f} MiB "
                f"{statistics.median(seconds[size]):>5.2f}s | "
                f"{n_heap / MiB:>13.2f} MiB {n_rss / 1024:>7.1f} MiB"
            )
        print(
            f"(heap: median of {args.repeats} runs; RSS growth: the largest growth of the "
            "process's peak, VmHWM, in any run)"
        )
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
