"""Fixtures for the websocket tests: people, a channel, sockets on the full ASGI application
(channels-redis, PostgreSQL) and, for the wire-level tests, a real daphne on 127.0.0.1."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
import redis
from django.test import Client as DjangoClient

from routing_service.chats.actions import receive_inbound_message
from routing_service.chats.models import Channel, Provider
from routing_service.tenancy.models import AgentStatus, Company, Role, User
from sla_engine.models import ChatSLA
from tests.realtime.sockets import Socket, open_socket
from tests.support.inbound import inbound_message
from tests.support.processes import child_env, serving_asgi


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
    with serving_asgi(env) as (port, process):
        yield Daphne(port, process)


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
