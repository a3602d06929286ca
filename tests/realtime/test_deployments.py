"""Two deployments on one Redis server, on different database numbers, with default settings:
neither hears the other's events.

Keys live in the database a URL names, but Redis pub/sub is server-wide; with the same channel
prefix, staging's `company.1.queue` would be production's too, and a console that drops events
whose seq is not above the last one seen would go quiet. Each deployment here is a real daphne
started with `routing_service.settings` and a clean environment (no per-run key prefix: the
defaults under test); they share the test database (same companies, users and API tokens, the
worst case) and the Redis server, on two database numbers.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack

import httpx
import pytest
import redis
from rest_framework.authtoken.models import Token

from routing_service.tenancy.models import User
from tests.realtime.wire import dial, next_frame
from tests.support.processes import child_env, serving_asgi

# Pairs of database numbers this test may use (14 is the suite's, 13 the benchmarks'); a run
# takes a free pair, so two test runs at once never share one.
PAIRS = ((2, 3), (4, 5), (6, 7), (8, 9), (10, 11))
DEFAULT_PREFIX = "sb"


def deployment_env(db: int, base: dict[str, str] | None = None) -> dict[str, str]:
    """A production-like environment: the real settings module, the defaults, one URL."""
    env = {
        name: value
        for name, value in (child_env() if base is None else base).items()
        if "REDIS" not in name and not name.startswith(("CHANNEL_LAYER", "SWITCHBOARD_TEST"))
    }
    env.update(
        DJANGO_SETTINGS_MODULE="routing_service.settings",
        REDIS_URL=f"redis://127.0.0.1:6379/{db}",
        DATABASE_POOL="false",
        LOG_LEVEL="WARNING",
    )
    return env


def clear_default_keys(client: redis.Redis) -> None:
    keys = list(client.scan_iter(match=f"{DEFAULT_PREFIX}:*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture
def database_pair(redis_client: redis.Redis) -> Iterator[tuple[int, int]]:
    run = os.environ.get("SWITCHBOARD_TEST_RUN", str(os.getpid()))
    for pair in PAIRS:
        lock = f"switchboard-tests:deployments:{pair[0]}-{pair[1]}"
        if redis_client.set(lock, run, nx=True, ex=600):
            break
    else:
        pytest.fail("every pair of Redis databases is in use by other test runs")
    clients = [redis.Redis(port=6379, db=db) for db in pair]
    for client in clients:
        clear_default_keys(client)
    yield pair
    for client in clients:
        clear_default_keys(client)
        client.close()
    redis_client.delete(lock)


async def ticket(http: httpx.AsyncClient, port: int, token: str) -> str:
    response = await http.post(
        f"http://127.0.0.1:{port}/api/v1/ws-ticket/",
        headers={"Authorization": f"Token {token}"},
    )
    assert response.status_code in (200, 201), response.text
    return str(response.json()["ticket"])


async def set_status(
    http: httpx.AsyncClient, port: int, token: str, agent: User, status: str
) -> None:
    response = await http.post(
        f"http://127.0.0.1:{port}/api/v1/agents/{agent.pk}/status/",
        json={"status": status},
        headers={"Authorization": f"Token {token}"},
    )
    assert response.status_code == 200, response.text


async def quiet(conn: object, seconds: float = 1.0) -> bool:
    try:
        frame = await next_frame(conn, timeout=seconds)  # type: ignore[arg-type]
    except TimeoutError:
        return True
    raise AssertionError(f"unexpected frame: {frame}")


@pytest.mark.django_db(transaction=True)
def test_two_deployments_on_two_database_numbers_never_hear_each_other(
    agent_a: User, database_pair: tuple[int, int]
) -> None:
    token = Token.objects.create(user=agent_a).key
    with ExitStack() as stack:
        ports = [stack.enter_context(serving_asgi(deployment_env(db)))[0] for db in database_pair]
        asyncio.run(exchange(ports, token, agent_a))

    for db in database_pair:  # each deployment logged its own event, in its own database
        client = redis.Redis(port=6379, db=db)
        try:
            assert int(client.get(f"{DEFAULT_PREFIX}:{{c{agent_a.company_id}}}:seq") or 0) == 1
        finally:
            client.close()


async def exchange(ports: list[int], token: str, agent: User) -> None:
    staging, production = ports
    async with httpx.AsyncClient(timeout=10) as http:
        consoles = [
            await dial(f"ws://127.0.0.1:{port}/ws/agent/?ticket={await ticket(http, port, token)}")
            for port in ports
        ]
        try:
            for console in consoles:
                assert (await next_frame(console))["type"] == "snapshot"

            await set_status(http, production, token, agent, "away")
            frame = await next_frame(consoles[1])
            assert (frame["type"], frame["data"]["status"], frame["seq"]) == (
                "agent.status",
                "away",
                1,
            )
            assert await quiet(consoles[0])  # staging's console hears nothing of production

            await set_status(http, staging, token, agent, "available")
            frame = await next_frame(consoles[0])
            assert (frame["type"], frame["data"]["status"], frame["seq"]) == (
                "agent.status",
                "available",
                1,
            )
            assert await quiet(consoles[1])
        finally:
            for console in consoles:
                await console.close()


@pytest.mark.parametrize(
    ("url", "prefix"),
    [
        ("redis://127.0.0.1:6379", "sb:db0:ws"),
        ("redis://127.0.0.1:6379/5", "sb:db5:ws"),
        ("redis://127.0.0.1:6379?db=7", "sb:db7:ws"),
        ("unix:///run/redis.sock?db=3", "sb:db3:ws"),
        ("redis://127.0.0.1:6379/x", "ImproperlyConfigured"),
    ],
)
def test_the_default_channel_prefix_names_the_database(url: str, prefix: str) -> None:
    env = deployment_env(0, base=dict(os.environ))
    env["REDIS_URL"] = url
    code = (
        "from django.core.exceptions import ImproperlyConfigured\n"
        "try:\n"
        "    from routing_service import settings\n"
        "    print(settings.CHANNEL_LAYER_PREFIX)\n"
        "except ImproperlyConfigured:\n"
        "    print('ImproperlyConfigured')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, check=True, timeout=60
    )
    assert out.stdout.decode().strip() == prefix
