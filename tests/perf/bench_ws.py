"""Benchmark the websockets: delivery latency under load, memory per socket, reconnect storms.

Run: ``.venv/bin/python tests/perf/bench_ws.py [--agents 2000] [--idle 5000]
[--rates 100,500,1500] [--seconds 15] [--path webhook|publish|both] [--routers 1]
[--server daphne|uvicorn] [--workers 1] [--waiting 0] [--profile]``. ``--profile`` records the
web processes with py-spy while the idle sockets open and during the storm (collapsed stacks in
the log directory).
Named ``bench_*`` so pytest never collects it. Everything runs on 127.0.0.1:

* PostgreSQL: the database ``switchboard_bench_ws`` on the server of ``DATABASE_URL``
  (default: the local test server), created and migrated on first use, a fresh company per run;
* Redis: a private ``redis-server`` on a free port (nothing shared is loaded or filled);
* the system under test, as deployed (Procfile): the web server (``--server daphne`` or
  ``uvicorn``, ``--workers`` processes: daphne ones on a port each, the client spreading its
  sockets over them as a load balancer would; uvicorn's ``--workers`` sharing one port) serving
  ``routing_service.asgi:application`` with the psycopg pool, and ``manage.py run_router``;
* the load: a separate process with the `websockets` client and a raw asyncio HTTP/1.1 client.

Phases, in this order (fan-out to thousands of consoles would distort the later ones):

1. **seed** — one webhook per agent opens a chat; round robin offers one to each of `--agents`
   available agents (offer timeout: a day, so nothing expires during the run); `--waiting`
   more chats stay in the queue, which every console's snapshot lists.
2. **memory** — `--idle` sockets open and stay idle; the web processes' RSS before and after,
   per socket.
3. **storm** — all of them close and reconnect at once with ``?last_seq=`` (fresh tickets), each
   sending a ``ping`` once open: the time until the last ``ack``.
4. **latency** — `--agents` consoles open; customer messages into their chats at each rate in
   `--rates` (open loop: a message's clock starts when it was due to be sent, so a slow server
   cannot hide its queueing). ``webhook``: POST /webhooks/generic/… → stream → router →
   PostgreSQL → event log → channel layer → the agent's socket (``chat.message``).
   ``publish``: the realtime part alone, `publish_now` of the same events → the socket.
   Reported: p50/p95/p99/max, achieved rate, messages lost, CPU of each process.

``--first-contact`` (issue 16): no seed, memory or storm phase; `--agents` consoles of one
company (room for every chat), then paced webhooks at each of `--rates` (default 200/s), every
one from a new client: webhook → router (client, chat, offer) → `chat.offered` on the offered
agent's socket, timed from when the webhook was due (the chat's subject carries the stamp).
Every console also gets the company's `queue.updated` frames (the fan-out being measured).
Targets there: p50 ≤ 15 ms, p99 ≤ 50 ms with 20 consoles, p99 ≤ 100 ms with 2,000.

Targets (the realtime issue): p50 ≤ 15 ms and p99 ≤ 100 ms at 500 msg/s with 2,000 agents;
≤ 50 KB per idle socket; 5,000 reconnects absorbed within 15 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import hashlib
import hmac
import json
import multiprocessing as mp
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
# DEBUG is off, as in production: settings need a long SECRET_KEY (children inherit it).
os.environ.setdefault("SECRET_KEY", "benchmark-only-secret-key-0123456789-abcdefghijklmn")
BENCH_DB = "switchboard_bench_ws"
SETTINGS = "routing_service.settings"
DEFAULT_DATABASE_URL = "postgres://postgres:postgres@127.0.0.1:5432/switchboard"
SECRET = "bench-secret-9c1d"
PREFIX = "wsbench"
STORM_LIMIT_SECONDS = 120


# --- infrastructure ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port} after {timeout} s")


def ensure_database(name: str) -> str:
    """Create (once) and migrate the benchmark database; returns its URL."""
    import psycopg

    base = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    parts = urlsplit(base)
    url = urlunsplit(parts._replace(path=f"/{name}"))
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "--skip-checks", "-v", "0"],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": SETTINGS},
        check=True,
    )
    return url


@contextlib.contextmanager
def private_redis() -> Iterator[str]:
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
            "--maxclients",
            "20000",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, proc)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def django_on_bench_data(database: str, key_prefix: str) -> Iterator[str]:
    """Django set up in this process on the benchmark database `database` (created and
    migrated once) and a private Redis (keys under `key_prefix`), as production settings with
    no connection pool; yields the Redis URL."""
    url = ensure_database(database)
    with private_redis() as redis_url:
        os.environ.update(
            DATABASE_URL=url,
            REDIS_URL=redis_url,
            REDIS_KEY_PREFIX=key_prefix,
            DJANGO_SETTINGS_MODULE=SETTINGS,
            DATABASE_POOL="false",
        )
        import django

        django.setup()
        yield redis_url


def _raise_fd_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


LOG_DIR = Path(tempfile.gettempdir())  # main() makes a directory of its own


def start(cmd: list[str], env: dict[str, str], name: str) -> subprocess.Popen[bytes]:
    """Start a server process; its output goes to a log file (a pipe nobody reads would fill
    up and freeze it)."""
    log = (LOG_DIR / f"{name}.log").open("wb")
    return subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_raise_fd_limit
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def total_cpu(pids: list[int]) -> float:
    used = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            used += cpu_seconds(pid)
    return used


class CpuMeter:
    """CPU share of named process groups over a phase (100 % = one core)."""

    def __init__(self, pids: dict[str, list[int]]) -> None:
        self.pids = pids
        self.start = time.monotonic()
        self.before = {name: total_cpu(group) for name, group in pids.items()}

    def used(self, name: str) -> float:
        return total_cpu(self.pids[name]) - self.before[name]

    def report(self) -> str:
        elapsed = time.monotonic() - self.start
        shares = [f"{name} {100 * self.used(name) / elapsed:.0f}%" for name in self.pids]
        return "CPU: " + ", ".join(shares)


def quantiles(values: list[float]) -> str:
    if not values:
        return "no samples"
    ordered = sorted(values)

    def q(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))]

    return (
        f"p50 {statistics.median(ordered):7.1f}  p95 {q(0.95):7.1f}  p99 {q(0.99):7.1f}  "
        f"max {ordered[-1]:7.1f} ms"
    )


# --- the load client (its own process) ---------------------------------------------------------


@dataclass
class Console:
    agent_id: int
    conn: Any = None
    last_seq: int = 0
    task: asyncio.Task[None] | None = None


@dataclass
class ClientState:
    ports: list[int]
    webhook_port: int
    channel_uuid: str
    consoles: dict[int, Console] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    received: set[int] = field(default_factory=set)
    measure_after: float = float("inf")
    # --first-contact: time `chat.offered` (a new client's chat) instead of `chat.message`.
    timed_type: str = '"chat.message"'
    pending_acks: dict[str, asyncio.Future[float]] = field(default_factory=dict)


def _ticket(agent_id: int) -> str:
    from realtime.tickets import issue_ticket
    from routing_service.tenancy.models import User

    user = User(pk=agent_id)
    return issue_ticket(user)[0]


async def _reader(state: ClientState, console: Console) -> None:
    """Read one console's frames: record bench latencies, resolve ping acks, keep last_seq."""
    from websockets.exceptions import ConnectionClosed

    try:
        async for raw in console.conn:
            now = time.time()
            if state.timed_type in raw:
                frame = json.loads(raw)
                if frame.get("type") != state.timed_type.strip('"'):
                    console.last_seq = max(console.last_seq, frame["seq"])
                    continue
                console.last_seq = max(console.last_seq, frame["seq"])
                data = frame["data"]
                sent = data.get("bench_sent")
                if sent is None:
                    parts = (data.get("text") or data.get("subject") or "").split()
                    if len(parts) != 3 or parts[0] != "bench":
                        continue
                    number, sent = int(parts[1]), float(parts[2])
                else:
                    number = int(data["bench_n"])
                if sent >= state.measure_after:
                    state.latencies.append((now - sent) * 1000)
                    state.received.add(number)
            elif '"ack"' in raw:
                frame = json.loads(raw)
                waiter = state.pending_acks.pop(str(frame["data"].get("request_id")), None)
                if waiter is not None and not waiter.done():
                    waiter.set_result(now)
            else:
                with contextlib.suppress(ValueError, KeyError):
                    console.last_seq = max(console.last_seq, json.loads(raw)["seq"])
    except ConnectionClosed:
        pass


