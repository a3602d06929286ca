"""The analytics pages and the chat dashboard in headless Chromium, against a real daphne.

Logs in, opens every page with sample data, uploads a CSV and watches its import finish, and
checks that nothing went wrong in the browser: no console errors, no failed requests, every
chart canvas drawn by Chart.js with a real size. Screenshots go to test-artifacts/analytics/.

Chromium is Debian's (/usr/bin/chromium), driven by Playwright's Python API; nothing is
downloaded. daphne is a child process on the test database (tests/support/processes.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import LazySettings
from django.db import connections

from analytics import importer
from analytics.models import Dashboard, DataSource
from routing_service.tenancy.models import Company, Role, User
from tests.analytics.conftest import csv_text
from tests.analytics.sample import import_sessions, make_chats, session_rows, write_rollups
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, CspWatch
from tests.support.processes import (
    ROOT,
    child_env,
    serving_asgi,
    wait_for_other_sessions_to_end,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = ROOT / "test-artifacts" / "analytics"
PASSWORD = "browser-pw-123"


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("browser-media")


@pytest.fixture(scope="module")
def server(django_db_setup: Any, django_db_blocker: Any, media_dir: Path) -> Iterator[str]:
    """daphne serving the whole ASGI application on the test database; its base URL."""
    with django_db_blocker.unblock():
        env = child_env(MEDIA_ROOT=str(media_dir))
    try:
        with serving_asgi(env) as (port, _):
            yield f"http://127.0.0.1:{port}"
    finally:
        with django_db_blocker.unblock():
            wait_for_other_sessions_to_end()


@pytest.fixture
def shared_media(settings: LazySettings, media_dir: Path) -> Path:
    """Uploads stored by daphne are read back here by the import (one media folder)."""
    settings.MEDIA_ROOT = media_dir
    return media_dir


class Browser:
    """One Chromium page that records console errors, page errors and failed requests."""

    def __init__(self, page: Any, base: str) -> None:
        self.page = page
        self.base = base
        self.problems: list[str] = []
        self.allowed: set[str] = set()
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on("requestfailed", lambda r: self.problems.append(f"failed: {r.url} {r.failure}"))
        page.on("response", self._response)

    def _console(self, message: Any) -> None:
        if message.type in {"error", "warning"}:
            where = message.location.get("url", "") if message.location else ""
            self.problems.append(
                f"console {message.type} on {self.page.url}: {message.text} {where}"
            )

    def _response(self, response: Any) -> None:
        # 4xx/5xx for anything but the page itself (tests check the page's status).
        if response.status >= 400 and response.request.resource_type != "document":
            self.problems.append(f"HTTP {response.status}: {response.url}")

    def open(self, path: str) -> Any:
        return self.page.goto(self.base + path, wait_until="load")

    def log_in(self, username: str) -> None:
        self.open("/accounts/login/")
        self.page.fill("#id_username", username)
        self.page.fill("#id_password", PASSWORD)
        self.page.click("button[type=submit]")
        self.page.wait_for_url(self.base + "/")
        # The login and start pages are not ours (and ask for a /favicon.ico the site does
        # not serve): judge the analytics pages only.
        self.problems.clear()

    def expect_page_status(self, status: int) -> None:
        """The current page itself answered ``status`` on purpose (a refused form, a 403):
        Chromium logs that as a console error (perhaps a moment later), not a problem."""
        self.allowed.add(
            f"status of {status} ({'Bad Request' if status == 400 else 'Forbidden'})"
            f" {self.page.url}"
        )

    def unexpected(self) -> list[str]:
        return [p for p in self.problems if not any(p.endswith(a) for a in self.allowed)]

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    def charts(self) -> list[dict[str, Any]]:
        """Every chart canvas: its size and whether Chart.js owns an instance for it."""
        self.page.wait_for_function("document.documentElement.dataset.chartsDrawn !== undefined")
        result: list[dict[str, Any]] = self.page.evaluate(
            """() => Array.from(document.querySelectorAll('canvas[data-chart]')).map(c => ({
                name: c.dataset.chart, width: c.width, height: c.height,
                chart: !!(window.Chart && window.Chart.getChart(c)),
                points: (window.Chart && window.Chart.getChart(c))
                    ? window.Chart.getChart(c).data.datasets.reduce((n, d) => n + d.data.length, 0)
                    : 0,
            }))"""
        )
        return result


@pytest.fixture
def browser(server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread; the test's own ORM
    # calls (sample data, the import) are still plain synchronous code, on this thread only.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        context = chromium.new_context(viewport={"width": 1366, "height": 900})
        csp = CspWatch(context)
        try:
            yield Browser(context.new_page(), server)
            csp.assert_none()
        finally:
            context.close()
            chromium.close()
            # Django's per-thread connections follow context variables, which Playwright's
            # greenlet switches: the test's ORM calls got a connection of their own here.
            connections.close_all()


def assert_charts_drawn(charts: list[dict[str, Any]], names: set[str]) -> None:
    assert {chart["name"] for chart in charts} == names
    for chart in charts:
        assert chart["chart"], f"no Chart.js instance on {chart['name']}"
        assert chart["width"] > 0 and chart["height"] > 0, chart
        assert chart["points"] > 0, chart


DASHBOARD_CHARTS = {
    "sessions",
    "sentiment",
    "rates",
    "response",
    "tokens",
    "category",
    "country",
    "language",
    "ratings",
}


def test_every_analytics_page_renders_with_charts_and_no_errors(
    browser: Browser,
    shared_media: Path,
    company_a: Company,
    make_user: Any,
    redis_client: object,
) -> None:
    admin = make_user(company_a, Role.COMPANY_ADMIN, username="browser-admin", password=PASSWORD)
    source = import_sessions(company_a, session_rows("a"), name="acme-march.csv")
    dashboard = Dashboard.objects.create(company=company_a, name="March files", last_days=90)
    dashboard.data_sources.set([source])
    chats = make_chats(company_a, "acme")
    write_rollups(company_a, chats.agents, range(2, 20))

    browser.log_in(admin.username)

    response = browser.open("/analytics/")
    assert response.status == 200
    assert_charts_drawn(browser.charts(), DASHBOARD_CHARTS)
    assert browser.page.inner_text("[data-kpi=sessions]") == "5"
    browser.shot("overview")

    browser.open("/analytics/dashboards/")
    browser.page.click("text=March files")
    browser.page.wait_for_selector("canvas[data-chart=sessions]")
    assert_charts_drawn(browser.charts(), DASHBOARD_CHARTS)
    browser.shot("dashboard")

    browser.page.click("text=Edit dashboard")
    browser.page.wait_for_selector("form.stack")
    browser.shot("dashboard-edit")

    browser.open("/analytics/sessions/?q=refund")
    rows = browser.page.locator("#session-results tbody tr")
    assert rows.count() == 2
    browser.shot("sessions-search")
    browser.page.click("#session-results >> text=a-1")
    browser.page.wait_for_selector("#transcript")
    assert "It was sent yesterday." in browser.page.inner_text("#transcript")
    browser.shot("session-detail")

    response = browser.open("/chat/dashboard/")
    assert response.status == 200
    assert_charts_drawn(browser.charts(), {"compliance", "times"})
    assert browser.page.locator("#agent-table tbody tr").count() >= 2
    assert browser.page.locator("#open-breach-list tbody tr").count() == 1
    browser.shot("chat-dashboard")

    assert browser.unexpected() == []


def test_upload_shows_progress_then_the_import_report(
    browser: Browser, shared_media: Path, company_a: Company, make_user: Any
) -> None:
    supervisor = make_user(company_a, Role.SUPERVISOR, username="browser-sup", password=PASSWORD)
    browser.log_in(supervisor.username)
    browser.open("/analytics/data-sources/")
    rows = [
        {"session_id": "up-1"},
        {"session_id": "up-2", "user_rating": "9"},
        {"session_id": "up-1"},
    ]
    csv_file = shared_media / "browser-upload.csv"
    csv_file.write_text(csv_text(rows))
    browser.page.fill("#id_name", "Browser upload")
    browser.page.set_input_files("#id_file", str(csv_file))
    browser.page.click("text=Upload and import")
    browser.page.wait_for_selector("#import-status")
    assert "Pending" in browser.page.inner_text("#import-status")
    browser.shot("import-pending")

    source = DataSource.objects.for_company(company_a).get(name="Browser upload")
    importer.run_import(source.pk)  # what the worker does with the enqueued import
    # The page notices by itself (it polls the API, or refreshes), then shows the report.
    browser.page.wait_for_selector("#rejected-rows", timeout=15_000)
    status = browser.page.inner_text("#import-status")
    assert "Done" in status
    assert "user_rating" in browser.page.inner_text("#rejected-rows")
    browser.shot("import-report")

    browser.open("/analytics/data-sources/")
    browser.page.set_input_files("#id_file", str(ROOT / "README.md"))
    browser.page.click("text=Upload and import")
    alert = browser.page.inner_text("#upload .alert")
    assert "upload a .csv file" in alert
    browser.expect_page_status(400)
    browser.shot("upload-refused")

    assert browser.unexpected() == []


def test_agent_sees_a_readable_refusal(
    browser: Browser, company_a: Company, make_user: Any
) -> None:
    agent: User = make_user(company_a, Role.AGENT, username="browser-agent", password=PASSWORD)
    browser.log_in(agent.username)
    for path in ("/analytics/", "/chat/dashboard/"):
        response = browser.open(path)
        assert response.status == 403
        assert "Not allowed" in browser.page.inner_text("main")
        browser.expect_page_status(403)
    browser.shot("agent-refused")
    assert browser.unexpected() == []
