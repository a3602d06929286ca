"""Password reset end to end in headless Chromium against a real daphne, with the default
(console) email backend: the link is read from the server's own output, as a newcomer running
scripts/start would find it; the new password logs in and the other browser's session ends.
At phone width and in dark mode, nothing on the way breaks or overflows."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connections

from routing_service.tenancy.actions import create_company, create_user
from routing_service.tenancy.models import Role
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.processes import (
    child_env,
    daphne,
    free_port,
    stop,
    wait_for,
    wait_for_other_sessions_to_end,
    wait_for_port,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

OLD, NEW = "old-password-123", "brand-new-password-456"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """daphne on the test database, its output (the console email backend's too) in a file."""
    output = tmp_path / "web.log"
    port = free_port()
    env = child_env(EMAIL_BACKEND="console")
    env.pop("EMAIL_HOST", None)
    with output.open("wb") as sink:
        process = daphne(port, env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}", output
    finally:
        stop(process, timeout=15)
        wait_for_other_sessions_to_end()


@pytest.fixture
def chromium(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()
            connections.close_all()


def watch(page: Any) -> list[str]:
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "console",
        lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
    )
    page.on("requestfailed", lambda r: problems.append(f"failed: {r.url} {r.failure}"))
    return problems


def fits_the_screen(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def test_a_forgotten_password_is_reset_by_email(server: tuple[str, Path], chromium: Any) -> None:
    base, output = server
    company = create_company("Acme Support", "acme")
    create_user(
        username="alice", password=OLD, role=Role.AGENT, company=company, email="alice@example.com"
    )

    # Alice is still logged in on her other computer.
    other = chromium.new_context(viewport={"width": 1280, "height": 800})
    desk = other.new_page()
    desk.goto(f"{base}/accounts/login/")
    desk.fill("#id_username", "alice")
    desk.fill("#id_password", OLD)
    desk.click("button[type=submit]")
    desk.wait_for_url(f"{base}/")

    phone = chromium.new_context(
        viewport={"width": 390, "height": 844}, color_scheme="dark", is_mobile=True
    )
    page = phone.new_page()
    problems = watch(page)
    page.goto(f"{base}/accounts/login/")
    page.click("#forgot-password")
    page.wait_for_url(f"{base}/accounts/password_reset/")
    assert fits_the_screen(page)
    page.fill("#id_email", "alice@example.com")
    page.click("button[type=submit]")
    page.wait_for_selector("#reset-sent")
    assert fits_the_screen(page)

    # The console backend printed the email in the web process's output.
    link = re.compile(rf"{re.escape(base)}/accounts/reset/[^/\s]+/[^/\s]+/")
    wait_for(lambda: link.search(output.read_text(errors="replace")) is not None, timeout=20)
    text = output.read_text(errors="replace")
    assert "To: alice@example.com" in text
    match = link.search(text)
    assert match is not None

    page.goto(match.group(0))
    page.fill("#id_new_password1", NEW)
    page.fill("#id_new_password2", NEW)
    assert fits_the_screen(page)
    page.click("button[type=submit]")
    page.wait_for_selector("#reset-complete")
    page.click("#reset-complete a")
    page.wait_for_url(f"{base}/accounts/login/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", NEW)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")

    # The link was single-use, and the other computer's session ended with the old password.
    page.goto(match.group(0))
    page.wait_for_selector("#reset-link-invalid")
    desk.goto(f"{base}/console/")
    assert "/accounts/login/" in desk.url
    assert problems == []
    other.close()
    phone.close()