async def _open(state: ClientState, agent_id: int, *, resume: bool, ping: bool) -> float | None:
    """Connect one console (a fresh ticket); with `ping`, the time its ack came back."""
    from websockets.asyncio.client import connect

    console = state.consoles.setdefault(agent_id, Console(agent_id))
    port = state.ports[agent_id % len(state.ports)]
    query = f"?ticket={_ticket(agent_id)}"
    if resume:
        query += f"&last_seq={console.last_seq}"
    console.conn = await connect(
        f"ws://127.0.0.1:{port}/ws/agent/{query}",
        open_timeout=60,
        ping_interval=None,
        max_queue=None,
    )
    if not resume:
        snapshot = json.loads(await console.conn.recv())
        console.last_seq = snapshot["seq"]
    console.task = asyncio.create_task(_reader(state, console))
    if not ping:
        return None
    request_id = uuid.uuid4().hex
    waiter: asyncio.Future[float] = asyncio.get_running_loop().create_future()
    state.pending_acks[request_id] = waiter
    await console.conn.send(json.dumps({"action": "ping", "request_id": request_id}))
    return await asyncio.wait_for(waiter, 60)


async def open_consoles(
    state: ClientState, agent_ids: list[int], batch: int = 200
) -> dict[str, Any]:
    started = time.monotonic()
    failures = 0
    for first in range(0, len(agent_ids), batch):
        results = await asyncio.gather(
            *(_open(state, a, resume=False, ping=False) for a in agent_ids[first : first + batch]),
            return_exceptions=True,
        )
        failures += sum(isinstance(r, BaseException) for r in results)
    return {
        "opened": len(agent_ids) - failures,
        "failures": failures,
        "seconds": time.monotonic() - started,
    }


