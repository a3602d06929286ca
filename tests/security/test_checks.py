"""System checks for security settings that are valid alone but wrong together."""

from __future__ import annotations

from django.conf import LazySettings
from django.core.checks import run_checks


def ids(deploy: bool = False) -> set[str]:
    return {message.id for message in run_checks(include_deployment_checks=deploy) if message.id}


def test_an_address_limit_below_the_account_limit_is_flagged(settings: LazySettings) -> None:
    assert "switchboard.W001" not in ids()
    settings.LOGIN_FAILURES_PER_ACCOUNT = 10
    settings.LOGIN_FAILURES_PER_ADDRESS = 3
    assert "switchboard.W001" in ids()


def test_metrics_closed_to_everyone_is_flagged(settings: LazySettings) -> None:
    settings.METRICS_ALLOWED_IPS = []
    assert "switchboard.W002" in ids()
    settings.METRICS_TOKEN = "scrape-token"
    assert "switchboard.W002" not in ids()


def test_deploy_check_flags_a_proxy_without_trusted_hops(settings: LazySettings) -> None:
    settings.WEBHOOK_TRUST_FORWARDED_HEADERS = True
    settings.TRUSTED_PROXY_COUNT = 0
    assert "switchboard.W101" in ids(deploy=True)
    assert "switchboard.W101" not in ids()  # a deployment concern only
    settings.TRUSTED_PROXY_COUNT = 1
    assert "switchboard.W101" not in ids(deploy=True)


def test_deploy_check_flags_throttling_off_and_public_docs(settings: LazySettings) -> None:
    settings.LOGIN_FAILURES_PER_ACCOUNT = 0
    settings.LOGIN_FAILURES_PER_ADDRESS = 0
    settings.API_DOCS_ACCESS = "public"
    found = ids(deploy=True)
    assert {"switchboard.W102", "switchboard.W103"} <= found


def test_deploy_check_flags_reset_emails_that_are_never_sent(settings: LazySettings) -> None:
    settings.DEBUG = False
    settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    assert "switchboard.W104" in ids(deploy=True)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    assert "switchboard.W104" not in ids(deploy=True)
    settings.DEBUG = True
    settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
    assert "switchboard.W104" not in ids(deploy=True)  # a laptop may print them
