"""Password reset under /accounts/: Django's flow, throttled per email and per client address,
and a reset ends what the old password opened (other sessions, API tokens)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
from django.core import mail
from django.test import Client as PageClient
from rest_framework.authtoken.models import Token

from routing_service.tenancy.models import Company, Role, User
from routing_service.tenancy.password_reset import PER_CLIENT, PER_EMAIL
from tests.support.processes import ROOT

pytestmark = pytest.mark.django_db

LINK = re.compile(r"https?://[^/\s]+(/accounts/reset/[^/\s]+/[^/\s]+/)")


@pytest.fixture
def alice(make_user: Callable[..., User], company_a: Company, redis_client: Any) -> User:
    """An agent with an email address (and no throttle counters left by another test)."""
    return make_user(company_a, Role.AGENT, username="alice", email="alice@example.com")


def ask_for_reset(page: PageClient, email: str, address: str = "198.51.100.7") -> Any:
    return page.post("/accounts/password_reset/", {"email": email}, REMOTE_ADDR=address)


def test_the_login_page_links_to_the_reset_form() -> None:
    login = PageClient().get("/accounts/login/")
    assert b'href="/accounts/password_reset/"' in login.content
    form = PageClient().get("/accounts/password_reset/")
    assert form.status_code == 200 and b'name="email"' in form.content


def test_a_reset_link_sets_a_new_password_and_ends_the_old_one_s_access(alice: User) -> None:
    token = Token.objects.create(user=alice)
    elsewhere = PageClient()
    assert elsewhere.login(username="alice", password="pw-123456")
    assert elsewhere.get("/console/").status_code == 200

    page = PageClient()
    answer = ask_for_reset(page, "ALICE@example.com")
    assert answer.status_code == 302 and answer["Location"] == "/accounts/password_reset/done/"
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["alice@example.com"]
    assert "Switchboard" in mail.outbox[0].subject
    match = LINK.search(mail.outbox[0].body)
    assert match, mail.outbox[0].body

    form = page.get(match.group(1), follow=True)
    assert form.status_code == 200 and form.context["validlink"]
    done = page.post(
        form.redirect_chain[-1][0],
        {"new_password1": "a-new-pass-2025", "new_password2": "a-new-pass-2025"},
    )
    assert done.status_code == 302 and done["Location"] == "/accounts/reset/done/"

    alice.refresh_from_db()
    assert alice.check_password("a-new-pass-2025") and not alice.check_password("pw-123456")
    assert not Token.objects.filter(key=token.key).exists()  # API clients log in again
    assert elsewhere.get("/console/").status_code == 302  # the other session is over
    # The link worked once.
    assert not page.get(match.group(1), follow=True).context["validlink"]
    fresh = PageClient()
    assert fresh.login(username="alice", password="a-new-pass-2025")


def test_an_unknown_address_gets_the_same_answer_and_no_email(alice: User) -> None:
    answer = ask_for_reset(PageClient(), "nobody@example.com")
    assert answer.status_code == 302 and answer["Location"] == "/accounts/password_reset/done/"
    assert mail.outbox == []


def test_one_address_gets_a_few_emails_an_hour_at_most(alice: User) -> None:
    page = PageClient()
    for n in range(PER_EMAIL):
        # From different clients: the per-email limit holds whoever asks.
        assert ask_for_reset(page, "alice@example.com", f"198.51.100.{n + 1}").status_code == 302
    refused = ask_for_reset(page, "alice@example.com", "198.51.100.99")
    assert refused.status_code == 429
    assert b"Too many password reset requests" in refused.content
    assert len(mail.outbox) == PER_EMAIL


def test_one_client_cannot_walk_a_list_of_addresses(alice: User) -> None:
    page = PageClient()
    for n in range(PER_CLIENT):
        assert ask_for_reset(page, f"someone{n}@example.com", "203.0.113.5").status_code == 302
    assert ask_for_reset(page, "alice@example.com", "203.0.113.5").status_code == 429
    assert mail.outbox == []
    # Another client is not held up by that one.
    assert ask_for_reset(page, "alice@example.com", "203.0.113.6").status_code == 302
    assert len(mail.outbox) == 1


def email_settings(**env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "routing_service.settings", **env}
    for name in ("EMAIL_BACKEND", "EMAIL_HOST", "EMAIL_USE_TLS", "EMAIL_USE_SSL", "EMAIL_PORT"):
        if name not in env:
            environment.pop(name, None)
    show = "print(settings.EMAIL_BACKEND, settings.EMAIL_PORT)"
    return subprocess.run(
        [sys.executable, "-c", f"from django.conf import settings; {show}"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_email_goes_to_the_console_unless_a_smtp_host_is_set() -> None:
    console = email_settings()
    assert console.stdout.split() == ["django.core.mail.backends.console.EmailBackend", "25"]
    smtp = email_settings(EMAIL_HOST="smtp.example.com", EMAIL_USE_TLS="true")
    assert smtp.stdout.split() == ["django.core.mail.backends.smtp.EmailBackend", "587"]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"EMAIL_BACKEND": "smtp"}, "EMAIL_HOST"),
        ({"EMAIL_BACKEND": "pigeon"}, "EMAIL_BACKEND"),
        ({"EMAIL_USE_TLS": "true", "EMAIL_USE_SSL": "true"}, "exclusive"),
        ({"DEFAULT_FROM_EMAIL": "Switchboard"}, "DEFAULT_FROM_EMAIL"),
    ],
)
def test_bad_email_settings_stop_the_process(env: dict[str, str], message: str) -> None:
    result = email_settings(**env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and message in result.stderr
