"""Who may open a socket — over a real daphne, so the close codes are the ones a browser sees."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from channels.db import database_sync_to_async
from django.conf import settings
from django.core import signing

from realtime.tickets import issue_ticket
from routing_service.tenancy.models import Company, Role, User
from tests.realtime.conftest import Daphne
from tests.realtime.wire import close_code, dial, next_frame

pytestmark = pytest.mark.django_db(transaction=True)


async def test_no_cookie_and_no_ticket_is_4401(daphne: Daphne) -> None:
    conn = await dial(daphne.url("/ws/agent/"))
    assert await close_code(conn) == 4401


async def test_session_cookie_opens_the_console(
    daphne: Daphne, agent_a: User, login: Callable[[User], str]
) -> None:
    cookie = await database_sync_to_async(login)(agent_a)
    conn = await dial(daphne.url("/ws/agent/"), cookie=cookie)
    snapshot = await next_frame(conn)
    assert snapshot["type"] == "snapshot"
    assert snapshot["data"]["user"]["id"] == agent_a.pk
    await conn.close()


async def test_unknown_or_ended_session_is_4401(
    daphne: Daphne, agent_a: User, login: Callable[[User], str]
) -> None:
    conn = await dial(daphne.url("/ws/agent/"), cookie="sessionid=not-a-session")
    assert await close_code(conn) == 4401

    cookie = await database_sync_to_async(login)(agent_a)

    def change_password() -> None:
        agent_a.set_password("a-new-password-42")
        agent_a.save()

    await database_sync_to_async(change_password)()  # ends every session, as in Django
    conn = await dial(daphne.url("/ws/agent/"), cookie=cookie)
    assert await close_code(conn) == 4401


async def test_ticket_opens_once_and_only_once(daphne: Daphne, agent_a: User) -> None:
    ticket, _ = issue_ticket(agent_a)
    first = await dial(daphne.url(f"/ws/agent/?ticket={ticket}"))
    assert (await next_frame(first))["type"] == "snapshot"
    await first.close()

    again = await dial(daphne.url(f"/ws/agent/?ticket={ticket}"))
    assert await close_code(again) == 4401


@pytest.mark.parametrize("ticket", ["garbage", "1:abc:def", ""])
async def test_bad_ticket_is_4401(daphne: Daphne, agent_a: User, ticket: str) -> None:
    conn = await dial(daphne.url(f"/ws/agent/?ticket={ticket}"))
    assert await close_code(conn) == 4401


async def test_expired_ticket_is_4401(
    daphne: Daphne, agent_a: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    issued_at = time.time() - settings.WS_TICKET_TTL_SECONDS - 2
    monkeypatch.setattr(signing.time, "time", lambda: issued_at)
    ticket, _ = issue_ticket(agent_a)
    monkeypatch.undo()
    conn = await dial(daphne.url(f"/ws/agent/?ticket={ticket}"))
    assert await close_code(conn) == 4401


async def test_a_bad_ticket_wins_over_a_good_cookie(
    daphne: Daphne, agent_a: User, login: Callable[[User], str]
) -> None:
    cookie = await database_sync_to_async(login)(agent_a)
    conn = await dial(daphne.url("/ws/agent/?ticket=forged"), cookie=cookie)
    assert await close_code(conn) == 4401


async def test_inactive_user_is_4401(daphne: Daphne, agent_a: User) -> None:
    ticket, _ = issue_ticket(agent_a)
    await database_sync_to_async(User.objects.filter(pk=agent_a.pk).update)(is_active=False)
    conn = await dial(daphne.url(f"/ws/agent/?ticket={ticket}"))
    assert await close_code(conn) == 4401


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "null", "http://localhost.evil.example"]
)
async def test_foreign_origin_is_4403_even_with_a_valid_session(
    daphne: Daphne, agent_a: User, login: Callable[[User], str], origin: str
) -> None:
    cookie = await database_sync_to_async(login)(agent_a)
    conn = await dial(daphne.url("/ws/agent/"), cookie=cookie, origin=origin)
    assert await close_code(conn) == 4403


async def test_no_origin_is_a_non_browser_client_and_allowed(daphne: Daphne, agent_a: User) -> None:
    ticket, _ = issue_ticket(agent_a)
    conn = await dial(daphne.url(f"/ws/agent/?ticket={ticket}"), origin=None)
    assert (await next_frame(conn))["type"] == "snapshot"
    await conn.close()


@pytest.mark.parametrize("role", [Role.VIEWER, Role.AGENT])
async def test_wallboard_refuses_viewers_and_agents_with_4403(
    daphne: Daphne, company_a: Company, make_user: Callable[..., User], role: str
) -> None:
    user = await database_sync_to_async(make_user)(company_a, role)
    ticket, _ = issue_ticket(user)
    conn = await dial(daphne.url(f"/ws/wallboard/?ticket={ticket}"))
    assert await close_code(conn) == 4403


@pytest.mark.parametrize("role", [Role.VIEWER, Role.COMPANY_ADMIN])
async def test_console_refuses_roles_that_take_no_chats_with_4403(
    daphne: Daphne, company_a: Company, make_user: Callable[..., User], role: str
) -> None:
    user = await database_sync_to_async(make_user)(company_a, role)
    ticket, _ = issue_ticket(user)
    conn = await dial(daphne.url(f"/ws/agent/?ticket={ticket}"))
    assert await close_code(conn) == 4403


@pytest.mark.parametrize("role", [Role.SUPERVISOR, Role.COMPANY_ADMIN])
async def test_wallboard_opens_for_supervisors_and_admins(
    daphne: Daphne, company_a: Company, make_user: Callable[..., User], role: str
) -> None:
    user = await database_sync_to_async(make_user)(company_a, role)
    ticket, _ = issue_ticket(user)
    conn = await dial(daphne.url(f"/ws/wallboard/?ticket={ticket}"))
    snapshot = await next_frame(conn)
    assert snapshot["type"] == "snapshot"
    assert snapshot["data"]["company"]["id"] == company_a.pk
    await conn.close()


async def test_wallboard_of_another_company_is_4403(
    daphne: Daphne, supervisor_a: User, company_b: Company
) -> None:
    ticket, _ = issue_ticket(supervisor_a)
    conn = await dial(daphne.url(f"/ws/wallboard/?ticket={ticket}&company={company_b.pk}"))
    assert await close_code(conn) == 4403


async def test_superadmin_must_name_the_company(
    daphne: Daphne, superadmin: User, company_b: Company
) -> None:
    ticket, _ = issue_ticket(superadmin)
    conn = await dial(daphne.url(f"/ws/wallboard/?ticket={ticket}"))
    assert await close_code(conn) == 4400

    ticket, _ = issue_ticket(superadmin)
    conn = await dial(daphne.url(f"/ws/wallboard/?ticket={ticket}&company=999999"))
    assert await close_code(conn) == 4404

    ticket, _ = issue_ticket(superadmin)
    conn = await dial(daphne.url(f"/ws/wallboard/?ticket={ticket}&company={company_b.pk}"))
    snapshot = await next_frame(conn)
    assert snapshot["data"]["company"]["id"] == company_b.pk
    await conn.close()


@pytest.mark.parametrize("query", ["last_seq=-1", "last_seq=abc", "last_seq=1&last_seq=2"])
async def test_malformed_query_is_4400(daphne: Daphne, agent_a: User, query: str) -> None:
    ticket, _ = issue_ticket(agent_a)
    conn = await dial(daphne.url(f"/ws/agent/?ticket={ticket}&{query}"))
    assert await close_code(conn) == 4400


async def test_unknown_path_is_4404(daphne: Daphne) -> None:
    conn = await dial(daphne.url("/ws/nowhere/"))
    assert await close_code(conn) == 4404
