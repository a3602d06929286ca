"""Every page, as its people see it, at 1366×768 and 390×844 in both colour schemes:
nothing wider than its box or the viewport, axe-core finds no serious or critical violation,
no console error, no Content-Security-Policy violation; a screenshot of each.

Issue 12 items 14 and 17. The pages run on tests/pages/world.py: chats in every state, a tile
of 40 million tokens. Then, on the same pages (so last: they change the data): the console
worked from the keyboard alone, and the colour-scheme toggle.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from analytics.models import ChatSession, Dashboard, DataSource
from routing_service.chats.models import Conversation
from routing_service.tenancy.models import Company
from tests.pages import world
from tests.pages.browser import ARTIFACTS, SCHEMES, SIZES, Tab

# The module's data is made and read by fixtures (an ORM call under Playwright's greenlet would
# open a session of its own); the tests themselves only drive the browser.
pytestmark = [pytest.mark.browser, pytest.mark.django_db]


@dataclass(frozen=True)
class Screen:
    """A page to look at: who, where (a path, or a function of the acme company), what to
    wait for, and the status it answers."""

    name: str
    user: str
    path: str | Callable[[Company], str]
    ready: str = "body"
    status: int = 200
    # Django's admin change form: its select2 widgets write `style` attributes, which the
    # site's policy refuses (no 'unsafe-inline'); the page works without them. Looked at in a
    # context of its own whose violations are not counted.
    csp_exempt: bool = False


def _first_dashboard(company: Company) -> str:
    dashboard = Dashboard.objects.for_company(company).order_by("pk").first()
    assert dashboard is not None
    return f"/analytics/dashboards/{dashboard.pk}/"


def _data_source(company: Company) -> str:
    source = DataSource.objects.for_company(company).order_by("pk").first()
    assert source is not None
    return f"/analytics/data-sources/{source.pk}/"


def _session(company: Company) -> str:
    session = ChatSession.objects.for_company(company).order_by("pk").first()
    assert session is not None
    return f"/analytics/sessions/{session.pk}/"


def _conversation_admin(company: Company) -> str:
    conversation = Conversation.objects.for_company(company).order_by("pk").first()
    assert conversation is not None
    return f"/admin/chats/conversation/{conversation.pk}/change/"


LIVE = "#connection[data-state=live]"
CHARTS = "html[data-charts-drawn]"

SCREENS = [
    Screen("login", "", "/accounts/login/"),
    Screen("password-reset", "", "/accounts/password_reset/"),
    Screen("home", "acme-admin", "/"),
    Screen("console", "acme-agent1", "/console/", LIVE),
    Screen("console-admin", "acme-admin", "/console/"),
    Screen("wallboard", "acme-supervisor", "/wallboard/", LIVE),
    Screen("wallboard-choose", "root", "/wallboard/"),
    Screen("chat-dashboard", "acme-supervisor", "/chat/dashboard/", CHARTS),
    Screen("analytics", "acme-supervisor", "/analytics/", CHARTS),
    Screen("dashboards", "acme-supervisor", "/analytics/dashboards/"),
    Screen("dashboard", "acme-supervisor", _first_dashboard, CHARTS),
    Screen("dashboard-new", "acme-supervisor", "/analytics/dashboards/new/"),
    Screen("data-sources", "acme-supervisor", "/analytics/data-sources/"),
    Screen("data-source", "acme-supervisor", _data_source),
    Screen("sessions", "acme-viewer", "/analytics/sessions/"),
    Screen("session", "acme-viewer", _session),
    Screen("analytics-choose", "root", "/analytics/"),
    Screen("refused", "acme-agent1", "/analytics/", status=403),
    Screen("admin", "acme-admin", "/admin/"),
    Screen("admin-conversations", "acme-admin", "/admin/chats/conversation/"),
    Screen("admin-events", "acme-admin", "/admin/chats/assignmentevent/"),
    Screen("admin-users", "acme-admin", "/admin/tenancy/user/"),
    Screen("admin-sessions", "acme-admin", "/admin/analytics/chatsession/"),
    Screen("admin-conversation", "acme-admin", _conversation_admin, csp_exempt=True),
]


@pytest.fixture(scope="module")
def paths(sample_data: None, django_db_blocker: Any) -> dict[str, str]:
    """Each screen's path, read before the browser starts (its greenlet would give the ORM
    a database session of its own, left open)."""
    with django_db_blocker.unblock():
        acme = Company.objects.get(slug="acme")
        return {s.name: s.path if isinstance(s.path, str) else s.path(acme) for s in SCREENS}


@pytest.mark.parametrize("screen", SCREENS, ids=[s.name for s in SCREENS])
def test_page_fits_and_passes_axe_at_both_sizes_in_both_schemes(
    screen: Screen, paths: dict[str, str], tabs: Callable[..., Tab]
) -> None:
    tab = tabs(screen.user, watch_csp=not screen.csp_exempt)
    tab.problems.clear()
    tab.open(paths[screen.name], status=screen.status)
    tab.page.wait_for_selector(screen.ready, state="attached", timeout=15_000)
    found: dict[str, object] = {}
    for size in SIZES:
        for scheme in SCHEMES:
            tab.view(size, scheme)
            tab.page.wait_for_timeout(100)  # charts redraw on resize
            overflows = tab.overflows()
            violations = tab.axe()
            if overflows or violations:
                found[f"{size}/{scheme}"] = {"overflows": overflows, "axe": violations}
            tab.shot(screen.name, size, scheme)
    if found:  # the whole report, next to the screenshots, and in the failure
        report = json.dumps(found, indent=1)
        (ARTIFACTS / f"{screen.name}-problems.json").write_text(report)
        pytest.fail(f"{screen.name}: {report}")
    problems = [
        p for p in tab.problems if not (screen.csp_exempt and "Content Security Policy" in p)
    ]
    assert problems == []


# --- the console from the keyboard --------------------------------------------------------

FOCUS_LABEL = (
    "() => (document.activeElement && document.activeElement.getAttribute('aria-label')) || ''"
)


def tab_to(tab: Tab, condition: str, limit: int = 80) -> None:
    """Press Tab until `condition` (a JS function) holds for the focused element; each stop
    must show where the focus is (a visible outline)."""
    for _ in range(limit):
        tab.page.keyboard.press("Tab")
        if tab.page.evaluate(condition):
            outline = tab.page.evaluate(
                "() => getComputedStyle(document.activeElement).outlineStyle"
            )
            assert outline not in ("", "none"), tab.page.evaluate(
                "() => document.activeElement.outerHTML"
            )
            return
    raise AssertionError(f"not reachable with Tab: {condition}")


def test_the_console_is_usable_from_the_keyboard_alone(
    paths: dict[str, str], tabs: Callable[..., Tab]
) -> None:
    from playwright.sync_api import expect

    tab = tabs(world.AGENT)
    tab.view("desktop", "light")
    tab.problems.clear()
    tab.open("/console/")
    page = tab.page
    page.wait_for_selector(LIVE, timeout=15_000)

    # Available: the two waiting chats are offered (capacity 3, one chat held).
    tab_to(tab, "() => document.activeElement.id === 'status-select'")
    page.keyboard.press("a")  # "Available", as a keyboard picks an option of a closed select
    offers = page.locator("#my-chats li[data-assignment=offered]")
    expect(offers).to_have_count(2, timeout=15_000)

    tab_to(tab, f"() => ({FOCUS_LABEL})().startsWith('Accept chat with')")
    accepted_name = page.evaluate(FOCUS_LABEL).removeprefix("Accept chat with ")
    page.keyboard.press("Enter")
    expect(offers).to_have_count(1, timeout=15_000)
    # The redraw kept the keyboard in the list, not back at the top of the page.
    assert page.evaluate("() => document.activeElement.closest('#my-chats') !== null")

    tab_to(tab, f"() => ({FOCUS_LABEL})().startsWith('Decline chat with')")
    page.keyboard.press("Enter")
    dialog = page.locator("#decline-dialog")
    expect(dialog).to_have_attribute("open", "")
    page.keyboard.press("Escape")  # no trap: Escape leaves the dialog
    expect(dialog).not_to_have_attribute("open", "")
    tab_to(tab, f"() => ({FOCUS_LABEL})().startsWith('Decline chat with')")
    page.keyboard.press("Enter")
    page.keyboard.type("Not my language")  # the reason box has the focus
    tab_to(tab, "() => document.activeElement.matches('#decline-dialog button[value=ok]')")
    page.keyboard.press("Enter")
    expect(offers).to_have_count(0, timeout=15_000)
    # Announced: the answer is a toast in the polite live region.
    expect(page.locator("#toasts[aria-live=polite] .toast")).not_to_have_count(0)

    # Open the accepted chat, reply, resolve.
    tab_to(
        tab,
        "() => document.activeElement.matches('#my-chats button.chat-open')"
        f" && document.activeElement.textContent.includes({json.dumps(accepted_name)})",
    )
    page.keyboard.press("Enter")
    expect(page.locator("#conversation-title")).to_contain_text(accepted_name)
    tab_to(tab, "() => document.activeElement.id === 'reply-text'")
    page.keyboard.type("Hello, I am on it.")
    page.keyboard.press("Enter")
    expect(page.locator("#transcript .message.outbound")).to_have_count(1, timeout=15_000)
    page.keyboard.press("Shift+Tab")  # back through the transcript to the chat's toolbar
    tab_to(tab, "() => document.activeElement.matches('button[data-action=resolve]')")
    page.keyboard.press("Enter")
    expect(page.locator("#my-chats li")).to_have_count(1, timeout=15_000)  # the older one
    assert tab.problems == []


# --- the colour scheme ---------------------------------------------------------------------

BACKGROUND = "() => getComputedStyle(document.body).backgroundColor"
LIGHT_BG, DARK_BG = "rgb(245, 246, 248)", "rgb(18, 21, 28)"


def test_the_scheme_follows_the_system_until_chosen_and_is_remembered(
    paths: dict[str, str], tabs: Callable[..., Tab]
) -> None:
    tab = tabs("acme-supervisor")
    page = tab.page
    tab.view("desktop", "dark")
    tab.open("/chat/dashboard/")
    assert page.evaluate("() => document.documentElement.dataset.theme") == "auto"
    assert page.evaluate(BACKGROUND) == DARK_BG
    tab.view("desktop", "light")
    assert page.evaluate(BACKGROUND) == LIGHT_BG

    # Chosen in place: the page is not reloaded (a console would keep its socket).
    page.evaluate("window.__sameDocument = true")
    with page.expect_response("**/accounts/theme/") as answer:
        page.locator("#theme-toggle button[value=dark]").click()
    assert answer.value.status == 200
    page.wait_for_function("() => document.documentElement.dataset.theme === 'dark'")
    assert page.evaluate(BACKGROUND) == DARK_BG
    assert page.locator("#theme-toggle button[value=dark]").get_attribute("aria-pressed") == "true"
    assert page.evaluate("window.__sameDocument === true")

    # Remembered by the server: the next page is dark from its first paint, whatever the
    # system says; the wallboard is dark anyway.
    tab.open("/analytics/")
    assert page.evaluate("() => document.documentElement.dataset.theme") == "dark"
    assert page.evaluate(BACKGROUND) == DARK_BG
    tab.open("/wallboard/")
    assert page.evaluate("() => document.documentElement.dataset.theme") == "dark"

    # Back to the system's.
    tab.open("/analytics/")
    page.locator("#theme-toggle button[value=auto]").click()
    page.wait_for_function("() => document.documentElement.dataset.theme === 'auto'")
    assert page.evaluate(BACKGROUND) == LIGHT_BG
    assert tab.problems == []
