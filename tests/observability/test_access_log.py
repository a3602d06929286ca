"""The web process as scripts/start runs it (deploy/web.sh, DEBUG on) logs one line per request
— webhooks included — and in production (DEBUG off) it logs none: real server processes."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.support.processes import ROOT, child_env, free_port, stop, wait_for_port

pytestmark = pytest.mark.django_db(transaction=True)

Serve = Callable[..., str]


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    """Runs deploy/web.sh with settings, sends the usual first requests of a newcomer, stops
    it and returns everything it printed."""
    started: list[subprocess.Popen[bytes]] = []

    def run(**settings: str) -> str:
        port = free_port()
        env = child_env(PORT=str(port), WEB_CONCURRENCY="1", **settings)
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        env.pop("ACCESS_LOG", None)
        output = tmp_path / f"web-{port}.log"
        with output.open("wb") as sink:
            process = subprocess.Popen(
                [str(ROOT / "deploy" / "web.sh"), "127.0.0.1"],
                cwd=ROOT,
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        started.append(process)
        wait_for_port(port, process)
        base = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(f"{base}/healthz", timeout=10) as answer:
            assert answer.status == 200
        hook = urllib.request.Request(
            f"{base}/webhooks/generic/{uuid.uuid4()}/?token=secret",
            data=b"{}",
            headers={"Content-Type": "application/json"},
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(hook, timeout=10)
        assert refused.value.code == 404  # no such channel
        with urllib.request.urlopen(f"{base}/accounts/login/", timeout=10) as answer:
            assert answer.status == 200
        # No session, no ticket: refused, or accepted and closed at once.
        with contextlib.suppress(InvalidStatus):
            connect(
                f"ws://127.0.0.1:{port}/ws/agent/", origin="http://127.0.0.1", open_timeout=10
            ).close()
        stop(process, timeout=15)
        return output.read_text(errors="replace")

    yield run
    for process in started:
        stop(process, timeout=15)


LINE = re.compile(r"(GET|POST|WS) (\S+) (\d{3}) (\d+) ms")


def access_lines(output: str) -> list[tuple[str, str, str]]:
    return [match.group(1, 2, 3) for match in LINE.finditer(output)]


@pytest.mark.parametrize("server", ["uvicorn", "daphne"])
def test_development_logs_a_line_per_request(serve: Serve, server: str) -> None:
    output = serve(DEBUG="true", ASGI_SERVER=server)
    lines = access_lines(output)
    hooks = [line for line in lines if line[1].startswith("/webhooks/generic/")]
    assert ("GET", "/healthz", "200") in lines, output
    assert hooks and hooks[0][2] == "404", output
    assert ("GET", "/accounts/login/", "200") in lines, output
    assert any(line[0] == "WS" and line[1] == "/ws/agent/" for line in lines), output
    assert "token=secret" not in output  # paths only: a query may carry a ticket


def test_production_logs_no_requests(serve: Serve) -> None:
    output = serve(DEBUG="false", ASGI_SERVER="uvicorn")
    assert access_lines(output) == [], output
