"""The pages in German and Spanish, in headless Chromium against a real daphne.

A supervisor who chose German and the Bogotá time zone reads the console, the wallboard, the
chat dashboard and analytics in German — the server's words and the scripts' alike — with
German dates and numbers and times in Bogotá; a browser that asks for Spanish, whose user chose
nothing, gets Spanish; the language switcher changes the pages and the profile.

Chromium is Debian's (/usr/bin/chromium), driven by Playwright's Python API; daphne is a child
process on the test database (tests/support/processes.py). Screenshots go to
test-artifacts/i18n/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connections

from routing_service.tenancy import actions as tenancy_actions
from routing_service.tenancy.models import Company, Role, User
from tests.analytics.sample import import_sessions, session_rows
from tests.analytics.test_browser import media_dir, server, shared_media  # noqa: F401  (fixtures)
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, CspWatch
from tests.support.processes import ROOT

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = ROOT / "test-artifacts" / "i18n"
PASSWORD = "browser-pw-123"
WAIT_MS = 15_000
GERMAN_DATE = re.compile(r"\b\d{2}\.\d{2}\.\d{4}\b")


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


class Tab:
    """A page in a context of its own, with the browser's language set (its Accept-Language
    header and navigator.language), recording what went wrong in it."""

    def __init__(self, chromium: Any, base: str, locale: str = "en-US") -> None:
        self.context = chromium.new_context(viewport={"width": 1366, "height": 768}, locale=locale)
        self.csp = CspWatch(self.context)
        self.page = self.context.new_page()
        self.base = base
        self.problems: list[str] = []
        self.page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        self.page.on("console", self._console)

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.problems.append(f"console error on {self.page.url}: {message.text}")

    def open(self, path: str) -> Any:
        response = self.page.goto(self.base + path, wait_until="load")
        assert response is not None and response.status == 200, path
        return response

    def log_in(self, user: User) -> None:
        self.page.goto(self.base + "/accounts/login/")
        self.page.fill("#id_username", user.username)
        self.page.fill("#id_password", PASSWORD)
        self.page.click("form[action='/accounts/login/'] button[type=submit]")
        self.page.wait_for_url(self.base + "/")
        self.problems.clear()  # the start page asks for a /favicon.ico: not under test

    def text(self, selector: str = "body") -> str:
        """The element's text as written (not as CSS shows it: some labels are upper-cased)."""
        return " ".join(str(self.page.text_content(selector) or "").split())

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)

    def close(self) -> None:
        self.csp.assert_none()
        assert self.problems == [], "\n".join(self.problems)
        self.context.close()


def browser_formats(tab: Tab) -> dict[str, str]:
    """What the page's own i18n module (frontend_static/i18n.js) writes for a fixed instant and
    number: the language and time zone the page handed to its scripts."""
    return dict(
        tab.page.evaluate(
            """async () => {
              const m = await import("/static/i18n.js");
              return {
                time: m.formatTime(Date.parse("2026-03-09T17:05:00Z")),
                number: m.formatNumber(40190671),
                percent: m.formatPercent(0.875),
                language: m.language,
                zone: m.timeZone,
                word: m.gettext("Reconnected"),
              };
            }"""
        )
    )


@pytest.fixture
def german_supervisor(company_a: Company, shared_media: Path) -> User:  # noqa: F811
    user = tenancy_actions.create_user(
        username="greta",
        password=PASSWORD,
        role=Role.SUPERVISOR,
        company=company_a,
        first_name="Greta",
        language="de",
        time_zone="America/Bogota",
    )
    rows = session_rows("de")
    rows[0]["tokens"] = "40190000"  # a total with thousands to separate
    import_sessions(company_a, rows)
    return user


