"""Security settings read from the environment: the SECRET_KEY rule, HTTPS and cookie flags, the
new access settings. Each case runs routing_service/settings.py afresh with its environment."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

pytestmark = pytest.mark.filterwarnings(
    "ignore:.routing_service.settings. found in sys.modules:RuntimeWarning"
)

GOOD_KEY = "k7Qe2-VbN9xLr4Zt8YpW1sHc6JdU3mAf0GiKoPq5RnSvTwXyE_lMuB"  # 54 characters

ENV_NAMES = [
    "SECRET_KEY",
    "DEBUG",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_SSL_REDIRECT",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "API_DOCS_ACCESS",
    "METRICS_ALLOWED_IPS",
    "TRUSTED_PROXY_COUNT",
    "CSP_REPORT_URI",
]


def load(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **env: str) -> dict[str, Any]:
    """The settings module's names with exactly `env` (on top of what every run needs)."""
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SWITCHBOARD_VAR_DIR", str(tmp_path))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_module("routing_service.settings", run_name="settings_under_test")


@pytest.mark.parametrize(
    ("key", "why"),
    [
        (None, "must be set"),
        ("x" * 10 + GOOD_KEY[:39], "at least 50"),  # 49 characters
        ("ab" * 30, "at least 50"),  # long, but two characters
        ("django-insecure-" + GOOD_KEY, "at least 50"),  # Django's own development prefix
    ],
)
def test_with_debug_off_a_short_or_missing_secret_key_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, key: str | None, why: str
) -> None:
    env = {"DEBUG": "false"} | ({"SECRET_KEY": key} if key is not None else {})
    with pytest.raises(ImproperlyConfigured, match=why):
        load(monkeypatch, tmp_path, **env)


def test_with_debug_off_a_long_random_key_is_taken(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert load(monkeypatch, tmp_path, SECRET_KEY=GOOD_KEY[:50])["SECRET_KEY"] == GOOD_KEY[:50]


def test_with_debug_on_a_development_key_is_used(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    found = load(monkeypatch, tmp_path, DEBUG="true")
    assert found["SECRET_KEY"].startswith("django-insecure-")


def test_https_and_cookie_flags_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    off = load(monkeypatch, tmp_path, SECRET_KEY=GOOD_KEY)
    assert (off["SECURE_HSTS_SECONDS"], off["SECURE_SSL_REDIRECT"]) == (0, False)
    assert (off["SESSION_COOKIE_SECURE"], off["CSRF_COOKIE_SECURE"]) == (False, False)
    on = load(
        monkeypatch,
        tmp_path,
        SECRET_KEY=GOOD_KEY,
        SECURE_HSTS_SECONDS="31536000",
        SECURE_HSTS_INCLUDE_SUBDOMAINS="true",
        SECURE_HSTS_PRELOAD="true",
        SECURE_SSL_REDIRECT="true",
        SESSION_COOKIE_SECURE="true",
    )
    assert on["SECURE_HSTS_SECONDS"] == 31536000
    assert on["SECURE_HSTS_INCLUDE_SUBDOMAINS"] and on["SECURE_HSTS_PRELOAD"]
    assert on["SECURE_SSL_REDIRECT"] and on["SESSION_COOKIE_SECURE"]
    assert on["CSRF_COOKIE_SECURE"], "follows SESSION_COOKIE_SECURE unless set"
    apart = load(
        monkeypatch,
        tmp_path,
        SECRET_KEY=GOOD_KEY,
        SESSION_COOKIE_SECURE="1",
        CSRF_COOKIE_SECURE="0",
    )
    assert apart["CSRF_COOKIE_SECURE"] is False


@pytest.mark.parametrize(
    ("name", "value", "why"),
    [
        ("SECURE_HSTS_SECONDS", "a year", "integer"),
        ("SECURE_SSL_REDIRECT", "maybe", "boolean"),
        ("API_DOCS_ACCESS", "everyone", "staff, authenticated, public, off"),
        ("METRICS_ALLOWED_IPS", "10.0.0.0/8, prometheus", "'prometheus' is not an IP"),
        ("TRUSTED_PROXY_COUNT", "-1", ">= 0"),
    ],
)
def test_bad_values_stop_the_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str, value: str, why: str
) -> None:
    with pytest.raises(ImproperlyConfigured, match=why):
        load(monkeypatch, tmp_path, SECRET_KEY=GOOD_KEY, **{name: value})


def test_the_csp_report_uri_joins_the_policy(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    found = load(monkeypatch, tmp_path, SECRET_KEY=GOOD_KEY, CSP_REPORT_URI="/csp-reports/")
    assert found["CONTENT_SECURITY_POLICY"]["DIRECTIVES"]["report-uri"] == ["/csp-reports/"]
    assert (
        "report-uri"
        not in load(monkeypatch, tmp_path, SECRET_KEY=GOOD_KEY)["CONTENT_SECURITY_POLICY"][
            "DIRECTIVES"
        ]
    )
