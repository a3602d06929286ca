"""Benchmark webhook ingestion: requests/s and latency of POST /webhooks/generic/<uuid>/.

Run: ``.venv/bin/python tests/perf/bench_ingest.py [--seconds 20] [--connections 16 32]
[--rounds 1] [--server daphne|uvicorn|both]``.
Named ``bench_*`` so pytest never collects it. Self-contained and bounded in time; all traffic
goes to 127.0.0.1:

* PostgreSQL: creates (once) and migrates the database ``switchboard_bench_ingest`` on the
  server of ``DATABASE_URL`` (default: the local test server), with a company and a generic
  channel;
* Redis: a private ``redis-server`` on a free port (persistence as the shared server: none),
  so the shared server is neither loaded nor filled;
* servers, each on a free port: daphne serving (a) a bare ASGI "hello" app that reads the body
  and answers 202 JSON, (b) ``routing_service.asgi:application``; the same with uvicorn
  (started as deploy/entrypoint.sh starts it: uvloop, httptools);
* load: a separate process, a raw asyncio HTTP/1.1 keep-alive client with N connections, each
  sending signed generic payloads with unique message ids, closed loop (send, wait, repeat);
  a warm-up is run first and not counted;
* baselines: the bare XADD rate and the APPEND_LUA rate with redis.asyncio pipelines.

It prints requests/s, p50/p99/max latency, status codes, the server's (and redis-server's) CPU
time per request — steadier than requests/s on a shared machine —, the client's CPU share (to
show the load generator was not the bottleneck) and the ratios webhook / bare ASGI and webhook /
XADD. Bare and webhook runs alternate (``--rounds``) so both see the same background load.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import importlib.util
import multiprocessing as mp
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
# DEBUG is off, as in production: settings need a long SECRET_KEY (children inherit it).
os.environ.setdefault("SECRET_KEY", "benchmark-only-secret-key-0123456789-abcdefghijklmn")
HERE = Path(__file__).resolve().parent
# Not plain "switchboard_bench": bench_csv_import.py drops and re-creates that one (<db>_bench).
BENCH_DB = "switchboard_bench_ingest"
SETTINGS = "routing_service.settings"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/switchboard"
SECRET = "bench-secret-4b7e1f0c9a2d"
BODY_TEMPLATE = (
    b'{"message_id": "%s", "client": {"id": "cust-%d", "name": "Ada Lovelace", '
    b'"email": "ada@example.com"}, "text": "Hi, my order #5531 still has not arrived.", '
    b'"sent_at": "2025-03-14T10:26:53+01:00", "priority": "high", "language": "en", '
    b'"metadata": {"order_id": "5531", "page": "/orders/5531"}}'
)


# --- the bare ASGI app (imported by the server process as bench_ingest:hello_app) ---------------


async def hello_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The floor: read the whole body, answer a small JSON 202 with a content length."""
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    body = b'{"status":"accepted","ids":["1-0"],"id":"1-0"}'
    await send(
        {
            "type": "http.response.start",
            "status": 202,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


# --- load generator (runs in its own process) ---------------------------------------------------


@dataclass
class LoadResult:
    requests: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    all_statuses: Counter[int] = field(default_factory=Counter)  # warm-up included
    errors: int = 0
    cpu_seconds: float = 0.0
    # CPU seconds each watched process (server, redis-server) used during the measured window.
    watched_cpu: dict[str, float] = field(default_factory=dict)

    def cpu_us_per_request(self, name: str) -> float:
        return 1e6 * self.watched_cpu.get(name, 0.0) / max(self.requests, 1)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def quantile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class _Connection(asyncio.Protocol):
    """One keep-alive connection: sends a request, parses the response, sends the next."""

    def __init__(self, client: _Load, index: int) -> None:
        self.client = client
        self.index = index
        self.buffer = bytearray()
        self.sent_at = 0.0
        self.transport: asyncio.Transport | None = None
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.send()

    def send(self) -> None:
        assert self.transport is not None
        if time.monotonic() >= self.client.stop_at:
            self.transport.close()
            return
        self.sent_at = time.perf_counter()
        self.transport.write(self.client.next_request(self.index))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            head = bytes(self.buffer[:head_end]).split(b"\r\n")
            status = int(head[0].split(b" ", 2)[1])
            length = 0
            for line in head[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            total = head_end + 4 + length
            if len(self.buffer) < total:
                return
            del self.buffer[:total]
            self.client.record(status, time.perf_counter() - self.sent_at)
            self.send()

    def connection_lost(self, exc: Exception | None) -> None:
        if exc is not None:
            self.client.result.errors += 1
        if not self.done.done():
            self.done.set_result(None)


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _Load:
    def __init__(
        self,
        port: int,
        path: str,
        seconds: float,
        warmup: float,
        run_id: str,
        watch: dict[str, int],
    ) -> None:
        self.watch = watch
        self.port = port
        self.path = path.encode()
        self.key = SECRET.encode()
        self.run_id = run_id
        self.counter = 0
        self.result = LoadResult()
        self.measure_from = time.monotonic() + warmup
        self.stop_at = self.measure_from + seconds

    def next_request(self, index: int) -> bytes:
        """A freshly signed request with a message id never used before."""
        self.counter += 1
        body = BODY_TEMPLATE % (f"{self.run_id}-{self.counter}".encode(), index)
        timestamp = str(int(time.time())).encode()
        signature = hmac.new(self.key, timestamp + b"." + body, hashlib.sha256).hexdigest()
        return b"".join(
            [
                b"POST ",
                self.path,
                b" HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % self.port,
                b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body),
                b"X-Switchboard-Timestamp: ",
                timestamp,
                b"\r\nX-Switchboard-Signature: v1=",
                signature.encode(),
                b"\r\n\r\n",
                body,
            ]
        )

    def record(self, status: int, elapsed: float) -> None:
        self.result.all_statuses[status] += 1
        if not self.measure_from <= time.monotonic() < self.stop_at:
            return  # warm-up, or an answer to a request sent just before the end
        self.result.requests += 1
        self.result.statuses[status] += 1
        self.result.latencies_ms.append(elapsed * 1000)

    async def run(self, connections: int) -> LoadResult:
        loop = asyncio.get_running_loop()
        protocols = []
        for index in range(connections):
            _, protocol = await loop.create_connection(
                lambda i=index: _Connection(self, i), "127.0.0.1", self.port
            )
            protocols.append(protocol)
        await asyncio.sleep(max(0.0, self.measure_from - time.monotonic()))
        started = time.monotonic()
        cpu_start = time.process_time()
        watched = {name: process_cpu(pid) for name, pid in self.watch.items()}
        await asyncio.sleep(max(0.0, self.stop_at - time.monotonic()))
        self.result.watched_cpu = {
            name: process_cpu(pid) - watched[name] for name, pid in self.watch.items()
        }
        await asyncio.wait_for(
            asyncio.gather(*(p.done for p in protocols)),
            timeout=self.stop_at - time.monotonic() + 30,
        )
        self.result.seconds = min(time.monotonic(), self.stop_at) - started
        self.result.cpu_seconds = time.process_time() - cpu_start
        return self.result


def _load_process(
    conn: Any, port: int, path: str, seconds: float, warmup: float, n: int, watch: dict[str, int]
) -> None:
    load = _Load(port, path, seconds, warmup, uuid.uuid4().hex[:10], watch)
    result = asyncio.run(load.run(n))
    conn.send(result.__dict__)  # plain values: the class lives in __mp_main__ here
    conn.close()


def drive(
    port: int,
    path: str,
    seconds: float,
    warmup: float,
    connections: int,
    watch: dict[str, int] | None = None,
) -> LoadResult:
    """Run the load generator in a separate process and return its measurements.

    `watch` names processes (pids) whose CPU use during the measured window is reported.
    """
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(
        target=_load_process,
        args=(child, port, path, seconds, warmup, connections, watch or {}),
    )
    proc.start()
    result = LoadResult(**parent.recv())
    proc.join(timeout=30)
    return result


# --- Redis baselines ---------------------------------------------------------------------------


async def redis_baselines(url: str, seconds: float, stream: str) -> tuple[float, float]:
    """Entries/s appended with pipelined XADD, then with pipelined EVALSHA of APPEND_LUA."""
    import redis.asyncio as aioredis

    from routing_service.ingest.stream import APPEND_LUA

    client = aioredis.Redis.from_url(url)
    payload = BODY_TEMPLATE % (b"x", 1)
    sha = await client.script_load(APPEND_LUA)
    batch, workers = 50, 4

    async def loop(kind: str, worker: int, stop_at: float) -> int:
        done = 0
        while time.monotonic() < stop_at:
            pipe = client.pipeline(transaction=False)
            for i in range(batch):
                if kind == "xadd":
                    pipe.xadd(f"{stream}:xadd", {"e": payload})
                else:
                    seen = f"{stream}:seen:{worker}:{done + i}"
                    pipe.evalsha(sha, 2, seen, f"{stream}:lua", 3600, payload)
            await pipe.execute()
            done += batch
        return done

    rates = []
    for kind in ("xadd", "lua"):
        stop_at = time.monotonic() + seconds
        started = time.monotonic()
        counts = await asyncio.gather(*(loop(kind, w, stop_at) for w in range(workers)))
        rates.append(sum(counts) / (time.monotonic() - started))
    await client.aclose()
    return rates[0], rates[1]


# --- set-up: database, Redis, servers ----------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port} after {timeout} s")


def bench_database_url() -> str:
    parts = urlsplit(os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL))
    return urlunsplit(parts._replace(path=f"/{BENCH_DB}"))


def prepare_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [BENCH_DB]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{BENCH_DB}"')
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "--skip-checks", "-v", "0"],
        cwd=ROOT,
        env={
            **os.environ,
            "DATABASE_URL": url,
            "DJANGO_SETTINGS_MODULE": SETTINGS,
        },
        check=True,
    )


