"""The deployed processes of one fault run — web (deploy/web.sh, uvicorn), routers, SLA timers
(each also runs the outbox relay) — on the run's database and a Redis of the run's choosing,
and the checks that say the pipeline has drained."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Self

import redis
from django.conf import settings

from events.models import OutboxEvent
from routing_service.chats.models import Channel, Message, MessageDirection
from tests.support.processes import ROOT, child_env, serving_web, stop

# Quick takeover and small batches: a kill storm exercises claims and leases many times over.
FAULT_SETTINGS = {
    "INBOUND_SHARDS": "4",
    "ROUTER_BATCH_SIZE": "50",
    "ROUTER_BLOCK_MS": "50",
    "ROUTER_CLAIM_IDLE_MS": "1000",
    "ROUTER_LEASE_TTL_MS": "1500",
    "ROUTER_LEASE_RENEW_MS": "300",
    # Nothing trimmed from the event log: the ledger reads all of it.
    "EVENT_LOG_MAXLEN": "10000000",
    "OUTBOX_RELAY_AFTER_MS": "500",
    "OUTBOX_RELAY_INTERVAL_MS": "200",
    # As deployed: the psycopg pool (a terminated backend must be noticed and replaced).
    "DATABASE_POOL": "true",
    "LOG_LEVEL": "WARNING",
    "ACCESS_LOG": "false",
}


def fault_env(redis_url: str | None = None, **overrides: str) -> dict[str, str]:
    """Children's environment: this run's database, `redis_url` for every Redis role (None:
    the run's own Redis database and key prefix)."""
    extra = dict(FAULT_SETTINGS)
    if redis_url is not None:
        extra["REDIS_URL"] = redis_url
    return child_env(**{**extra, **overrides})


class Pipeline:
    """web + routers + SLA timers, started together; any of them killed and replaced by name."""

    def __init__(self, env: dict[str, str], log_dir: Path, *, routers: int = 2, timers: int = 1):
        self.env = env
        self.log_dir = log_dir
        self.router_count = routers
        self.timer_count = timers
        self.routers: list[subprocess.Popen[bytes]] = []
        self.timers: list[subprocess.Popen[bytes]] = []
        self.port = 0
        self._stack = ExitStack()
        self._started = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Self:
        log: IO[bytes] = self._stack.enter_context((self.log_dir / "web.log").open("ab"))
        # A loaded machine (a CI box running many suites) may take a minute to start it.
        self.port, _ = self._stack.enter_context(serving_web(self.env, log=log, timeout=120))
        self.routers = [self.start_router() for _ in range(self.router_count)]
        self.timers = [self.start_timer() for _ in range(self.timer_count)]
        return self

    def __exit__(self, *exc: object) -> None:
        for process in self.routers + self.timers:
            stop(process, timeout=30)
        self._stack.close()

    def _name(self, kind: str) -> str:
        self._started += 1
        return f"fault-{kind}-{self._started}"

    def _manage(self, kind: str, *args: str) -> subprocess.Popen[bytes]:
        """`manage.py <args>`, its output appended to `<kind>.log` (a pipe nobody reads would
        stall a process that logs every failed retry)."""
        name = self._name(kind)
        with (self.log_dir / f"{kind}.log").open("ab") as log:
            return subprocess.Popen(
                [sys.executable, str(ROOT / "manage.py"), *args, f"--name={name}"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def start_router(self) -> subprocess.Popen[bytes]:
        return self._manage("router", "run_router")

    def start_timer(self) -> subprocess.Popen[bytes]:
        return self._manage("timer", "run_sla_timer", "--metrics-every=0", "--batch-size=20")

    def logs(self) -> str:
        """The end of every log of the run, for a failing test's message."""
        tails = []
        for log in sorted(self.log_dir.glob("*.log")):
            tails.append(f"--- {log.name}\n" + log.read_text(errors="replace")[-3000:])
        return "\n".join(tails)

    def kill_and_replace(self, processes: list[subprocess.Popen[bytes]], index: int) -> None:
        """`kill -9` one of `processes` and start its replacement in its place."""
        victim = processes[index]
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        replacement = self.start_router() if processes is self.routers else self.start_timer()
        processes[index] = replacement


def _stream_keys(client: redis.Redis) -> list[bytes]:
    keys = []
    for key in client.scan_iter(match=f"{settings.INBOUND_STREAM}:{{s*}}", count=1000):
        if key.endswith(b"}") and client.type(key) == b"stream":
            keys.append(key)
    return keys


def inbound_settled(client: redis.Redis) -> bool:
    """Every inbound entry read by the routers and acknowledged."""
    for key in _stream_keys(client):
        groups = client.xinfo_groups(key)
        if not groups:
            if client.xlen(key):
                return False
            continue
        last = client.xinfo_stream(key)["last-generated-id"]
        for group in groups:
            if group["pending"] or group["last-delivered-id"] != last:
                return False
    return True


def drain(
    client: redis.Redis,
    channels: list[int],
    accepted: int,
    *,
    timeout: float = 90,
    also: Callable[[], bool] = lambda: True,
) -> float:
    """Wait until the accepted messages are recorded, the streams acknowledged, the outbox empty
    and `also()`; returns the seconds it took. Times out quietly: the ledger says what is not."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        recorded = (
            Message.objects.unscoped()
            .filter(channel_id__in=channels, direction=MessageDirection.INBOUND)
            .count()
        )
        try:
            settled = recorded >= accepted and inbound_settled(client)
        except redis.RedisError:
            settled = False
        if settled and not OutboxEvent.objects.exists() and also():
            time.sleep(1.0)  # a duplicate still in flight would show up now
            return time.monotonic() - started
        time.sleep(0.2)
    return time.monotonic() - started


def channel_ids(channels: list[Channel]) -> list[int]:
    return [channel.pk for channel in channels]
