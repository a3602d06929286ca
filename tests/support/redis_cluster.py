"""A real local Redis Cluster on free ports: 3 primaries with a replica each.

`redis-server --cluster-enabled yes` six times and `redis-cli --cluster create
--cluster-replicas 1`; append-only files with `appendfsync everysec` (docs/operations.md "Redis
Cluster"), a 1 s node timeout so a killed primary fails over within seconds, and
`cluster-require-full-coverage no` so the other slots keep answering meanwhile. `started`
always kills what it started, by pid. Used by tests/cluster and tests/perf/bench_router.py.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import redis

NODE_TIMEOUT_MS = 1000


@dataclass
class LocalCluster:
    ports: list[int]
    processes: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    def alive_ports(self) -> list[int]:
        return [port for port, process in self.processes.items() if process.poll() is None]

    def client(self) -> redis.RedisCluster:
        port = self.alive_ports()[0]
        return redis.RedisCluster(host="127.0.0.1", port=port)

    def primary_port_of(self, key: str) -> int:
        client = self.client()
        try:
            node = client.get_node_from_key(key)
            assert node is not None
            return int(node.port)
        finally:
            client.close()

    def kill(self, port: int) -> None:
        """kill -9 one node we started."""
        process = self.processes[port]
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    def healthy(self) -> bool:
        """Every slot served and every live node agreeing on it."""
        for port in self.alive_ports():
            try:
                with redis.Redis(port=port, socket_timeout=1) as node:
                    info = node.execute_command("CLUSTER", "INFO")
            except redis.RedisError:
                return False
            text = info.decode() if isinstance(info, bytes) else str(info)
            if "cluster_state:ok" not in text or "cluster_slots_ok:16384" not in text:
                return False
        return True


def _ports(count: int) -> list[int]:
    """Free ports whose cluster bus port (+10000) is free too."""
    ports: list[int] = []
    while len(ports) < count:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port + 10000 > 65535 or port in ports:
            continue
        with socket.socket() as bus:
            try:
                bus.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        ports.append(port)
    return ports


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} within {timeout} s")


def _answers(port: int) -> bool:
    try:
        with redis.Redis(port=port, socket_connect_timeout=0.2) as node:
            return bool(node.ping())
    except redis.RedisError:
        return False


@contextmanager
def started(base: Path) -> Iterator[LocalCluster]:
    """A new cluster with its data under `base`, torn down when the block ends."""
    server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
    if not server or not cli:
        raise RuntimeError("redis-server and redis-cli are needed (scripts/test installs them)")
    cluster = LocalCluster(_ports(6))
    try:
        for port in cluster.ports:
            directory = base / str(port)
            directory.mkdir(parents=True)
            cluster.processes[port] = subprocess.Popen(
                [
                    server,
                    "--port", str(port),
                    "--bind", "127.0.0.1",
                    "--cluster-enabled", "yes",
                    "--cluster-config-file", f"nodes-{port}.conf",
                    "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
                    "--cluster-require-full-coverage", "no",
                    "--appendonly", "yes",
                    "--appendfsync", "everysec",
                    "--save", "",
                    "--dir", str(directory),
                    "--logfile", str(directory / "redis.log"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
        _wait(lambda: all(_answers(p) for p in cluster.ports), 30, "the nodes did not start")
        subprocess.run(
            [cli, "--cluster", "create", *(f"127.0.0.1:{p}" for p in cluster.ports),
             "--cluster-replicas", "1", "--cluster-yes"],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        _wait(cluster.healthy, 60, "the cluster did not become healthy")
        _wait(lambda: _replicas_in_sync(cluster), 60, "the replicas did not catch up")
        yield cluster
    finally:
        for process in cluster.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
        for process in cluster.processes.values():
            process.wait(timeout=10)


def _replicas_in_sync(cluster: LocalCluster) -> bool:
    primaries = 0
    for port in cluster.alive_ports():
        with redis.Redis(port=port) as node:
            info = node.info("replication")
        if info.get("role") == "master":
            primaries += 1
            if int(info.get("connected_slaves", 0)) < 1:
                return False
    return primaries == 3