def create_channel(url: str) -> tuple[str, int]:
    """A fresh company and generic channel; returns (channel uuid, company id)."""
    os.environ["DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from routing_service.chats.models import Channel
    from routing_service.tenancy import actions

    tag = uuid.uuid4().hex[:8]
    company = actions.create_company(f"Bench {tag}", f"bench-{tag}")
    channel = Channel.objects.create(
        company=company, name="bench", provider="generic", secret=SECRET
    )
    return str(channel.uuid), company.pk


@contextlib.contextmanager
def private_redis() -> Iterator[tuple[str, int]]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is needed for the benchmark")
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="sb-bench-redis-")
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, proc)
        yield f"redis://127.0.0.1:{port}/0", proc.pid
    finally:
        stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def server(kind: str, app: str, env: dict[str, str]) -> Iterator[tuple[int, int]]:
    port = free_port()
    if kind == "daphne":
        # -v 0: no access log (one line per request costs more than the bare app itself).
        cmd = [str(Path(sys.executable).with_name("daphne")), "-v", "0"]
        cmd += ["-b", "127.0.0.1", "-p", str(port), app]
    else:
        cmd = [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port)]
        cmd += ["--loop", "uvloop", "--http", "httptools", "--backlog", "2048"]
        cmd += ["--no-access-log", "--log-level", "warning", "--lifespan", "off", app]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env)
    try:
        wait_for_port(port, proc)
        yield port, proc.pid
    finally:
        stop(proc)


