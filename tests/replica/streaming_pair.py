"""A private PostgreSQL primary and its streaming standby, on free ports, in temp folders.

``initdb`` (trust auth, which also lets 127.0.0.1 replicate) as the ``postgres`` OS user, then
``pg_basebackup -R`` of it: the standby follows the primary's WAL like a production replica.
Both servers are stopped by their pids, whatever happened.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.processes import free_port, listening


def _bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError(f"{name} not found under /usr/lib/postgresql (install postgresql)")
    return found[-1]


def _as_postgres(*command: str) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else list(command)


@dataclass(frozen=True)
class Server:
    port: int
    data: Path

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def start(self) -> None:
        subprocess.run(
            _as_postgres(
                _bin("pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.data / "server.log"),
                "-w",
                "-t",
                "30",
                "start",
            ),
            check=True,
            capture_output=True,
        )
        deadline = time.monotonic() + 30
        while not listening(self.port):
            if time.monotonic() > deadline:
                raise RuntimeError((self.data / "server.log").read_text()[-2000:])
            time.sleep(0.05)

    def kill(self) -> None:
        """Stop the server by its pid (fast shutdown, then SIGKILL if it lingers)."""
        pid = self.pid()
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGINT)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)


def _configure(data: Path, port: int) -> None:
    with (data / "postgresql.conf").open("a") as conf:
        conf.write(
            f"\nport = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n"
            "wal_level = replica\nmax_wal_senders = 5\nhot_standby = on\n"
            "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n"
            "max_connections = 60\nshared_buffers = 32MB\n"
        )


@contextmanager
def streaming_pair() -> Iterator[tuple[Server, Server]]:
    root = Path(tempfile.mkdtemp(prefix="switchboard-replica-"))
    root.chmod(0o755)
    primary = Server(free_port(), root / "primary")
    standby = Server(free_port(), root / "standby")
    if os.geteuid() == 0:
        shutil.chown(root, user="postgres")
    try:
        subprocess.run(
            _as_postgres(
                _bin("initdb"),
                "-D",
                str(primary.data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale",
                "C",
            ),
            check=True,
            capture_output=True,
        )
        (primary.data / "pg_hba.conf").open("a").write("host replication all 127.0.0.1/32 trust\n")
        _configure(primary.data, primary.port)
        primary.start()
        subprocess.run(
            _as_postgres(
                _bin("pg_basebackup"),
                "-h",
                "127.0.0.1",
                "-p",
                str(primary.port),
                "-U",
                "postgres",
                "-D",
                str(standby.data),
                "-R",
                "-X",
                "stream",
                "--no-sync",
            ),
            check=True,
            capture_output=True,
        )
        with (standby.data / "postgresql.conf").open("a") as conf:
            conf.write(f"\nport = {standby.port}\n")
        standby.start()
        yield primary, standby
    finally:
        standby.kill()
        primary.kill()
        shutil.rmtree(root, ignore_errors=True)
