"""realtime.tickets: signed, expiring, single-use websocket tickets."""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis
from django.conf import settings
from django.core import signing

from realtime import tickets
from routing_service.tenancy.models import User


@pytest.fixture
def user(agent_a: User, redis_client: redis.Redis) -> User:
    return agent_a


def test_valid_ticket_names_its_user(user: User) -> None:
    ticket, _ = tickets.issue_ticket(user)
    assert tickets.redeem_ticket(ticket) == (user.pk, user.credentials_version)


def test_reused_ticket_is_refused(user: User) -> None:
    ticket, _ = tickets.issue_ticket(user)
    assert tickets.redeem_ticket(ticket) == (user.pk, user.credentials_version)
    assert tickets.redeem_ticket(ticket) is None


def test_each_ticket_is_unique(user: User) -> None:
    first, _ = tickets.issue_ticket(user)
    second, _ = tickets.issue_ticket(user)
    assert first != second
    assert tickets.redeem_ticket(first) == (user.pk, user.credentials_version)
    assert tickets.redeem_ticket(second) == (user.pk, user.credentials_version)


def test_expired_ticket_is_refused(user: User, monkeypatch: pytest.MonkeyPatch) -> None:
    issued_at = time.time() - settings.WS_TICKET_TTL_SECONDS - 2
    monkeypatch.setattr(signing.time, "time", lambda: issued_at)
    ticket, _ = tickets.issue_ticket(user)
    monkeypatch.undo()
    assert tickets.redeem_ticket(ticket) is None


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda t: "999:" + t.split(":", 1)[1], id="other-user-id"),
        pytest.param(lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"), id="signature"),
        pytest.param(lambda t: t.rsplit(":", 1)[0], id="signature-removed"),
        pytest.param(lambda t: "", id="empty"),
        pytest.param(lambda t: "x" * 2000, id="huge"),
    ],
)
def test_tampered_ticket_is_refused(user: User, tamper: Any) -> None:
    ticket, _ = tickets.issue_ticket(user)
    assert tickets.redeem_ticket(tamper(ticket)) is None
    # The untouched ticket still works: a forged copy does not burn the real one.
    assert tickets.redeem_ticket(ticket) == (user.pk, user.credentials_version)


def test_ticket_signed_with_another_salt_is_refused(user: User) -> None:
    forged = signing.TimestampSigner(salt="something-else").sign(f"{user.pk}:0:nonce")
    assert tickets.redeem_ticket(forged) is None


def test_single_use_is_recorded_under_the_key_prefix(user: User, redis_client: redis.Redis) -> None:
    ticket, _ = tickets.issue_ticket(user)
    tickets.redeem_ticket(ticket)
    keys = redis_client.keys(f"{settings.REDIS_KEY_PREFIX}:wsticket:*")
    assert len(keys) == 1
    assert 0 < redis_client.ttl(keys[0]) <= settings.WS_TICKET_TTL_SECONDS + 5


async def test_async_redeem_shares_the_single_use_record(user: User) -> None:
    ticket, _ = tickets.issue_ticket(user)
    assert await tickets.aredeem_ticket(ticket) == (user.pk, user.credentials_version)
    assert await tickets.aredeem_ticket(ticket) is None
    assert tickets.redeem_ticket(ticket) is None


async def test_async_redeem_refuses_tampered_ticket(user: User) -> None:
    ticket, _ = tickets.issue_ticket(user)
    assert await tickets.aredeem_ticket(ticket + "x") is None


def test_ticket_names_the_credentials_stamp_it_was_issued_under(user: User) -> None:
    """The consumer compares it with the user's current one (tests/realtime/test_revocation)."""
    User.objects.filter(pk=user.pk).update(credentials_version=7)
    user.refresh_from_db()
    ticket, _ = tickets.issue_ticket(user)
    assert tickets.redeem_ticket(ticket) == (user.pk, 7)


def test_ticket_without_a_stamp_is_refused(user: User) -> None:
    """The format before stamps (`<user id>:<nonce>`) is not accepted: it could outlive one."""
    unstamped = signing.TimestampSigner(salt="switchboard.realtime.wsticket").sign(
        f"{user.pk}:somenonce"
    )
    assert tickets.redeem_ticket(unstamped) is None
