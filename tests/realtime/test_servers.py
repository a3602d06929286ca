"""The web process as deployed (deploy/web.sh) serves pages, webhooks and websockets under both
supported ASGI servers: real processes, real PostgreSQL and Redis."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from realtime.tickets import issue_ticket
from routing_service.chats.models import Channel
from routing_service.tenancy.models import User
from tests.realtime.wire import dial, next_frame
from tests.support.processes import ROOT, child_env, free_port, stop, wait_for_port

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(params=["uvicorn", "daphne"])
def web(request: pytest.FixtureRequest) -> Iterator[tuple[str, int, subprocess.Popen[bytes]]]:
    """deploy/web.sh on an ephemeral port with ASGI_SERVER set."""
    port = free_port()
    env = child_env(ASGI_SERVER=request.param, PORT=str(port), WEB_CONCURRENCY="1")
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    process = subprocess.Popen(
        [str(ROOT / "deploy" / "web.sh"), "127.0.0.1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    wait_for_port(port, process)
    try:
        yield request.param, port, process
    finally:
        stop(process, timeout=15)


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return answer.status, answer.read()


def _webhook(port: int, channel: Channel) -> tuple[int, dict[str, object]]:
    """A signed generic webhook (DESIGN.md), as a provider sends it."""
    body = json.dumps(
        {
            "message_id": "server-test-1",
            "client": {"id": "c-1", "name": "Client One"},
            "text": "Hello",
            "sent_at": "2025-03-14T10:26:53+00:00",
        }
    ).encode()
    stamp = str(int(time.time()))
    mac = hmac.new(channel.secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256)
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/webhooks/generic/{channel.uuid}/",
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-Switchboard-Timestamp": stamp,
            "X-Switchboard-Signature": f"v1={mac.hexdigest()}",
        },
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return answer.status, json.loads(answer.read())


async def test_the_web_process_serves_http_and_websockets(
    web: tuple[str, int, subprocess.Popen[bytes]], agent_a: User, channel_a: Channel
) -> None:
    server, port, process = web
    agent = agent_a
    status, _ = await asyncio.to_thread(_get, f"http://127.0.0.1:{port}/healthz")
    assert status == 200
    status, accepted = await asyncio.to_thread(_webhook, port, channel_a)
    assert status == 202, accepted

    ticket, _ = issue_ticket(agent)
    conn = await dial(f"ws://127.0.0.1:{port}/ws/agent/?ticket={ticket}")
    snapshot = await next_frame(conn)
    assert snapshot["type"] == "snapshot" and snapshot["data"]["user"]["id"] == agent.pk
    await conn.send(json.dumps({"action": "ping", "request_id": "r1"}))
    ack = await next_frame(conn)
    assert ack["type"] == "ack" and ack["data"]["request_id"] == "r1"
    await conn.close()
    assert process.poll() is None, f"{server} exited"


def test_an_unknown_server_is_refused() -> None:
    result = subprocess.run(
        [str(ROOT / "deploy" / "web.sh"), "127.0.0.1"],
        env={"PATH": "/usr/bin:/bin", "ASGI_SERVER": "gunicorn"},
        capture_output=True,
        text=True,
        check=False,
        timeout=10,
    )
    assert result.returncode == 2 and "ASGI_SERVER" in result.stderr
