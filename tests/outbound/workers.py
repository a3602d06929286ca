"""Real `rundramatiq` processes for the worker-death tests: start them in a session of their
own, find dramatiq's worker child, kill and reap them (only processes these tests started)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from tests.support.processes import ROOT, child_env, free_port


def children(pid: int) -> list[int]:
    """Child processes of `pid`, oldest first (/proc start times)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:  # ppid (field 4 of stat)
            found.append((int(fields[19]), int(entry.name)))  # starttime (field 22)
    return [child for _start, child in sorted(found)]


def forked_children(pid: int) -> list[int]:
    """Children that are forks of `pid` (same command line), oldest first: dramatiq's worker
    processes, then its fork processes (the metrics server); not multiprocessing's helpers."""
    command = Path(f"/proc/{pid}/cmdline").read_bytes()
    same = []
    for child in children(pid):
        try:
            if Path(f"/proc/{child}/cmdline").read_bytes() == command:
                same.append(child)
        except OSError:
            continue
    return same


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def start_worker(log: Path, *, supervised: bool, **env: str) -> subprocess.Popen[bytes]:
    """`manage.py rundramatiq` (or `deploy/worker.sh` around it when `supervised`), 1 process
    of 2 threads, its metrics server on a free loopback port, output appended to `log`."""
    environment = child_env(
        PYTHON=sys.executable,
        WORKER_RESTART_DELAY="0.5",
        dramatiq_prom_port=str(free_port()),
        dramatiq_prom_host="127.0.0.1",
        dramatiq_prom_db=str(log.parent / f"prometheus-{free_port()}"),
        **env,
    )
    command = (
        ["bash", str(ROOT / "deploy" / "worker.sh")]
        if supervised
        else [sys.executable, str(ROOT / "manage.py"), "rundramatiq"]
    )
    with log.open("ab") as output:
        return subprocess.Popen(
            [*command, "--processes", "1", "--threads", "2"],
            cwd=ROOT,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def kill_session(process: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
    """Signal every process of `process`'s session (it leads its own group) and reap it."""
    if process.poll() is None:
        os.killpg(process.pid, sig)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def stop_session(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (running jobs finish), then SIGKILL if it takes longer than 30 s."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
    kill_session(process)