async def close_consoles(state: ClientState) -> None:
    consoles = list(state.consoles.values())
    await asyncio.gather(*(c.conn.close() for c in consoles if c.conn), return_exceptions=True)
    for console in consoles:
        if console.task:
            console.task.cancel()
    state.consoles.clear()


async def _reopen(state: ClientState, agent_id: int, started: float) -> tuple[float, int]:
    """Reconnect like a console does: retry with jittered back-off until the ping is acked."""
    import random

    attempts = 0
    while True:
        attempts += 1
        try:
            acked = await _open(state, agent_id, resume=True, ping=True)
            assert acked is not None
            return acked - started, attempts - 1
        except Exception:
            if attempts >= 10:
                raise
            await asyncio.sleep(random.uniform(0.5, 1.5))


async def storm(state: ClientState) -> dict[str, Any]:
    """Every console drops and reconnects at once with ?last_seq=; until the last ping ack."""
    consoles = list(state.consoles.values())
    await asyncio.gather(*(c.conn.close() for c in consoles), return_exceptions=True)
    for console in consoles:
        if console.task:
            console.task.cancel()
    started = time.time()
    tasks = [asyncio.create_task(_reopen(state, c.agent_id, started)) for c in consoles]
    await asyncio.wait(tasks, timeout=STORM_LIMIT_SECONDS)
    for task in tasks:
        task.cancel()  # still not back after the limit: counted as failed
    results = await asyncio.gather(*tasks, return_exceptions=True)
    back = [r for r in results if isinstance(r, tuple)]
    acked = [seconds for seconds, _ in back]
    errors = [repr(r)[:80] for r in results if isinstance(r, BaseException)]
    return {
        "reconnected": len(acked),
        "failures": len(errors),
        "retries": sum(retries for _, retries in back),
        "first_errors": errors[:3],
        "all_back_after": max(acked) if acked else None,
        "median_back_after": statistics.median(acked) if acked else None,
    }