def test_a_german_user_reads_every_page_in_german_in_their_time_zone(
    server: str,  # noqa: F811
    chromium: Any,
    german_supervisor: User,
) -> None:
    # The browser asks for English: the profile's German wins.
    tab = Tab(chromium, server, locale="en-US")
    tab.log_in(german_supervisor)
    assert "Willkommen, Greta" in tab.text("main")

    # The console: the template's words and the scripts' (connection, title, clocks).
    tab.open("/console/")
    tab.page.wait_for_selector("#connection[data-state=live]", timeout=WAIT_MS)
    assert tab.page.get_attribute("html", "lang") == "de"
    console = tab.text("#console")
    for words in ("Konsole", "Meine Chats", "Warteschlange", "Niemand wartet.", "Ungelesen"):
        assert words in console, words
    assert tab.page.get_attribute("#reply-text", "placeholder").startswith("Antwort schreiben")
    assert tab.text("#connection") == "Live"
    tab.page.wait_for_function("() => document.title === 'Konsole · Switchboard'", timeout=WAIT_MS)
    assert browser_formats(tab) == {
        "time": "12:05",  # 17:05 UTC in Bogotá (UTC−5), on a 24-hour clock
        "number": "40.190.671",
        "percent": "87,5\xa0%",
        "language": "de",
        "zone": "America/Bogota",
        "word": "Wieder verbunden",
    }
    tab.shot("console-de")

    # The wallboard: labels from the template, figures and sub-lines from the script.
    tab.open("/wallboard/")
    tab.page.wait_for_selector("#connection[data-state=live]", timeout=WAIT_MS)
    tab.page.wait_for_function(
        "() => document.querySelector('#stats-time').textContent.startsWith('aktualisiert')",
        timeout=WAIT_MS,
    )
    wall = tab.text("#wallboard")
    for words in ("Längste Wartezeit", "Warteschlange nach Priorität", "Dringend", "Niedrig"):
        assert words in wall, words
    assert "niemand wartet" in tab.text("[data-kpi=waiting] .kpi-sub")
    assert "Vorgesetzte/r" in tab.text("#agents")  # the role tag, from the script
    assert re.fullmatch(r"aktualisiert \d{2}:\d{2}", tab.text("#stats-time"))
    tab.shot("wallboard-de")

    # The chat dashboard: German headings and dates.
    tab.open("/chat/dashboard/")
    dashboard = tab.text("main")
    for words in ("Chat-Dashboard", "SLA-Einhaltung pro Tag", "Warteschlange jetzt"):
        assert words in dashboard, words
    assert GERMAN_DATE.search(tab.text(".page-head")), tab.text(".page-head")
    tab.shot("chat-dashboard-de")

    # Analytics: German numbers (thousands with a dot, euros after the amount) and dates.
    tab.open("/analytics/")
    tab.page.wait_for_function("() => document.documentElement.dataset.chartsDrawn !== undefined")
    overview = tab.text("main")
    assert "Sitzungen pro Tag" in overview and "Token-Kosten" in overview
    assert re.search(r"40\.19\d\.\d{3}", tab.text(".kpis")), tab.text(".kpis")
    assert re.search(r"\d+,\d{2} €", tab.text(".kpis")), tab.text(".kpis")
    assert GERMAN_DATE.search(tab.text(".page-head"))
    tab.shot("analytics-de")

    # A session's times are in Bogotá: the sample started at 10:00 UTC, 05:00 there.
    tab.open("/analytics/sessions/")
    tab.page.click("#session-results a >> nth=0")
    tab.page.wait_for_selector("#session-metrics")
    head = tab.text(".page-head")
    assert re.search(r"\d{2}\.\d{2}\.\d{4} 0[0-9]:\d{2}", head), head
    assert "Bewertung" in tab.text("#session-metrics")
    tab.close()


def test_a_spanish_browser_without_a_profile_choice_gets_spanish(
    server: str,  # noqa: F811
    chromium: Any,
    company_a: Company,
) -> None:
    agent = tenancy_actions.create_user(
        username="lucia", password=PASSWORD, role=Role.AGENT, company=company_a
    )
    tab = Tab(chromium, server, locale="es-ES")
    tab.page.goto(server + "/accounts/login/")
    assert tab.page.get_attribute("html", "lang") == "es"
    assert "Iniciar sesión" in tab.text("main")
    tab.log_in(agent)
    tab.open("/console/")
    tab.page.wait_for_selector("#connection[data-state=live]", timeout=WAIT_MS)
    console = tab.text("#console")
    for words in ("Consola", "Mis chats", "Cola", "No hay nadie esperando.", "Mi estado"):
        assert words in console, words
    tab.page.wait_for_function("() => document.title === 'Consola · Switchboard'", timeout=WAIT_MS)
    formats = browser_formats(tab)
    assert (formats["language"], formats["zone"], formats["word"]) == ("es", "UTC", "Reconectado")
    assert formats["time"] == "17:05"
    tab.shot("console-es")
    agent.refresh_from_db()
    assert agent.language == ""  # nothing was saved: the browser decided
    tab.close()


def test_the_language_switcher_changes_the_pages_and_the_profile(
    server: str,  # noqa: F811
    chromium: Any,
    company_a: Company,
) -> None:
    agent = tenancy_actions.create_user(
        username="tom", password=PASSWORD, role=Role.AGENT, company=company_a
    )
    tab = Tab(chromium, server, locale="en-US")
    tab.log_in(agent)
    tab.open("/console/")
    assert "My chats" in tab.text("#console")
    tab.page.select_option("#language-select", "de")
    with tab.page.expect_navigation():
        tab.page.click("#language-switcher input[type=submit]")
    assert tab.page.url == server + "/console/"
    assert "Meine Chats" in tab.text("#console")
    assert tab.page.input_value("#language-select") == "de"
    agent.refresh_from_db()
    assert agent.language == "de"
    tab.close()
