"""The pages outside the console, wallboard and analytics under the Content-Security-Policy, in
headless Chromium against daphne: the log-in page (with its lock-out message, at phone width
and in dark mode), the start page, the admin (list, form with autocomplete), Swagger UI at
/api/docs/, and the refusal page. Any CSP violation fails (tests/support/browser.py CspWatch).
Screenshots go to test-artifacts/security/.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.db import connections

from routing_service.chats.models import Channel, Provider
from routing_service.tenancy.models import Company, Role, User
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, CspWatch
from tests.support.processes import (
    ROOT,
    child_env,
    serving_asgi,
    wait_for_other_sessions_to_end,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = ROOT / "test-artifacts" / "security"
PASSWORD = "browser-pw-123"


@pytest.fixture(scope="module")
def server(django_db_setup: Any, django_db_blocker: Any) -> Iterator[str]:
    """daphne on the test database, with small login limits (read by its own settings)."""
    with django_db_blocker.unblock():
        env = child_env(
            LOGIN_FAILURES_PER_ACCOUNT="2", LOGIN_FAILURES_PER_ADDRESS="50", API_DOCS_ACCESS="staff"
        )
    try:
        with serving_asgi(env) as (port, _):
            yield f"http://127.0.0.1:{port}"
    finally:
        with django_db_blocker.unblock():
            wait_for_other_sessions_to_end()


@dataclass
class Tab:
    page: Any
    base: str
    csp: CspWatch
    problems: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        self.page.on("requestfailed", lambda r: self.problems.append(f"failed: {r.url}"))

    def open(self, path: str) -> Any:
        return self.page.goto(self.base + path, wait_until="load")

    def log_in(
        self, username: str, password: str = PASSWORD, path: str = "/accounts/login/"
    ) -> Any:
        self.open(path)
        self.page.fill("#id_username", username)
        self.page.fill("#id_password", password)
        with self.page.expect_navigation():
            self.page.click("[type=submit]")
        return self.page

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.fixture
def browser(
    server: str, monkeypatch: pytest.MonkeyPatch, redis_client: Any
) -> Iterator[Callable[..., Tab]]:
    """Opens tabs, each in a context of its own with a CSP watch; every watch must stay clean."""
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        contexts: list[Any] = []
        tabs: list[Tab] = []

        def tab(**options: Any) -> Tab:
            options.setdefault("viewport", {"width": 1280, "height": 860})
            context = chromium.new_context(**options)
            contexts.append(context)
            tabs.append(Tab(context.new_page(), server, CspWatch(context)))
            return tabs[-1]

        try:
            yield tab
            for opened in tabs:
                opened.csp.assert_none()
        finally:
            for context in contexts:
                context.close()
            chromium.close()
            connections.close_all()


def test_the_watch_catches_what_the_policy_refuses(browser: Callable[..., Tab]) -> None:
    """The policy is enforced (an inline script and a style attribute are refused) and the
    watch sees both: a violation anywhere fails the browser tests."""
    tab = browser()
    tab.open("/accounts/login/")
    tab.page.evaluate(
        """() => {
            const script = document.createElement("script");
            script.textContent = "window.__inlineRan = true";
            document.body.append(script);
            const div = document.createElement("div");
            div.setAttribute("style", "color: red");
            document.body.append(div);
        }"""
    )
    tab.page.wait_for_timeout(300)
    assert tab.page.evaluate("window.__inlineRan === true") is False
    assert any("script-src" in v for v in tab.csp.violations), tab.csp.violations
    assert any("style-src" in v for v in tab.csp.violations), tab.csp.violations
    tab.csp.violations.clear()  # deliberate: not a fault of the page


def test_log_in_page_and_start_page(
    browser: Callable[..., Tab], make_user: Callable[..., User], company_a: Company
) -> None:
    make_user(company_a, Role.AGENT, username="ada", password=PASSWORD)
    tab = browser()
    response = tab.open("/accounts/login/")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    tab.log_in("ada")
    assert tab.page.url == tab.base + "/"
    assert tab.page.locator(".tiles a").count() >= 1
    assert tab.problems == []


def test_a_locked_out_form_says_so_on_a_phone_in_dark_mode(
    browser: Callable[..., Tab], make_user: Callable[..., User], company_a: Company
) -> None:
    make_user(company_a, Role.AGENT, username="grace", password=PASSWORD)
    tab = browser(viewport={"width": 390, "height": 844}, color_scheme="dark", is_mobile=True)
    tab.log_in("grace", "wrong-1")
    assert tab.page.locator("p.error[role=alert]").inner_text().startswith("Your username")
    tab.log_in("grace", "wrong-2")
    alert = tab.page.locator("#login-locked")
    assert alert.is_visible()
    assert alert.inner_text() == "Too many failed log-in attempts. Please try again in 15 minutes."
    layout = tab.page.evaluate(
        """() => ({
            overflow: document.documentElement.scrollWidth - window.innerWidth,
            background: getComputedStyle(document.body).backgroundColor,
            button: document.querySelector("button[type=submit]").getBoundingClientRect().right,
        })"""
    )
    assert layout["overflow"] <= 0, layout
    assert layout["button"] <= 390
    assert layout["background"] == "rgb(18, 21, 28)", layout  # the dark palette
    tab.shot("login-locked-phone-dark")
    assert tab.problems == []


def test_admin_pages(
    browser: Callable[..., Tab], make_user: Callable[..., User], company_a: Company
) -> None:
    make_user(company_a, Role.COMPANY_ADMIN, username="boss", password=PASSWORD)
    Channel.objects.create(company=company_a, name="Web", provider=Provider.GENERIC, secret="s")
    tab = browser()
    tab.log_in("boss", path="/admin/login/?next=/admin/")
    assert tab.page.url == tab.base + "/admin/"
    for path in ("/admin/", "/admin/tenancy/user/", "/admin/chats/channel/"):
        response = tab.open(path)
        assert response.status == 200, path
    # A change form: inlines, widgets, admin JavaScript.
    tab.open("/admin/tenancy/user/")
    tab.page.locator("#result_list tbody th a").first.click()
    tab.page.wait_for_load_state("load")
    assert "/change/" in tab.page.url
    tab.open("/admin/chats/channel/add/")
    tab.shot("admin-channel-add")
    # The admin's own scripts: the autocomplete (select2), the two-box selector, the date and
    # time pickers, the date hierarchy.
    tab.open("/admin/chats/conversation/add/")
    tab.page.locator(".select2-selection").first.click()
    tab.page.wait_for_selector(".select2-results__options", timeout=10_000)
    tab.page.keyboard.press("Escape")
    tab.open("/admin/analytics/dashboard/add/")
    tab.page.wait_for_selector(".selector-available", timeout=10_000)
    tab.open("/admin/sla_engine/chatsla/add/")
    tab.page.locator(".clock-icon").first.click()  # work hours: the clock picker opens
    tab.page.wait_for_selector(".clockbox", state="visible", timeout=5_000)
    assert tab.open("/admin/analytics/chatresponsetracking/").status == 200
    assert tab.problems == []


def test_admin_log_in_lock_out_shows_on_the_admin_form(
    browser: Callable[..., Tab], make_user: Callable[..., User], company_a: Company
) -> None:
    make_user(company_a, Role.COMPANY_ADMIN, username="ops", password=PASSWORD)
    tab = browser()
    tab.log_in("ops", "wrong-1", path="/admin/login/")
    tab.log_in("ops", "wrong-2", path="/admin/login/")
    note = tab.page.locator(".errornote")
    assert "Too many failed log-in attempts" in note.inner_text()
    tab.shot("admin-login-locked")


def test_swagger_ui_renders_the_api_for_staff(
    browser: Callable[..., Tab], make_user: Callable[..., User], company_a: Company
) -> None:
    make_user(company_a, Role.COMPANY_ADMIN, username="docs-admin", password=PASSWORD)
    tab = browser()
    tab.open("/api/docs/")
    assert tab.page.url.startswith(tab.base + "/accounts/login/?next=/api/docs/")
    tab.page.fill("#id_username", "docs-admin")
    tab.page.fill("#id_password", PASSWORD)
    with tab.page.expect_navigation():
        tab.page.click("[type=submit]")
    assert tab.page.url == tab.base + "/api/docs/"
    tab.page.wait_for_selector(".opblock-tag", timeout=15_000)
    assert tab.page.locator(".opblock").count() > 20
    tab.page.locator(".opblock-summary").first.click()  # open one operation
    tab.page.wait_for_selector(".opblock-body", timeout=5_000)
    tab.shot("api-docs")
    assert tab.problems == []


def test_someone_who_may_not_read_the_docs_gets_the_refusal_page(
    browser: Callable[..., Tab], make_user: Callable[..., User], company_a: Company
) -> None:
    make_user(company_a, Role.AGENT, username="agent-docs", password=PASSWORD)
    tab = browser()
    tab.log_in("agent-docs")
    response = tab.open("/api/docs/")
    assert response.status == 403
    assert tab.page.locator("h1").inner_text() == "Not allowed"
