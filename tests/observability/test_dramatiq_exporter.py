"""The dramatiq workers' metrics server (`manage.py rundramatiq`, real processes): loopback by
default on DRAMATIQ_METRICS_PORT, and one warning line — not a traceback — when the port is
taken, while the workers keep running."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.processes import ROOT, child_env, free_port, listening, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

READY = "Worker process is ready for action."
MANAGE = (sys.executable, str(ROOT / "manage.py"))


def _listeners(port: int) -> set[str]:
    """Local addresses listening on `port` (IPv4, /proc/net/tcp), as dotted quads."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
            found.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return found


class Workers:
    """`rundramatiq` processes (1 process, 1 thread) this test started, logging to `log`."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.log = tmp_path / "worker.log"
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, **settings: str) -> subprocess.Popen[bytes]:
        env = child_env(dramatiq_prom_db=str(self.tmp_path / "prometheus"), **settings)
        env.pop("dramatiq_prom_host", None)
        env.pop("dramatiq_prom_port", None)
        with self.log.open("ab") as output:
            process = subprocess.Popen(
                [*MANAGE, "rundramatiq", "--processes", "1", "--threads", "1"],
                cwd=ROOT,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started.append(process)
        return process

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        for process in self.started:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    running = Workers(tmp_path)
    yield running
    running.stop()


def test_the_metrics_server_listens_on_loopback_on_its_setting(workers: Workers) -> None:
    port = free_port()
    process = workers.start(DRAMATIQ_METRICS_PORT=str(port))
    wait_for(lambda: listening(port) or process.poll() is not None, timeout=90)
    assert process.poll() is None, workers.text()
    assert _listeners(port) == {"127.0.0.1"}
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as answer:
        assert answer.status == 200
        assert answer.headers["Content-Type"].startswith("text/plain")
    assert f"worker metrics on http://127.0.0.1:{port}/" in workers.text()


def test_a_busy_port_costs_one_line_and_the_workers_run_on(workers: Workers) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = workers.start(DRAMATIQ_METRICS_PORT=str(port))
        wait_for(lambda: READY in workers.text() or process.poll() is not None, timeout=90)
        wait_for(lambda: "is in use" in workers.text() or process.poll() is not None, timeout=30)
        time.sleep(1)  # anything the fork would print after its line
        text = workers.text()
        assert process.poll() is None, text
        assert "Traceback" not in text and "Address already in use" not in text, text
        lines = [line for line in text.splitlines() if str(port) in line]
        assert len(lines) == 1, text
        assert "worker metrics not served: 127.0.0.1:" in lines[0]
        assert "DRAMATIQ_METRICS_PORT" in lines[0]


def test_port_zero_starts_no_metrics_server(workers: Workers) -> None:
    process = workers.start(DRAMATIQ_METRICS_PORT="0")
    wait_for(lambda: READY in workers.text() or process.poll() is not None, timeout=90)
    time.sleep(1)
    assert process.poll() is None
    assert "ForkProcess" not in workers.text()


def settings_of(*names: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Import the settings in a fresh interpreter with `env`; print the named values."""
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "routing_service.settings", **env}
    for name in (
        "DRAMATIQ_METRICS_ADDR",
        "DRAMATIQ_METRICS_PORT",
        "dramatiq_prom_host",
        "dramatiq_prom_port",
    ):
        if name not in env:
            environment.pop(name, None)
    show = "; ".join(f"print(repr(settings.{name}))" for name in names)
    return subprocess.run(
        [sys.executable, "-c", f"from django.conf import settings; {show}"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_the_metrics_server_defaults_to_loopback_9191() -> None:
    result = settings_of("DRAMATIQ_METRICS_ADDR", "DRAMATIQ_METRICS_PORT")
    assert result.stdout.split() == ["'127.0.0.1'", "9191"], result.stderr
    # dramatiq's own variables still count when ours are unset.
    result = settings_of("DRAMATIQ_METRICS_PORT", dramatiq_prom_port="9300")
    assert result.stdout.split() == ["9300"], result.stderr


@pytest.mark.parametrize(
    ("name", "value"),
    [("DRAMATIQ_METRICS_ADDR", "localhost"), ("DRAMATIQ_METRICS_PORT", "70000")],
)
def test_bad_metrics_server_settings_stop_the_process(name: str, value: str) -> None:
    result = settings_of("DRAMATIQ_METRICS_PORT", **{name: value})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and name in result.stderr
