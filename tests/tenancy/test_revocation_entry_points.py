"""Every way a user's credentials change goes through one action (tenancy.actions), so each of
them closes the user's open sockets and, for a password, rotates their API token: the REST API
(tests/realtime/test_revocation.py), the admin's user form and password forms, the admin's own
"change my password" page, `manage.py changepassword`, and code calling the actions."""

from __future__ import annotations

import io
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.core.management import call_command
from django.test import Client as HttpClient
from django.urls import reverse
from rest_framework.authtoken.models import Token

from realtime.tickets import issue_ticket
from routing_service.tenancy import actions
from routing_service.tenancy.models import AgentStatus, Company, Role, User
from tests.realtime.sockets import Closed, Socket, open_socket

pytestmark = pytest.mark.django_db(transaction=True)

NEW_PASSWORD = "a-brand-new-pass-42"
DEADLINE_SECONDS = 2.0


@database_sync_to_async
def db(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return func(*args, **kwargs)


@pytest.fixture
def agent(make_user: Callable[..., User], company_a: Company) -> User:
    return make_user(company_a, Role.AGENT, username="agent-a", status=AgentStatus.AVAILABLE)


@pytest.fixture
async def live() -> AsyncIterator[Callable[[User, str], Awaitable[Socket]]]:
    opened: list[Socket] = []

    async def open_(user: User, path: str = "/ws/agent/") -> Socket:
        ticket, _ = issue_ticket(user)
        sock = await open_socket(f"{path}?ticket={ticket}")
        opened.append(sock)
        assert (await sock.frame())["type"] == "snapshot"
        return sock

    yield open_
    for sock in opened:
        await sock.disconnect()


async def closed_within_deadline(sock: Socket) -> int | None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    try:
        while True:
            await sock.frame(timeout=max(deadline - time.monotonic(), 0.01))
    except Closed as closed:
        return closed.code
    except TimeoutError:
        sock.disconnected = True  # the communicator has cancelled the application
        raise AssertionError(f"still open after {DEADLINE_SECONDS} s") from None


def token_of(user: User) -> str:
    return Token.objects.get_or_create(user=user)[0].key


def token_alive(key: str) -> bool:
    return Token.objects.filter(key=key).exists()


def logged_in(user: User) -> HttpClient:
    client = HttpClient()
    client.force_login(user)
    return client


def admin_user_form(user: User, **overrides: Any) -> dict[str, Any]:
    """The admin's change form for `user`, as the page would post it unchanged."""
    data = {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "company": user.company_id or "",
        "role": user.role,
        "max_chats": user.max_chats,
        "skills": "[]",
        "languages": "[]",
    }
    if user.is_active:
        data["is_active"] = "on"
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


async def test_admin_user_form_deactivation_closes_the_console(
    live: Any, agent: User, admin_a: User
) -> None:
    sock = await live(agent)

    def deactivate() -> int:
        url = reverse("admin:tenancy_user_change", args=[agent.pk])
        return logged_in(admin_a).post(url, admin_user_form(agent, is_active=None)).status_code

    assert await db(deactivate) == 302
    assert await closed_within_deadline(sock) == 4401
    assert not await db(lambda: User.objects.get(pk=agent.pk).is_active)


async def test_admin_user_form_role_change_closes_the_console(
    live: Any, agent: User, admin_a: User
) -> None:
    sock = await live(agent)

    def promote() -> int:
        url = reverse("admin:tenancy_user_change", args=[agent.pk])
        return logged_in(admin_a).post(url, admin_user_form(agent, role=Role.VIEWER)).status_code

    assert await db(promote) == 302
    assert await closed_within_deadline(sock) == 4401


async def test_admin_user_form_without_a_credential_change_keeps_the_console(
    live: Any, agent: User, admin_a: User
) -> None:
    sock = await live(agent)

    def rename() -> int:
        url = reverse("admin:tenancy_user_change", args=[agent.pk])
        return logged_in(admin_a).post(url, admin_user_form(agent, first_name="Ada")).status_code

    assert await db(rename) == 302
    assert (await sock.request("ping"))["type"] == "ack"


async def test_admin_password_form_closes_the_console_and_rotates_the_token(
    live: Any, agent: User, admin_a: User
) -> None:
    key = await db(token_of, agent)
    sock = await live(agent)

    def change() -> int:
        url = reverse("admin:auth_user_password_change", args=[agent.pk])
        form = {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"}
        return logged_in(admin_a).post(url, form).status_code

    assert await db(change) == 302
    assert await closed_within_deadline(sock) == 4401
    assert not await db(token_alive, key)
    assert await db(lambda: User.objects.get(pk=agent.pk).check_password(NEW_PASSWORD))


async def test_admins_own_password_change_page_closes_their_wallboard(
    live: Any, admin_a: User
) -> None:
    key = await db(token_of, admin_a)
    wallboard = await live(admin_a, "/ws/wallboard/")

    def change() -> int:
        form = {
            "old_password": "pw-123456",
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        }
        return logged_in(admin_a).post(reverse("admin:password_change"), form).status_code

    assert await db(change) == 302
    assert await closed_within_deadline(wallboard) == 4401
    assert not await db(token_alive, key)


async def test_changepassword_command_closes_the_console_and_rotates_the_token(
    live: Any, agent: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = await db(token_of, agent)
    sock = await live(agent)
    monkeypatch.setattr("getpass.getpass", lambda prompt="": NEW_PASSWORD)

    await db(call_command, "changepassword", agent.username, stdout=io.StringIO())

    assert await closed_within_deadline(sock) == 4401
    assert not await db(token_alive, key)
    assert await db(lambda: User.objects.get(pk=agent.pk).check_password(NEW_PASSWORD))


async def test_action_code_closes_the_console(live: Any, agent: User, company_b: Company) -> None:
    sock = await live(agent)

    await db(actions.update_user, agent, company=company_b)

    assert await closed_within_deadline(sock) == 4401
