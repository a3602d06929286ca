"""Servers of a test's own, to kill and stop: a private `redis-server`, and a blockade of the
run's private PostgreSQL database (never the shared servers on 6379 and 5432 themselves).

The Redis server runs as deployed (docs/operations.md): AOF with `appendfsync everysec`, so a
`kill -9` of the process loses nothing it acknowledged (the kernel still holds what Redis
wrote before answering), and `restart()` brings it back on the same port with its data.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Self

import psycopg
import redis
from django.db import connection

from tests.support.processes import free_port


class RedisServer:
    """A redis-server on a free loopback port, with its AOF in a temporary directory."""

    def __init__(self, *, appendonly: bool = True) -> None:
        binary = shutil.which("redis-server")
        assert binary, "redis-server is not installed"
        self.binary = binary
        self.appendonly = appendonly
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="sb-redis-")
        self.process: subprocess.Popen[bytes] | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=10)

    def start(self) -> Self:
        options = ["--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--dir", self.dir]
        if self.appendonly:
            options += ["--appendonly", "yes", "--appendfsync", "everysec"]
        self.process = subprocess.Popen(
            [self.binary, *options], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        client = redis.Redis(port=self.port, socket_timeout=2)
        deadline = time.monotonic() + 20
        try:
            while True:
                try:
                    client.ping()  # answers only once the AOF is loaded
                    return self
                except (redis.ConnectionError, redis.BusyLoadingError, redis.TimeoutError):
                    if time.monotonic() > deadline or self.process.poll() is not None:
                        raise
                    time.sleep(0.05)
        finally:
            client.close()

    def kill(self) -> None:
        """`kill -9`: no shutdown, no final AOF rewrite."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)  # a stopped process dies only once resumed
            self.process.kill()
            self.process.wait()
        self.process = None

    def restart(self) -> None:
        """Start again on the same port and directory (the AOF is replayed)."""
        self.kill()
        self.start()

    def pause(self) -> None:
        """SIGSTOP: connections stay open, nothing is answered."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _admin() -> psycopg.Connection:
    """A connection to the server's `postgres` database, with the test database's credentials:
    a statement on the test database from outside it (autocommit)."""
    db = connection.settings_dict
    return psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"],
        password=db.get("PASSWORD") or "",
        dbname="postgres",
        autocommit=True,
        connect_timeout=10,
    )


def terminate_backends(spare: int) -> int:
    """`pg_terminate_backend` every session of the run's database but `spare` (the test's own,
    the referee): routers, timers, web, workers. Returns how many were ended. Other databases
    of the server are left alone."""
    with _admin() as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> %s AND pid <> pg_backend_pid()",
            [connection.settings_dict["NAME"], spare],
        ).fetchall()
    return sum(1 for (ended,) in rows if ended)


@contextmanager
def connections_blocked(spare: int) -> Iterator[None]:
    """No new session on the run's database (ALLOW_CONNECTIONS false) and every open one but
    `spare` ended, until the block ends: a database that refuses everyone."""
    name = connection.settings_dict["NAME"]
    quoted = '"' + name.replace('"', '""') + '"'
    with _admin() as admin:
        admin.execute(f"ALTER DATABASE {quoted} WITH ALLOW_CONNECTIONS false")  # type: ignore[arg-type]
        try:
            terminate_backends(spare)
            yield
        finally:
            admin.execute(f"ALTER DATABASE {quoted} WITH ALLOW_CONNECTIONS true")  # type: ignore[arg-type]
