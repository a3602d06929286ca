"""Failed-login throttling on the three password logins: `/accounts/login/`, `/admin/login/` and
`POST /api/v1/auth/token/` — against the real Redis, through the real views."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import redis
from django.conf import LazySettings
from django.http import HttpResponse
from django.test import Client
from rest_framework.test import APIClient

from routing_service.security import login_throttle
from routing_service.tenancy.models import User
from tests.security.conftest import PASSWORD
from tests.support.processes import free_port

pytestmark = pytest.mark.django_db

ATTACKER = "198.51.100.7"
ELSEWHERE = "192.0.2.44"
LOCKED_TEXT = "Too many failed log-in attempts"

Login = Callable[..., HttpResponse]


def web_login(username: str, password: str, address: str = ATTACKER, **extra: str) -> HttpResponse:
    return Client().post(
        "/accounts/login/",
        {"username": username, "password": password},
        REMOTE_ADDR=address,
        **extra,
    )


def admin_login(
    username: str, password: str, address: str = ATTACKER, **extra: str
) -> HttpResponse:
    return Client().post(
        "/admin/login/?next=/admin/",
        {"username": username, "password": password, "next": "/admin/"},
        REMOTE_ADDR=address,
        **extra,
    )


def token_login(
    username: str, password: str, address: str = ATTACKER, **extra: str
) -> HttpResponse:
    return APIClient().post(  # type: ignore[no-any-return]
        "/api/v1/auth/token/",
        {"username": username, "password": password},
        format="json",
        REMOTE_ADDR=address,
        **extra,
    )


def succeeded(response: HttpResponse) -> bool:
    """A login that went through: the pages redirect, the API hands out a token."""
    if response["Content-Type"] == "application/json":
        return response.status_code == 200 and "token" in response.json()
    return response.status_code == 302


def refused_as_wrong(response: HttpResponse) -> bool:
    """A plain wrong password: the form again (200) or the API's 400, not a lock-out."""
    return response.status_code in {200, 400} and not succeeded(response)


def assert_locked(response: HttpResponse, lockout: int) -> None:
    assert response.status_code == 429, response.content[:300]
    assert 0 < int(response["Retry-After"]) <= lockout
    assert LOCKED_TEXT in response.content.decode()


SURFACES = pytest.mark.parametrize(
    "login", [web_login, admin_login, token_login], ids=["web", "admin", "api-token"]
)


@SURFACES
def test_an_account_is_locked_from_one_address_after_the_limit(
    login: Login, limits: LazySettings, boss: User
) -> None:
    for _ in range(2):
        assert refused_as_wrong(login("boss", "wrong-guess"))
    # The third failure reaches the limit: this answer already says so.
    assert_locked(login("boss", "wrong-guess"), 120)
    # Locked: even the right password is refused, without being checked.
    assert_locked(login("boss", PASSWORD), 120)


@SURFACES
def test_the_real_user_elsewhere_and_other_accounts_here_still_log_in(
    login: Login, limits: LazySettings, boss: User, make_user: Callable[..., User]
) -> None:
    colleague = make_user(boss.company, boss.role, username="colleague", password=PASSWORD)
    for _ in range(3):
        login("boss", "wrong-guess")
    assert login("boss", PASSWORD).status_code == 429
    # The attacker cannot lock the real user out from the user's own address...
    assert succeeded(login("boss", PASSWORD, address=ELSEWHERE))
    # ...nor a colleague who shares the attacker's address (below the address limit).
    assert succeeded(login(colleague.username, PASSWORD))


@SURFACES
def test_spraying_many_accounts_from_one_address_locks_the_address(
    login: Login, limits: LazySettings, boss: User
) -> None:
    for n in range(5):
        assert refused_as_wrong(login(f"guess-{n}", "wrong-guess"))
    assert_locked(login("guess-5", "wrong-guess"), 120)
    assert login("boss", PASSWORD).status_code == 429
    assert succeeded(login("boss", PASSWORD, address=ELSEWHERE))


def test_thirty_wrong_web_logins_meet_the_default_limit(boss: User) -> None:
    """The issue's report, with the shipped defaults: 30 wrong logins went through unhindered."""
    statuses = [web_login("boss", f"guess-{n}").status_code for n in range(30)]
    assert statuses[:4] == [200] * 4
    assert statuses[4:] == [429] * 26


def test_fifty_wrong_token_requests_meet_the_default_limit(boss: User) -> None:
    statuses = [token_login(f"user-{n}", "guess").status_code for n in range(50)]
    assert statuses[:19] == [400] * 19
    assert statuses[19:] == [429] * 31


def test_the_web_form_shows_a_readable_message(limits: LazySettings, alice: User) -> None:
    for _ in range(2):
        page = web_login("alice", "wrong-guess").content.decode()
        assert "password didn't match" in page and LOCKED_TEXT not in page
    page = web_login("alice", "wrong-guess").content.decode()
    message = "Too many failed log-in attempts. Please try again in 2 minutes."
    assert f'role="alert" id="login-locked">{message}' in page
    assert "password didn't match" not in page
    assert 'name="username"' in page  # the form is still there


def test_the_admin_form_shows_a_readable_message(limits: LazySettings, boss: User) -> None:
    for _ in range(3):
        response = admin_login("boss", "wrong-guess")
    page = response.content.decode()
    assert response.status_code == 429
    assert "errornote" in page and "Please try again in 2 minutes." in page
    assert 'name="username"' in page


