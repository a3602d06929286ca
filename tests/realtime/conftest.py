"""Fixtures for the websocket tests: people, a channel, sockets on the full ASGI application
(channels-redis, PostgreSQL) and, for the wire-level tests, a real daphne on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from django.db import connection
from django.test import Client as DjangoClient

from routing_service.chats.actions import receive_inbound_message
from routing_service.chats.models import Channel, Provider
from routing_service.tenancy.models import AgentStatus, Company, Role, User
from sla_engine.models import ChatSLA
from tests.realtime.sockets import Socket, open_socket
from tests.support.inbound import inbound_message

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _clean_redis(redis_client: redis.Redis) -> redis.Redis:
    """Every websocket test starts with none of this run's keys (seqs, logs, presence)."""
    return redis_client


@pytest.fixture
def channel_a(company_a: Company) -> Channel:
    return Channel.objects.create(
        company=company_a, name="Web A", provider=Provider.GENERIC, secret="s3cret-a"
    )


@pytest.fixture
def channel_b(company_b: Company) -> Channel:
    return Channel.objects.create(
        company=company_b, name="Web B", provider=Provider.GENERIC, secret="s3cret-b"
    )


@pytest.fixture
def make_agent(make_user: Callable[..., User]) -> Callable[..., User]:
    def make(company: Company, role: str = Role.AGENT, **kwargs: Any) -> User:
        kwargs.setdefault("status", AgentStatus.AVAILABLE)
        kwargs.setdefault("max_chats", 3)
        return make_user(company, role, **kwargs)

    return make


@pytest.fixture
def agent_a(make_agent: Callable[..., User], company_a: Company) -> User:
    return make_agent(company_a, username="agent-a")


@pytest.fixture
def agent_b(make_agent: Callable[..., User], company_b: Company) -> User:
    return make_agent(company_b, username="agent-b")


@pytest.fixture
def supervisor_a(make_agent: Callable[..., User], company_a: Company) -> User:
    return make_agent(company_a, Role.SUPERVISOR, username="supervisor-a")


@pytest.fixture
def login() -> Callable[[User], str]:
    """The Cookie header of a logged-in session for the user (sync: call outside the loop)."""

    def cookie(user: User) -> str:
        client = DjangoClient()
        client.force_login(user)
        return f"sessionid={client.cookies['sessionid'].value}"

    return cookie


@pytest.fixture
async def sockets() -> AsyncIterator[list[Socket]]:
    """Sockets opened by a test, disconnected after it (so consumers clean up presence)."""
    opened: list[Socket] = []
    yield opened
    for sock in opened:
        await sock.disconnect()


@pytest.fixture
def ws(sockets: list[Socket]) -> Callable[..., Awaitable[Socket]]:
    async def open_(path: str, **kwargs: Any) -> Socket:
        sock = await open_socket(path, **kwargs)
        sockets.append(sock)
        return sock

    return open_


# --- a real daphne --------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def child_env(**overrides: str) -> dict[str, str]:
    """This run's settings, test database and Redis prefix, for a process we start."""
    db = connection.settings_dict
    url = (
        f"postgres://{db['USER']}:{db.get('PASSWORD') or ''}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}"
    )
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    env.update(overrides)
    return env


class Daphne:
    def __init__(self, port: int, process: subprocess.Popen[bytes]) -> None:
        self.port = port
        self.process = process

    def url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"


@pytest.fixture(scope="module")
def daphne(django_db_setup: Any, django_db_blocker: Any) -> Iterator[Daphne]:
    """daphne serving routing_service.asgi:application on an ephemeral port, for the module."""
    with django_db_blocker.unblock():
        env = child_env()
    port = _free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "routing_service.asgi:application",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                err = process.stderr.read().decode() if process.stderr else ""
                process.kill()
                raise RuntimeError(f"daphne did not start: {err}") from None
            time.sleep(0.1)
    try:
        yield Daphne(port, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- chats made through the product's own inbound path ----------------------------------------


@pytest.fixture
def sla_a(company_a: Company) -> None:
    """Round-the-clock SLAs for company A: 10 minutes to answer, an hour to resolve."""
    for priority in ("low", "medium", "high", "urgent"):
        ChatSLA.objects.create(
            company=company_a,
            priority=priority,
            first_response_minutes=10,
            resolution_minutes=60,
            warning_percent=80,
            weekdays=[0, 1, 2, 3, 4, 5, 6],
            include_weekends=True,
            work_intervals=[["00:00", "00:00"]],
        )


@pytest.fixture
def inbound() -> Callable[..., int]:
    """A customer message through the real inbound action; returns its conversation id."""
    counter = {"n": 0}

    def send(channel: Channel, client: str, text: str = "Hello, I need help", **kw: Any) -> int:
        counter["n"] += 1
        result = receive_inbound_message(
            channel, inbound_message(f"msg-{counter['n']}", client, text, **kw)
        )
        assert result.conversation_id is not None
        return result.conversation_id

    return send
