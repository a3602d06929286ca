"""Start the project's own worker commands as real processes against the test database."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import psycopg
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
DAPHNE = (sys.executable, "-m", "daphne", "-b", "127.0.0.1")


def child_env(**overrides: str) -> dict[str, str]:
    """The environment of a child process: this run's settings, test database and Redis prefix."""
    db = connection.settings_dict
    url = (
        f"postgres://{db['USER']}:{db.get('PASSWORD') or ''}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}"
    )
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    env.update(overrides)
    return env


def manage(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=ROOT,
        env=env or child_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 20) -> str:
    """Signal a child we started and collect its output (what was piped of it)."""
    if process.poll() is None:
        process.send_signal(sig)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
    return b"".join(part for part in (out, err) if part).decode(errors="replace")


@contextmanager
def running(*processes: subprocess.Popen[bytes]) -> Iterator[list[subprocess.Popen[bytes]]]:
    started = list(processes)
    try:
        yield started
    finally:
        for process in started:
            stop(process)


def wait_for(condition: Callable[[], bool], timeout: float = 60, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """Until `process` accepts connections on `port`; if it exits or never does, stop it and
    fail with its output."""
    deadline = time.monotonic() + timeout
    while not listening(port):
        if process.poll() is not None or time.monotonic() > deadline:
            output = stop(process, timeout=5)
            raise RuntimeError(f"{process.args!r} did not start:\n{output}")
        time.sleep(0.05)


def daphne(
    port: int,
    env: dict[str, str],
    *,
    stdout: int = subprocess.DEVNULL,
    stderr: int = subprocess.PIPE,
) -> subprocess.Popen[bytes]:
    """daphne serving the project's ASGI application on 127.0.0.1:`port`."""
    return subprocess.Popen(
        [*DAPHNE, "-p", str(port), "routing_service.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=stdout,
        stderr=stderr,
    )


@contextmanager
def serving_asgi(env: dict[str, str]) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """daphne on a free port, accepting connections, until the block ends: (port, process)."""
    port = free_port()
    process = daphne(port, env)
    wait_for_port(port, process)
    try:
        yield port, process
    finally:
        stop(process, timeout=10)


def behind_pgbouncer() -> bool:
    """The run reaches PostgreSQL through PgBouncer (tests/pgbouncer's nested run)."""
    return os.environ.get("DATABASE_PGBOUNCER", "").lower() in ("1", "true", "yes", "on")


def _own_client_port() -> int | None:
    """The local port of this process's database connection, if one is open."""
    raw = connection.connection
    if raw is None or raw.closed:
        return None
    with socket.socket(fileno=os.dup(raw.pgconn.socket)) as sock:
        return int(sock.getsockname()[1])


def _pgbouncer_clients() -> int:
    """Client connections PgBouncer holds for the test database, this process's aside.

    Behind PgBouncer, PostgreSQL's backends are its pooled server connections, kept by design
    (until `server_idle_timeout`) whoever the clients were; a process's session is its client
    connection, listed by the admin console's SHOW CLIENTS."""
    db = connection.settings_dict
    own = _own_client_port()
    with psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"],
        password=db.get("PASSWORD") or "",
        dbname="pgbouncer",
        autocommit=True,
        connect_timeout=10,
    ) as admin:
        cursor = admin.execute("SHOW CLIENTS")
        names = [column.name for column in cursor.description or []]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    return sum(1 for row in rows if row["database"] == db["NAME"] and row["port"] != own)


def wait_for_pgbouncer_logins(timeout: float = 60) -> None:
    """Until PgBouncer serves a client of the test database again. Once PostgreSQL refused its
    login with no server connection left in the pool, PgBouncer fails (and closes) every client
    at once until a login succeeds, retried every `server_login_retry` (15 s by default)."""
    db = connection.settings_dict

    def serves() -> bool:
        try:
            with psycopg.connect(
                host=db["HOST"] or "127.0.0.1",
                port=db["PORT"] or 5432,
                user=db["USER"],
                password=db.get("PASSWORD") or "",
                dbname=db["NAME"],
                connect_timeout=5,
            ) as client:
                client.execute("SELECT 1")
        except psycopg.Error:
            return False
        return True

    wait_for(serves, timeout=timeout, interval=0.5)


def other_sessions() -> int:
    """Other sessions on the test database than this process's: PostgreSQL's backends, or
    behind PgBouncer its client connections (its server connections stay pooled by design)."""
    if behind_pgbouncer():
        return _pgbouncer_clients()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def wait_for_other_sessions_to_end(timeout: float = 10) -> int:
    """PostgreSQL ends a dead child's session a moment after it exits; the test database can
    only be flushed and dropped once it has. Returns how many are left at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        left = other_sessions()
        if left == 0 or time.monotonic() >= deadline:
            return left
        time.sleep(0.1)


@contextmanager
def serving_web(
    env: dict[str, str], *, log: IO[bytes] | None = None, timeout: float = 30
) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """The web process as deployed (deploy/web.sh, uvicorn by default) on a free port,
    accepting connections (within `timeout` seconds), until the block ends: (port, process).

    Its output goes to `log` (a file: a pipe nobody reads would block a chatty server)."""
    port = free_port()
    env = {**env, "PORT": str(port), "WEB_CONCURRENCY": "1"}
    env.setdefault("ASGI_SERVER", "uvicorn")
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    process = subprocess.Popen(
        [str(ROOT / "deploy" / "web.sh"), "127.0.0.1"],
        cwd=ROOT,
        env=env,
        stdout=log if log is not None else subprocess.DEVNULL,
        stderr=log if log is not None else subprocess.DEVNULL,
    )
    wait_for_port(port, process, timeout)
    try:
        yield port, process
    finally:
        stop(process, timeout=15)
