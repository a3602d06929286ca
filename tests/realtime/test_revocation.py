"""Revocation: deactivating a user, or changing their password, role or company, closes every
socket they have open with 4401 within 2 s, refuses an action already on its way, and kills the
tickets issued before. Changes are made through the REST API, as an admin would."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.db.models import F
from rest_framework.test import APIClient

from realtime.tickets import issue_ticket
from routing_service.chats.models import Message, MessageDirection
from routing_service.tenancy import actions
from routing_service.tenancy.models import AgentStatus, Company, Role, User
from tests.realtime.sockets import Closed, Socket

pytestmark = pytest.mark.django_db(transaction=True)

Open = Callable[..., Awaitable[Socket]]
ApiFor = Callable[[User | None], APIClient]

# The brief: every socket of the user is closed within this long of the change.
DEADLINE_SECONDS = 2.0


@database_sync_to_async
def db(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return func(*args, **kwargs)


async def open_with_ticket(ws: Open, user: User, path: str = "/ws/agent/") -> Socket:
    ticket, _ = issue_ticket(user)
    sock = await ws(f"{path}?ticket={ticket}")
    assert (await sock.frame())["type"] == "snapshot"
    return sock


async def frames_until_close(sock: Socket, timeout: float) -> tuple[list[dict[str, Any]], int]:
    """Every frame the server sends until it closes, and the close code; fails past `timeout`."""
    frames: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            frames.append(await sock.frame(timeout=max(deadline - time.monotonic(), 0.01)))
    except Closed as closed:
        assert closed.code is not None
        return frames, closed.code
    except TimeoutError:
        sock.disconnected = True  # the communicator has cancelled the application
        raise AssertionError(f"still open after {timeout} s; sent {frames}") from None


async def drain(sock: Socket, quiet: float = 0.5, limit: float = 5.0) -> None:
    """Read what the server sends until it has been quiet for `quiet` seconds (raises Closed
    if it closes meanwhile)."""
    deadline = time.monotonic() + limit
    while not await sock.nothing(quiet):
        assert time.monotonic() < deadline, "the server never went quiet"
        await sock.frame()


async def close_code(sock: Socket, timeout: float = DEADLINE_SECONDS) -> int:
    return (await frames_until_close(sock, timeout))[1]


def replies_to(frames: list[dict[str, Any]], request_id: str) -> list[dict[str, Any]]:
    return [
        f
        for f in frames
        if f["type"] in {"ack", "error"} and f["data"].get("request_id") == request_id
    ]


def outbound_texts(conversation_id: int) -> list[str]:
    return list(
        Message.objects.unscoped()
        .filter(conversation_id=conversation_id, direction=MessageDirection.OUTBOUND)
        .values_list("text", flat=True)
    )


async def test_deactivated_agents_console_closes_4401_and_a_reply_just_after_is_not_sent(
    ws: Open, api: ApiFor, agent_a: User, admin_a: User, channel_a: Any, inbound: Any
) -> None:
    chat = await db(inbound, channel_a, "client-1")
    sock = await open_with_ticket(ws, agent_a)
    assert (await sock.request("accept", conversation_id=chat))["type"] == "ack"

    started = time.monotonic()
    response = await db(lambda: api(admin_a).delete(f"/api/v1/users/{agent_a.pk}/"))
    assert response.status_code == 204
    await sock.send(
        {"action": "reply", "request_id": "late", "conversation_id": chat, "text": "Still here"}
    )
    frames, code = await frames_until_close(sock, DEADLINE_SECONDS)

    assert code == 4401
    assert time.monotonic() - started < DEADLINE_SECONDS
    assert all(f["type"] == "error" for f in replies_to(frames, "late"))
    assert await db(outbound_texts, chat) == []


async def test_password_change_closes_the_console_and_refuses_set_status(
    ws: Open, api: ApiFor, agent_a: User, admin_a: User
) -> None:
    sock = await open_with_ticket(ws, agent_a)

    started = time.monotonic()
    response = await db(
        lambda: api(admin_a).patch(
            f"/api/v1/users/{agent_a.pk}/", {"password": "a-brand-new-pass-42"}, format="json"
        )
    )
    assert response.status_code == 200
    await sock.send({"action": "set_status", "request_id": "late", "status": "away"})
    frames, code = await frames_until_close(sock, DEADLINE_SECONDS)

    assert code == 4401
    assert time.monotonic() - started < DEADLINE_SECONDS
    assert all(f["type"] == "error" for f in replies_to(frames, "late"))
    status = await db(lambda: User.objects.get(pk=agent_a.pk).status)
    assert status == AgentStatus.AVAILABLE


@pytest.mark.parametrize("change", ["role", "company"])
async def test_role_or_company_change_closes_the_console(
    ws: Open,
    api: ApiFor,
    agent_a: User,
    superadmin: User,
    company_b: Company,
    channel_a: Any,
    inbound: Any,
    change: str,
) -> None:
    chat = await db(inbound, channel_a, "client-1")
    sock = await open_with_ticket(ws, agent_a)
    body = {"role": Role.SUPERVISOR} if change == "role" else {"company": company_b.pk}

    started = time.monotonic()
    response = await db(
        lambda: api(superadmin).patch(f"/api/v1/users/{agent_a.pk}/", body, format="json")
    )
    assert response.status_code == 200, response.json()
    await sock.send(
        {"action": "reply", "request_id": "late", "conversation_id": chat, "text": "Hello"}
    )
    frames, code = await frames_until_close(sock, DEADLINE_SECONDS)

    assert code == 4401
    assert time.monotonic() - started < DEADLINE_SECONDS
    assert all(f["type"] == "error" for f in replies_to(frames, "late"))
    assert await db(outbound_texts, chat) == []


async def test_deactivated_supervisors_wallboard_closes_4401(
    ws: Open, api: ApiFor, supervisor_a: User, admin_a: User
) -> None:
    wallboard = await open_with_ticket(ws, supervisor_a, "/ws/wallboard/")

    started = time.monotonic()
    response = await db(lambda: api(admin_a).delete(f"/api/v1/users/{supervisor_a.pk}/"))
    assert response.status_code == 204
    _, code = await frames_until_close(wallboard, DEADLINE_SECONDS)

    assert code == 4401
    assert time.monotonic() - started < DEADLINE_SECONDS


async def test_every_socket_of_the_user_closes_and_no_one_elses(
    ws: Open, api: ApiFor, make_agent: Callable[..., User], company_a: Company, admin_a: User
) -> None:
    leaving = await db(make_agent, company_a, Role.SUPERVISOR)
    staying = await db(make_agent, company_a)
    consoles = [await open_with_ticket(ws, leaving) for _ in range(2)]
    wallboard = await open_with_ticket(ws, leaving, "/ws/wallboard/")
    bystander = await open_with_ticket(ws, staying)

    await db(lambda: api(admin_a).delete(f"/api/v1/users/{leaving.pk}/"))

    for sock in [*consoles, wallboard]:
        _, code = await frames_until_close(sock, DEADLINE_SECONDS)
        assert code == 4401
    assert (await bystander.request("ping"))["type"] == "ack"


async def test_action_re_checks_the_user_row_not_the_copy_from_connect(
    ws: Open, agent_a: User, channel_a: Any, inbound: Any
) -> None:
    """No close message at all (the row changed behind the actions' back): the next action
    still reads the row, is refused with an `error`, and the socket closes 4401."""
    chat = await db(inbound, channel_a, "client-1")
    sock = await open_with_ticket(ws, agent_a)
    await sock.request("accept", conversation_id=chat)
    await db(lambda: User.objects.filter(pk=agent_a.pk).update(is_active=False))

    await sock.send(
        {"action": "reply", "request_id": "stale", "conversation_id": chat, "text": "Hi"}
    )
    frames, code = await frames_until_close(sock, DEADLINE_SECONDS)

    [refusal] = replies_to(frames, "stale")
    assert refusal["type"] == "error"
    assert refusal["data"]["code"] == "unauthenticated"
    assert code == 4401
    assert await db(outbound_texts, chat) == []


async def test_action_is_refused_after_a_credentials_change_whose_close_was_lost(
    ws: Open, agent_a: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The channel layer may drop the close message (it is not a durable record): the stamp
    on the user row still refuses the next action."""
    sock = await open_with_ticket(ws, agent_a)
    await db(
        lambda: User.objects.filter(pk=agent_a.pk).update(
            credentials_version=F("credentials_version") + 1
        )
    )

    error = await sock.request("set_status", status="away")

    assert (error["type"], error["data"]["code"]) == ("error", "unauthenticated")
    assert await close_code(sock) == 4401
    assert await db(lambda: User.objects.get(pk=agent_a.pk).status) == AgentStatus.AVAILABLE


async def test_a_ticket_issued_before_a_password_change_opens_nothing(
    ws: Open, api: ApiFor, agent_a: User, admin_a: User
) -> None:
    old_ticket, _ = issue_ticket(agent_a)
    response = await db(
        lambda: api(admin_a).patch(
            f"/api/v1/users/{agent_a.pk}/", {"password": "a-brand-new-pass-42"}, format="json"
        )
    )
    assert response.status_code == 200

    refused = await ws(f"/ws/agent/?ticket={old_ticket}")
    assert await close_code(refused) == 4401

    fresh = await db(lambda: User.objects.get(pk=agent_a.pk))
    assert (await open_with_ticket(ws, fresh)).closed_with is None


async def test_a_ticket_issued_before_a_role_change_opens_nothing(
    ws: Open, agent_a: User, admin_a: User
) -> None:
    old_ticket, _ = issue_ticket(agent_a)
    await db(actions.update_user, agent_a, role=Role.SUPERVISOR)

    refused = await ws(f"/ws/agent/?ticket={old_ticket}")
    assert await close_code(refused) == 4401


async def test_session_socket_closes_on_password_change_and_the_cookie_is_dead(
    ws: Open, api: ApiFor, agent_a: User, admin_a: User, login: Callable[[User], str]
) -> None:
    cookie = await db(login, agent_a)
    sock = await ws("/ws/agent/", cookie=cookie)
    assert (await sock.frame())["type"] == "snapshot"

    await db(
        lambda: api(admin_a).patch(
            f"/api/v1/users/{agent_a.pk}/", {"password": "a-brand-new-pass-42"}, format="json"
        )
    )

    assert (await frames_until_close(sock, DEADLINE_SECONDS))[1] == 4401
    again = await ws("/ws/agent/", cookie=cookie)
    assert await close_code(again) == 4401


async def test_session_socket_of_a_deactivated_user_closes_and_cannot_reopen(
    ws: Open, api: ApiFor, agent_a: User, admin_a: User, login: Callable[[User], str]
) -> None:
    cookie = await db(login, agent_a)
    sock = await ws("/ws/agent/", cookie=cookie)
    assert (await sock.frame())["type"] == "snapshot"

    await db(lambda: api(admin_a).delete(f"/api/v1/users/{agent_a.pk}/"))

    assert (await frames_until_close(sock, DEADLINE_SECONDS))[1] == 4401
    again = await ws("/ws/agent/", cookie=cookie)
    assert await close_code(again) == 4401


async def test_revoking_my_tokens_closes_my_sockets_and_kills_my_tickets(
    ws: Open, api: ApiFor, agent_a: User
) -> None:
    client = await db(api, agent_a)
    sock = await open_with_ticket(ws, agent_a)
    unused_ticket, _ = issue_ticket(agent_a)

    response = await db(lambda: client.post("/api/v1/auth/token/revoke/"))

    assert response.status_code == 204
    assert (await frames_until_close(sock, DEADLINE_SECONDS))[1] == 4401
    assert await close_code(await ws(f"/ws/agent/?ticket={unused_ticket}")) == 4401


async def test_sweep_closes_a_socket_whose_close_message_was_lost(
    ws: Open, supervisor_a: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A wallboard sends no actions: if the close message is lost, the periodic re-check of
    the process' open sockets still closes it."""
    from realtime import revocation
    from routing_service.tenancy import sockets

    wallboard = await open_with_ticket(ws, supervisor_a, "/ws/wallboard/")
    monkeypatch.setattr(sockets, "close_user_sockets", lambda *args, **kwargs: None)
    await db(actions.deactivate_user, supervisor_a)
    await drain(wallboard)  # still open: nothing told it

    closed = await revocation.sweep()

    assert closed == 1
    assert (await frames_until_close(wallboard, DEADLINE_SECONDS))[1] == 4401


async def test_deactivating_the_company_closes_its_peoples_sockets(
    ws: Open,
    api: ApiFor,
    agent_a: User,
    supervisor_a: User,
    agent_b: User,
    superadmin: User,
    company_a: Company,
) -> None:
    console = await open_with_ticket(ws, agent_a)
    wallboard = await open_with_ticket(ws, supervisor_a, "/ws/wallboard/")
    elsewhere = await open_with_ticket(ws, agent_b)

    response = await db(
        lambda: api(superadmin).patch(
            f"/api/v1/companies/{company_a.pk}/", {"is_active": False}, format="json"
        )
    )
    assert response.status_code == 200

    assert await close_code(console) == 4401
    assert await close_code(wallboard) == 4401
    assert (await elsewhere.request("ping"))["type"] == "ack"


async def test_password_changed_behind_the_actions_back_refuses_the_next_action(
    ws: Open, agent_a: User
) -> None:
    """A shell's `set_password()` + `save()` raises no stamp and sends no close: the action's
    re-read of the row still sees another password."""
    sock = await open_with_ticket(ws, agent_a)

    def change_in_a_shell() -> None:
        user = User.objects.get(pk=agent_a.pk)
        user.set_password("changed-in-a-shell-42")
        user.save()

    await db(change_in_a_shell)
    error = await sock.request("set_status", status="away")

    assert (error["type"], error["data"]["code"]) == ("error", "unauthenticated")
    assert await close_code(sock) == 4401