def test_the_api_says_why_in_json(limits: LazySettings, alice: User) -> None:
    for _ in range(3):
        response = token_login("alice", "wrong-guess")
    assert response.status_code == 429
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "detail": "Too many failed log-in attempts. Please try again in 2 minutes."
    }


def test_the_three_logins_share_one_count(limits: LazySettings, boss: User) -> None:
    """A guesser cannot get three times the attempts by using every door."""
    assert refused_as_wrong(web_login("boss", "one"))
    assert refused_as_wrong(admin_login("boss", "two"))
    assert token_login("boss", "three").status_code == 429
    assert web_login("boss", PASSWORD).status_code == 429


def test_a_success_forgets_the_accounts_failures(limits: LazySettings, alice: User) -> None:
    for _ in range(2):
        web_login("alice", "typo")
    assert succeeded(web_login("alice", PASSWORD))
    for _ in range(2):
        assert refused_as_wrong(web_login("alice", "typo"))


def test_usernames_are_counted_whatever_their_case(limits: LazySettings, alice: User) -> None:
    web_login("alice", "one")
    web_login("ALICE", "two")
    assert web_login("Alice", "three").status_code == 429


def test_the_lock_ends_after_the_lockout(
    settings: LazySettings, alice: User, redis_client: redis.Redis
) -> None:
    settings.LOGIN_FAILURES_PER_ACCOUNT = 2
    settings.LOGIN_LOCKOUT_SECONDS = 60
    web_login("alice", "one")
    assert web_login("alice", "two").status_code == 429
    assert web_login("alice", PASSWORD).status_code == 429
    # The lock-out runs out (a minute, shortened here: a 1 s lock-out raced a loaded machine).
    keys = list(redis_client.scan_iter(match=f"{settings.REDIS_KEY_PREFIX}:login:*"))
    assert keys and all(50 < redis_client.ttl(key) <= 60 for key in keys)
    for key in keys:
        redis_client.pexpire(key, 1)
    time.sleep(0.05)
    assert succeeded(web_login("alice", PASSWORD))


def test_refused_attempts_do_not_prolong_the_lock(
    limits: LazySettings, alice: User, redis_client: redis.Redis
) -> None:
    for _ in range(3):
        web_login("alice", "wrong")
    keys = list(redis_client.scan_iter(match=f"{limits.REDIS_KEY_PREFIX}:login:*"))
    assert keys, "the counters live in Redis under the run's prefix"
    redis_client.expire(keys[0], 30)
    redis_client.expire(keys[1], 30)
    for _ in range(5):
        assert web_login("alice", PASSWORD).status_code == 429
    assert all(0 < redis_client.ttl(key) <= 30 for key in keys)


def test_parallel_attempts_in_flight_count_against_the_limit(limits: LazySettings, rf: Any) -> None:
    """Attempts are counted as they start: a burst whose passwords are still being hashed
    cannot all slip past a check made before any of them failed."""
    request = rf.post("/accounts/login/", REMOTE_ADDR=ATTACKER)
    in_flight = [login_throttle.begin(request, "alice") for _ in range(3)]
    with pytest.raises(login_throttle.LoginLocked):
        login_throttle.begin(request, "alice")
    in_flight[0].succeeded()  # one of them was right: the pair starts afresh
    login_throttle.begin(request, "alice")


def test_behind_a_proxy_the_client_is_what_the_proxy_appended(
    limits: LazySettings, alice: User
) -> None:
    """nginx appends the address it saw to X-Forwarded-For; whatever the client put in front
    is forged, and rotating it must not buy more guesses."""
    limits.TRUSTED_PROXY_COUNT = 1
    nginx = "10.0.0.2"
    for n in range(2):
        assert refused_as_wrong(
            web_login(
                "alice", "wrong", address=nginx, HTTP_X_FORWARDED_FOR=f"10.9.9.{n}, {ATTACKER}"
            )
        )
    assert (
        web_login(
            "alice", "wrong", address=nginx, HTTP_X_FORWARDED_FOR=f"10.9.9.77, {ATTACKER}"
        ).status_code
        == 429
    )
    # alice herself, through the same nginx, from her own address:
    assert succeeded(web_login("alice", PASSWORD, address=nginx, HTTP_X_FORWARDED_FOR=ELSEWHERE))


def test_without_a_trusted_proxy_forwarded_for_is_ignored(
    limits: LazySettings, alice: User
) -> None:
    """Nothing stands in front: the header is the client's own writing."""
    assert limits.TRUSTED_PROXY_COUNT == 0
    for n in range(2):
        assert refused_as_wrong(web_login("alice", "wrong", HTTP_X_FORWARDED_FOR=f"10.9.9.{n}"))
    assert web_login("alice", "wrong", HTTP_X_FORWARDED_FOR="10.9.9.99").status_code == 429


def test_ipv6_clients_are_counted_per_64(limits: LazySettings, alice: User) -> None:
    """One subscriber holds a whole /64: hopping inside it does not reset the count."""
    web_login("alice", "one", address="2001:db8:1:2::10")
    web_login("alice", "two", address="2001:db8:1:2:ffff::1")
    assert web_login("alice", "three", address="2001:db8:1:2::abcd").status_code == 429
    assert succeeded(web_login("alice", PASSWORD, address="2001:db8:1:3::10"))


def test_a_redis_outage_leaves_logins_working(limits: LazySettings, alice: User) -> None:
    """Fails open: without Redis nobody would log in at all (the outage is logged)."""
    limits.CACHE_REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    for _ in range(4):
        assert refused_as_wrong(web_login("alice", "wrong"))
    assert succeeded(web_login("alice", PASSWORD))