class Webhooks:
    """An open-loop webhook sender: a pool of keep-alive HTTP/1.1 connections."""

    def __init__(
        self, state: ClientState, connections: int = 48, *, first_contact: bool = False
    ) -> None:
        self.state = state
        self.first_contact = first_contact
        self.queue: asyncio.Queue[tuple[int, int, float] | None] = asyncio.Queue()
        self.connections = connections
        self.statuses: dict[int, int] = {}
        self.answer_ms: list[float] = []
        self.run_id = uuid.uuid4().hex[:8]
        self.path = f"/webhooks/generic/{state.channel_uuid}/".encode()

    def request(self, number: int, client: int, due: float) -> bytes:
        body = json.dumps(
            {
                "message_id": f"{self.run_id}-{number}",
                "client": {
                    "id": f"new-{self.run_id}-{number}"
                    if self.first_contact
                    else f"bench-{client}",
                    "name": f"Bench client {client}",
                },
                "text": f"bench {number} {due:.6f}",
                "sent_at": "2025-03-14T10:26:53+00:00",
            }
        ).encode()
        stamp = str(int(time.time()))
        mac = hmac.new(SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        head = (
            b"POST " + self.path + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\nX-Switchboard-Timestamp: "
            + stamp.encode()
            + b"\r\nX-Switchboard-Signature: v1="
            + mac.encode()
            + b"\r\n\r\n"
        )
        return head + body

    async def worker(self) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.state.webhook_port)
        try:
            while (item := await self.queue.get()) is not None:
                number, client, due = item
                writer.write(self.request(number, client, due))
                status_line = await reader.readline()
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                if length:
                    await reader.readexactly(length)
                status = int(status_line.split()[1]) if status_line else 0
                self.statuses[status] = self.statuses.get(status, 0) + 1
                self.answer_ms.append((time.time() - due) * 1000)
        finally:
            writer.close()

    async def send(self, rate: float, seconds: float, clients: int, start_number: int) -> int:
        workers = [asyncio.create_task(self.worker()) for _ in range(self.connections)]
        started = time.time()
        count = int(rate * seconds)
        for n in range(count):
            due = started + n / rate
            delay = due - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self.queue.put_nowait((start_number + n, (start_number + n) % clients, due))
        for _ in workers:
            self.queue.put_nowait(None)
        await asyncio.gather(*workers)
        return count


async def wait_for(condition: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.05)
    return condition()


def _arrived(state: ClientState, expected: int) -> bool:
    return len(state.received) >= expected


def client_main(config: dict[str, Any], pipe: Connection) -> None:
    """The load process: executes the orchestrator's commands, answers with results."""
    _raise_fd_limit()
    os.environ.update(config["env"])
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()

    async def serve() -> None:
        state = ClientState(config["ports"], config["webhook_port"], config["channel_uuid"])
        loop = asyncio.get_running_loop()
        numbers = 0
        while True:
            command, args = await loop.run_in_executor(None, pipe.recv)
            if command == "quit":
                await close_consoles(state)
                pipe.send({})
                return
            if command == "seed":
                sender = Webhooks(state)
                sent = await sender.send(
                    args["rate"], args["count"] / args["rate"], args["count"], 0
                )
                numbers = sent
                pipe.send({"sent": sent, "statuses": sender.statuses})
            elif command == "open":
                pipe.send(await open_consoles(state, args["agents"]))
            elif command == "close":
                await close_consoles(state)
                pipe.send({})
            elif command == "storm":
                pipe.send(await storm(state))
            elif command == "rss":
                pipe.send({"rss_kb": rss_kb(os.getpid())})
            elif command in {"webhook", "collect"}:
                state.latencies, state.received = [], set()
                state.measure_after = time.time() + args["warmup"]
                state.timed_type = (
                    '"chat.offered"' if args.get("first_contact") else '"chat.message"'
                )
                expected: int | None = None
                if command == "webhook":
                    sender = Webhooks(state, first_contact=bool(args.get("first_contact")))
                    sent = await sender.send(
                        args["rate"], args["warmup"] + args["seconds"], args["clients"], numbers
                    )
                    first_measured = numbers + int(args["rate"] * args["warmup"])
                    numbers += sent
                    expected = numbers - first_measured
                    await wait_for(functools.partial(_arrived, state, expected), 60)
                    statuses = sender.statuses
                    answers = sender.answer_ms
                else:
                    await asyncio.sleep(args["warmup"] + args["seconds"])
                    await wait_for(lambda: False, 3)
                    statuses, answers = {}, []
                pipe.send(
                    {
                        "latencies": state.latencies,
                        "received": len(state.received),
                        "expected": expected,
                        "statuses": statuses,
                        "answers": answers,
                    }
                )
            else:
                pipe.send({"error": f"unknown command {command}"})

    asyncio.run(serve())