def stream_entries(client: Any) -> int:
    return sum(client.xlen(k) for k in client.scan_iter(match="sb:inbound:*", _type="STREAM"))


def report(label: str, result: LoadResult) -> None:
    codes = ", ".join(f"{code}×{n}" for code, n in sorted(result.statuses.items()))
    cpu = f"server CPU {result.cpu_us_per_request('server'):4.0f} µs/req"
    if "redis" in result.watched_cpu:
        cpu += f" + redis-server {result.cpu_us_per_request('redis'):3.0f} µs/req"
    print(
        f"  {label:<34} {result.rps:8.0f} req/s   p50 {result.quantile(0.5):6.2f} ms   "
        f"p99 {result.quantile(0.99):6.2f} ms   max {max(result.latencies_ms or [0]):7.2f} ms\n"
        f"  {'':<34} {cpu}   client CPU "
        f"{100 * result.cpu_seconds / max(result.seconds, 1e-9):3.0f}%   "
        f"[{codes}; errors {result.errors}]"
    )


def load_average() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="measured time per run")
    parser.add_argument("--warmup", type=float, default=3.0, help="uncounted time per run")
    parser.add_argument("--connections", type=int, nargs="+", default=[16, 32])
    parser.add_argument(
        "--rounds", type=int, default=1, help="bare/webhook pairs per setting (interleaved)"
    )
    parser.add_argument("--redis-seconds", type=float, default=5.0)
    parser.add_argument("--server", choices=["daphne", "uvicorn", "both"], default="both")
    args = parser.parse_args()

    resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
    db_url = bench_database_url()
    print(f"database {BENCH_DB} (migrating)…", flush=True)
    prepare_database(db_url)
    channel_uuid, company_id = create_channel(db_url)
    path = f"/webhooks/generic/{channel_uuid}/"
    servers = ["daphne", "uvicorn"] if args.server == "both" else [args.server]
    if "uvicorn" in servers and importlib.util.find_spec("uvicorn") is None:
        raise SystemExit("uvicorn is not installed: pip install -e . (it is a dependency)")

    import redis

    with private_redis() as (redis_url, redis_pid):
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT)]),
            "DJANGO_SETTINGS_MODULE": SETTINGS,
            "DATABASE_URL": db_url,
            "REDIS_URL": redis_url,
            "STREAM_REDIS_URL": redis_url,
            "DEBUG": "false",
            "LOG_LEVEL": "WARNING",
            "PYTHONWARNINGS": "ignore::UserWarning",  # no staticfiles dir: irrelevant here
        }
        xadd_rate, lua_rate = asyncio.run(
            redis_baselines(redis_url, args.redis_seconds, f"bench:{uuid.uuid4().hex[:6]}")
        )
        print(
            f"cores: {os.cpu_count()}   {load_average()}   measured {args.seconds:.0f} s per "
            f"run after {args.warmup:.0f} s warm-up; channel {channel_uuid} (company {company_id})"
        )
        print(f"  {'redis.asyncio XADD (pipelined)':<34} {xadd_rate:8.0f} entries/s")
        print(f"  {'redis.asyncio APPEND_LUA (pipelined)':<34} {lua_rate:8.0f} entries/s")
        stream = redis.Redis.from_url(redis_url)
        for kind in servers:
            with (
                server(kind, "bench_ingest:hello_app", env) as (bare_port, bare_pid),
                server(kind, "routing_service.asgi:application", env) as (hook_port, hook_pid),
            ):
                for connections in args.connections:
                    for round_no in range(1, args.rounds + 1):
                        print(
                            f"{kind}, {connections} connections, round {round_no} "
                            f"({load_average()}):",
                            flush=True,
                        )
                        bare = drive(
                            bare_port,
                            path,
                            args.seconds,
                            args.warmup,
                            connections,
                            {"server": bare_pid},
                        )
                        report("bare ASGI hello", bare)
                        before = stream_entries(stream)
                        hook = drive(
                            hook_port,
                            path,
                            args.seconds,
                            args.warmup,
                            connections,
                            {"server": hook_pid, "redis": redis_pid},
                        )
                        after = stream_entries(stream)
                        report("webhook (routing_service.asgi)", hook)
                        print(
                            f"  webhook / bare ASGI = {hook.rps / bare.rps:.0%}   "
                            f"webhook / XADD = {hook.rps / xadd_rate:.0%}   "
                            f"webhook / APPEND_LUA = {hook.rps / lua_rate:.0%}   "
                            f"stream entries added {after - before} = 202 answers "
                            f"(warm-up included) {hook.all_statuses[202]}",
                            flush=True,
                        )
        stream.close()
    print(load_average())


if __name__ == "__main__":
    main()
