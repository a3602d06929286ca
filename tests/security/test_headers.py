"""Response headers: the Content-Security-Policy on every page, HSTS and the HTTPS redirect when
the settings ask for them — and probes that stay reachable over plain HTTP."""

from __future__ import annotations

import re

import pytest
from django.conf import LazySettings
from django.test import Client

from routing_service.tenancy.models import User
from tests.deploy.conftest import ROOT

pytestmark = pytest.mark.django_db


def directives(policy: str) -> dict[str, list[str]]:
    parsed = {}
    for part in policy.split(";"):
        words = part.split()
        if words:
            parsed[words[0]] = words[1:]
    return parsed


@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/", "/", "/console/"])
def test_pages_carry_a_strict_content_security_policy(path: str, admin_a: User) -> None:
    client = Client()
    if path in {"/", "/console/"}:
        client.force_login(admin_a)
    response = client.get(path)
    assert response.status_code == 200
    policy = directives(response["Content-Security-Policy"])
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["connect-src"] == ["'self'"]  # the console's websocket is same-origin
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["default-src"] == ["'self'"]
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    assert "'unsafe-eval'" not in response["Content-Security-Policy"]


def test_templates_hold_no_inline_script_or_style_attribute() -> None:
    """What the policy would refuse, caught before a browser does: every page template."""
    templates = [
        *ROOT.joinpath("routing_service", "templates").rglob("*.html"),
        *ROOT.joinpath("realtime", "templates").rglob("*.html"),
        *ROOT.joinpath("analytics", "templates").rglob("*.html"),
    ]
    assert len(templates) > 20
    offending = []
    for template in templates:
        text = template.read_text()
        # <script src=...> and json_script's <script type="application/json"> are fine.
        for tag in re.findall(r"<script\b[^>]*>", text):
            if "src=" not in tag and "application/json" not in tag:
                offending.append(f"{template.name}: {tag}")
        offending += [f"{template.name}: style attribute" for _ in re.findall(r"\sstyle=", text)]
        offending += [f"{template.name}: <style>" for _ in re.findall(r"<style\b", text)]
        offending += [f"{template.name}: {m}" for m in re.findall(r"\son[a-z]+=", text)]
    assert offending == []


def test_hsts_and_the_https_redirect_follow_the_settings(settings: LazySettings) -> None:
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 31536000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_HSTS_PRELOAD = True
    plain = Client().get("/accounts/login/")
    assert plain.status_code == 301
    assert plain["Location"] == "https://testserver/accounts/login/"
    secure = Client().get("/accounts/login/", secure=True)
    assert secure.status_code == 200
    assert secure["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    # Load balancers and Prometheus probe over plain HTTP inside the network.
    assert Client().get("/healthz").status_code == 200
    assert Client().get("/metrics").status_code == 200


def test_cookies_are_secure_when_the_settings_say_so(settings: LazySettings, admin_a: User) -> None:
    settings.SESSION_COOKIE_SECURE = True
    settings.CSRF_COOKIE_SECURE = True
    client = Client()
    page = client.get("/accounts/login/", secure=True)
    assert page.cookies["csrftoken"]["secure"] is True
    logged_in = client.post(
        "/accounts/login/",
        {"username": "admin-a", "password": "pw-123456"},
        secure=True,
    )
    assert logged_in.status_code == 302
    assert logged_in.cookies["sessionid"]["secure"] is True