class Client:
    def __init__(self, config: dict[str, Any]) -> None:
        context = mp.get_context("spawn")
        self.pipe, child = context.Pipe()
        self.process = context.Process(target=client_main, args=(config, child), daemon=True)
        self.process.start()

    def __call__(self, command: str, **args: Any) -> dict[str, Any]:
        self.pipe.send((command, args))
        result: dict[str, Any] = self.pipe.recv()
        if "error" in result:
            raise RuntimeError(result["error"])
        return result

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self("quit")
        self.process.join(timeout=20)
        if self.process.is_alive():
            self.process.kill()


# --- the orchestrator ------------------------------------------------------------------------


def start_web(
    server: str, workers: int, env: dict[str, str]
) -> tuple[list[subprocess.Popen[bytes]], list[int]]:
    """The web processes and the ports they listen on, started as production does
    (deploy/entrypoint.sh): daphne with a listen backlog for thousands of simultaneous
    handshakes (Twisted's default is 50), one process per port; uvicorn with uvloop,
    httptools, no per-message deflate, its workers sharing one port."""
    app = "routing_service.asgi:application"
    if server == "uvicorn":
        port = free_port()
        cmd = [
            sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port),
            "--workers", str(workers), "--backlog", "2048", "--loop", "uvloop",
            "--http", "httptools", "--ws", "websockets-sansio", "--ws-per-message-deflate",
            "false", "--lifespan", "off", "--no-access-log", "--log-level", "warning",
        ]  # fmt: skip
        return [start(cmd, env, "uvicorn")], [port]
    processes, ports = [], []
    for n in range(workers):
        port = free_port()
        endpoint = f"tcp:port={port}:interface=127.0.0.1:backlog=2048"
        cmd = [sys.executable, "-m", "daphne", "-e", endpoint, app]
        processes.append(start(cmd, env, f"daphne-{n}"))
        ports.append(port)
    return processes, ports


