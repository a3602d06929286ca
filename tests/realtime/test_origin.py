"""The websocket origin check over a real daphne: a browser page may open a socket only from the
site's own origin (scheme, host and port, as Django's CSRF check compares them) or from one of
CSRF_TRUSTED_ORIGINS."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from channels.db import database_sync_to_async
from websockets.exceptions import ConnectionClosed

from realtime.tickets import issue_ticket
from routing_service.tenancy.models import User
from tests.realtime.conftest import Daphne
from tests.realtime.wire import dial, next_frame
from tests.support.processes import child_env, serving_asgi

pytestmark = pytest.mark.django_db(transaction=True)

TRUSTED = "https://console.partner.example"


@pytest.fixture(scope="module")
def site(django_db_setup: Any, django_db_blocker: Any) -> Iterator[Daphne]:
    """daphne on http://127.0.0.1:<port>, with one trusted origin of another site."""
    with django_db_blocker.unblock():
        env = child_env(CSRF_TRUSTED_ORIGINS=TRUSTED, ALLOWED_HOSTS="127.0.0.1")
    with serving_asgi(env) as (port, process):
        yield Daphne(port, process)


async def opened_from(site: Daphne, user: User, origin: str) -> bool:
    """Whether a console opens for `user` when the page's origin is `origin`."""
    ticket = (await database_sync_to_async(issue_ticket)(user))[0]
    conn = await dial(site.url(f"/ws/agent/?ticket={ticket}"), origin=origin)
    try:
        first = await next_frame(conn)
    except ConnectionClosed as closed:
        assert closed.rcvd is not None and closed.rcvd.code == 4403
        return False
    await conn.close()
    return bool(first["type"] == "snapshot")


async def test_the_sites_own_origin_opens_the_console(site: Daphne, agent_a: User) -> None:
    assert await opened_from(site, agent_a, f"http://127.0.0.1:{site.port}")


@pytest.mark.parametrize(
    "origin",
    [
        "http://127.0.0.1:{other_port}",
        "https://127.0.0.1",
        "https://127.0.0.1:{port}",
        "http://127.0.0.1",
    ],
)
async def test_same_host_on_another_port_or_scheme_is_4403(
    site: Daphne, agent_a: User, origin: str
) -> None:
    origin = origin.format(port=site.port, other_port=site.port + 1)
    assert not await opened_from(site, agent_a, origin)


async def test_a_trusted_origin_opens_the_console(site: Daphne, agent_a: User) -> None:
    assert await opened_from(site, agent_a, TRUSTED)