def web_processes(servers: list[subprocess.Popen[bytes]], kind: str, workers: int) -> list[int]:
    """The pids that serve requests (uvicorn with workers: its supervisor's worker children)."""
    if kind != "uvicorn" or workers == 1:
        return [p.pid for p in servers]
    deadline = time.monotonic() + 30
    while True:
        found = [
            pid
            for pid in children(servers[0].pid)
            if b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes()
        ]
        if len(found) >= workers or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def profile(pid: int, phase: str) -> subprocess.Popen[bytes]:
    """py-spy on one web process: collapsed stacks (count per stack) in the log directory."""
    spy = Path(sys.executable).with_name("py-spy")
    out = LOG_DIR / f"{phase}-{pid}.txt"
    return subprocess.Popen(
        [str(spy), "record", "--pid", str(pid), "--format", "raw", "--rate", "250",
         "--nonblocking", "--output", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def create_world(agents: int, idle: int, max_chats: int = 3) -> dict[str, Any]:
    """A company, a generic channel and max(agents, idle) agents; the first `agents` available."""
    from routing_service.chats.models import Channel, RoutingPolicy
    from routing_service.tenancy import actions
    from routing_service.tenancy.models import AgentStatus, Role, User

    tag = uuid.uuid4().hex[:8]
    company = actions.create_company(f"WS bench {tag}", f"ws-bench-{tag}")
    RoutingPolicy.objects.filter(company=company).update(offer_timeout_seconds=86_400)
    channel = Channel.objects.create(company=company, name="Web", provider="generic", secret=SECRET)
    users = []
    for n in range(max(agents, idle)):
        user = User(
            username=f"ws-{tag}-{n}",
            company=company,
            role=Role.AGENT,
            status=AgentStatus.AVAILABLE if n < agents else AgentStatus.OFFLINE,
            max_chats=max_chats,
        )
        user.set_unusable_password()
        users.append(user)
    ids = [u.pk for u in User.objects.bulk_create(users, batch_size=2000)]
    # Bulk-created users skip create_user: put them in the default queue (issue 14: a chat
    # goes only to members of its queue).
    from routing_service.queues.actions import bump_version, ensure_default_queue
    from routing_service.queues.models import QueueMembership

    queue = ensure_default_queue(company.pk)
    QueueMembership.objects.bulk_create(
        [QueueMembership(company_id=company.pk, queue=queue, user_id=pk) for pk in ids],
        batch_size=2000,
        ignore_conflicts=True,
    )
    bump_version(company.pk)
    return {"company": company.pk, "channel_uuid": str(channel.uuid), "agents": ids}


def assigned_chats(company_id: int) -> int:
    from routing_service.chats.models import ChatAssignment

    return ChatAssignment.objects.filter(company_id=company_id, status="offered").count()


def publish_load(company_id: int, agent_ids: list[int], rate: float, seconds: float) -> int:
    """`chat.message`-shaped events straight into the log and the channel layer, in batches."""
    from events.log import publish_now
    from events.schema import EventType, make_event

    started = time.time()
    number = 0
    total = int(rate * seconds)
    while number < total:
        due_count = min(total, int((time.time() - started) * rate) + 1)
        batch = []
        while number < due_count:
            agent = agent_ids[number % len(agent_ids)]
            data = {
                "conversation_id": number,
                "text": "x" * 60,
                "bench_sent": time.time(),
                "bench_n": number,
            }
            batch.append(make_event(EventType.CHAT_MESSAGE, company_id, data, agents=[agent]))
            number += 1
        if batch:
            publish_now(batch)
        time.sleep(0.005)
    return number


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--agents", type=int, default=2000)
    parser.add_argument("--idle", type=int, default=5000)
    parser.add_argument("--rates", default="100,500,1500")
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--path", choices=["webhook", "publish", "both"], default="both")
    parser.add_argument("--routers", type=int, default=1)
    parser.add_argument(
        "--waiting", type=int, default=0, help="chats left in the queue (snapshots list them)"
    )
    parser.add_argument("--skip", default="", help="phases to skip: memory,storm,latency")
    parser.add_argument(
        "--layer",
        choices=["settings", "batching"],
        default="settings",
        help="the channel layer the web uses: as configured, or realtime.layers' batching one",
    )
    parser.add_argument("--server", choices=["daphne", "uvicorn"], default="uvicorn")
    parser.add_argument("--workers", type=int, default=1, help="web processes")
    parser.add_argument("--profile", action="store_true", help="py-spy the web during the storm")
    parser.add_argument(
        "--first-contact",
        action="store_true",
        help="every webhook a new client; time chat.offered on the agent's socket (issue 16)",
    )
    args = parser.parse_args()
    if args.first_contact:
        args.skip = "memory,storm"
        args.path = "webhook"
        if args.rates == "100,500,1500":
            args.rates = "200"
    global LOG_DIR
    LOG_DIR = Path(tempfile.mkdtemp(prefix="sb-bench-ws-"))
    rates = [float(r) for r in args.rates.split(",") if r]
    skip = set(args.skip.split(","))

    url = ensure_database(BENCH_DB)
    with private_redis() as redis_url:
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "DATABASE_POOL": "true",
            "DATABASE_POOL_MAX": "20",
            "REDIS_URL": redis_url,
            "REDIS_KEY_PREFIX": PREFIX,
            "DJANGO_SETTINGS_MODULE": SETTINGS,
            "LOG_LEVEL": "WARNING",
        }
        os.environ.update(
            {
                k: env[k]
                for k in ("DATABASE_URL", "REDIS_URL", "REDIS_KEY_PREFIX", "DJANGO_SETTINGS_MODULE")
            }
        )
        os.environ["DATABASE_POOL"] = "false"
        sys.path.insert(0, str(ROOT))
        import django

        django.setup()
        from django.db import connection

        with connection.cursor() as cursor:  # dead outbox tuples of earlier runs (no autovacuum)
            cursor.execute("TRUNCATE events_outbox")
        # With --waiting, one chat per agent: the chats beyond stay in the queue.
        if args.first_contact:  # every chat offered: room for all of them, no idle agents
            world = create_world(args.agents, args.agents, 30_000)  # a smallint
            from routing_service.chats.models import RoutingPolicy

            RoutingPolicy.objects.filter(company_id=world["company"]).update(strategy="least_busy")
        else:
            world = create_world(args.agents, args.idle, 1 if args.waiting else 3)
        server_env = dict(env)
        if args.layer == "batching":
            # A settings module of our own for the server only (the repository's is untouched).
            (LOG_DIR / "bench_ws_settings.py").write_text(
                "from routing_service.settings import *  # noqa: F403\n"
                "CHANNEL_LAYERS['default']['BACKEND'] = 'realtime.layers.RedisPubSubChannelLayer'\n"
            )
            server_env["PYTHONPATH"] = os.pathsep.join([str(LOG_DIR), str(ROOT)])
            server_env["DJANGO_SETTINGS_MODULE"] = "bench_ws_settings"
        servers, ports = start_web(args.server, args.workers, server_env)
        routers = [
            start(
                [sys.executable, "manage.py", "run_router", "--name", f"bench-{n}"],
                env,
                f"router-{n}",
            )
            for n in range(args.routers)
        ]
        redis_pid = int(
            subprocess.run(
                ["pgrep", "-f", f"redis-server 127.0.0.1:{urlsplit(redis_url).port}"],
                capture_output=True,
                text=True,
            ).stdout.split()[0]
        )
        client = None
        try:
            for server_port in ports:
                wait_for_port(server_port, servers[0])
            web_pids = web_processes(servers, args.server, args.workers)
            client = Client(
                {
                    "env": {
                        k: env[k]
                        for k in (
                            "DATABASE_URL",
                            "REDIS_URL",
                            "REDIS_KEY_PREFIX",
                            "DJANGO_SETTINGS_MODULE",
                        )
                    }
                    | {"DATABASE_POOL": "false"},
                    "ports": ports,
                    "webhook_port": ports[0],
                    "channel_uuid": world["channel_uuid"],
                }
            )
            pids = {
                "web": web_pids,
                "router": [routers[0].pid],
                "redis": [redis_pid],
                "client": [client.process.pid],
            }
            print(
                f"server logs: {LOG_DIR}; channel layer: {args.layer}; web: {args.server} "
                f"× {args.workers} (pids {web_pids})"
            )
            print(
                f"company {world['company']}: {args.agents:,} available agents, "
                f"{len(world['agents']):,} in all; {os.cpu_count()} CPUs"
            )

            # 1. seed: one chat per available agent, before any console listens.
            started = time.monotonic()
            if not args.first_contact:  # first contact: the agents start with no chat
                seeded = client(
                    "seed", rate=min(400.0, args.agents), count=args.agents + args.waiting
                )
                deadline = time.monotonic() + 120
                while (
                    assigned_chats(world["company"]) < args.agents and time.monotonic() < deadline
                ):
                    time.sleep(0.5)
                print(
                    f"seed: {args.agents:,} chats offered, {args.waiting:,} more waiting, in "
                    f"{time.monotonic() - started:.1f} s (webhook answers {seeded['statuses']})"
                )

            # 2. memory: idle sockets.
            if "memory" not in skip or "storm" not in skip:
                client("open", agents=world["agents"][-50 * args.workers :])  # warm up
                client("close")
                time.sleep(1)
                base = sum(rss_kb(pid) for pid in web_pids)
                profilers = [profile(pid, "open") for pid in web_pids] if args.profile else []
                meter = CpuMeter(pids)
                opened = client("open", agents=world["agents"][: args.idle])
                open_cpu = 1000 * meter.used("web") / max(1, opened["opened"])
                for profiler in profilers:
                    profiler.send_signal(signal.SIGINT)
                    profiler.wait(timeout=60)
                time.sleep(5)
                rss = sum(rss_kb(pid) for pid in web_pids)
                per = (rss - base) * 1024 / max(1, opened["opened"])
                print(
                    f"memory: {opened['opened']:,} idle sockets opened in "
                    f"{opened['seconds']:.1f} s ({opened['failures']} failures; web CPU "
                    f"{open_cpu:.2f} ms per socket, snapshot included); web RSS "
                    f"{base / 1024:.0f} → {rss / 1024:.0f} MiB: {per / 1024:.1f} KB per socket"
                )

                # 3. storm.
                if "storm" not in skip:
                    profilers = [profile(pid, "storm") for pid in web_pids] if args.profile else []
                    meter = CpuMeter(pids)
                    result = client("storm")
                    for profiler in profilers:
                        profiler.send_signal(signal.SIGINT)
                        profiler.wait(timeout=60)
                    per_socket = 1000 * meter.used("web") / max(1, result["reconnected"])
                    print(
                        f"storm: {result['reconnected']:,} reconnected ({result['retries']} "
                        f"retries), {result['failures']} failed; all back (ping acked) after "
                        f"{result['all_back_after'] or 0:.1f} s, "
                        f"median {result['median_back_after'] or 0:.1f} s; web CPU "
                        f"{per_socket:.2f} ms per socket; {meter.report()}"
                    )
                    if result["first_errors"]:
                        print(f"  errors: {result['first_errors']}")
                client("close")

            # 4. latency.
            if "latency" not in skip:
                opened = client("open", agents=world["agents"][: args.agents])
                print(
                    f"latency: {opened['opened']:,} consoles open "
                    f"({opened['seconds']:.1f} s, {opened['failures']} failures)"
                )
                # The realtime part alone first: a webhook rate beyond capacity leaves the router
                # a backlog that would still be draining during the next measurement.
                paths = ["publish", "webhook"] if args.path == "both" else [args.path]
                for path in paths:
                    for rate in rates:
                        meter = CpuMeter(pids)
                        if path == "webhook":
                            result = client(
                                "webhook",
                                rate=rate,
                                seconds=args.seconds,
                                warmup=args.warmup,
                                clients=args.agents,
                                first_contact=args.first_contact,
                            )
                        else:
                            thread = threading.Thread(
                                target=publish_load,
                                args=(
                                    world["company"],
                                    world["agents"][: args.agents],
                                    rate,
                                    args.warmup + args.seconds,
                                ),
                            )
                            thread.start()
                            result = client("collect", seconds=args.seconds, warmup=args.warmup)
                            thread.join()
                        got = result["received"]
                        expected = result["expected"] or int(rate * args.seconds)
                        if result["answers"]:
                            print(f"  webhook answers   {quantiles(result['answers'])}")
                        print(
                            f"  {path:8s} {rate:6.0f} msg/s: {quantiles(result['latencies'])}; "
                            f"{got:,}/{expected:,} measured messages arrived "
                            f"({got / args.seconds:.0f}/s)"
                            + (
                                f", webhook answers {result['statuses']}"
                                if result["statuses"]
                                else ""
                            )
                            + f"; {meter.report()}"
                        )
                client("close")
        finally:
            if client is not None:
                client.close()
            for process in [*servers, *routers]:
                stop(process)


if __name__ == "__main__":
    main()
