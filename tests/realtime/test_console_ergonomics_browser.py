"""Console ergonomics (issue 13 item 8) in headless Chromium on the whole stack: search and
filters over my chats, the keyboard shortcuts and their `?` overlay (a labelled modal dialog
that keeps the focus and closes with Esc), the alert switches stored on the user and the
notification permission asked only from the button, alerts silent while the tab has focus, and
the customer's "typing…" from a generic webhook `typing` event — with screenshots and axe-core
on the new parts."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest

from routing_service.chats.models import Channel
from routing_service.tenancy.models import Company, User
from tests.realtime.test_browser import (  # noqa: F401  (fixtures)
    PASSWORD,
    WAIT_MS,
    Browser,
    Stack,
    browser,
    customer_message,
    stack,
    wait_until,
    web_channel,
)
from tests.support.browser import axe_violations
from tests.support.fixtures import provider_server  # noqa: F401  (a fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NEW_PARTS = (".chat-filters", "#alert-settings", "#shortcuts-dialog", "#conversation-typing")


@pytest.mark.timeout(600)
def test_filters_shortcuts_alert_switches_and_typing_in_the_console(
    stack: Stack,  # noqa: F811
    browser: Browser,  # noqa: F811
    company_a: Company,
    web_channel: Channel,  # noqa: F811
    sla_a: None,
    make_agent: Callable[..., User],
) -> None:
    from playwright.sync_api import expect

    agent = make_agent(company_a, username="ada", password=PASSWORD, max_chats=5)
    console, context = browser.tab()
    # Granted up front, as a person would grant it: the console must still not ask on load.
    context.grant_permissions(["notifications"], origin=stack.base)
    console.page.add_init_script(
        "window.__asked = 0; const ask = Notification.requestPermission.bind(Notification);"
        "Notification.requestPermission = (...a) => { window.__asked += 1; return ask(...a); };"
    )
    console.log_in(agent, "/console/")
    console.wait_live()
    page = console.page
    for n, (client, name, priority) in enumerate(
        [("cust-1", "Grace Hopper", "high"), ("cust-2", "Alan Turing", "low")], start=1
    ):
        payload = {**customer_message(client, name, f"Help me, {name}", n), "priority": priority}
        assert stack.post_webhook(web_channel, payload).status_code == 202
    mine = page.locator("#my-chats li")
    expect(mine).to_have_count(2, timeout=WAIT_MS)
    assert page.evaluate("window.__asked") == 0

    # Search and filters: instant, over what the console holds.
    page.fill("#chat-search", "grace")
    expect(mine).to_have_count(1)
    expect(mine).to_contain_text("Grace Hopper")
    expect(page.locator("#my-chats-hidden")).to_have_text("1 hidden by the filter")
    page.fill("#chat-search", "")
    page.select_option("#priority-filter", "low")
    expect(mine).to_have_count(1)
    expect(mine).to_contain_text("Alan Turing")
    page.select_option("#channel-filter", "whatsapp")
    expect(mine).to_have_count(0)
    console.shot("console-filters")
    page.click("#filters-clear")
    expect(mine).to_have_count(2)

    # The overlay: `?` opens a labelled modal dialog; Tab stays in it; Esc closes it and the
    # focus goes back.
    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_be_visible(timeout=WAIT_MS)
    expect(dialog.locator("#shortcuts-list tr")).to_have_count(9)
    expect(page.locator("#shortcuts-close")).to_be_focused()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('#shortcuts-dialog') !== null")
    violations = axe_violations(page, *NEW_PARTS)
    assert violations == [], "\n".join(violations)
    console.shot("console-shortcuts-overlay")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    # j opens the first chat, a accepts it, r goes to the reply box, where keys are text.
    page.keyboard.press("j")
    first = mine.first
    expect(first).to_have_class(re.compile(r"\bselected\b"), timeout=WAIT_MS)
    first_id = int(first.get_attribute("data-conversation-id") or 0)
    page.keyboard.press("a")
    expect(page.locator("#my-chats li[data-assignment=accepted]")).to_have_count(1, timeout=WAIT_MS)
    # Accepting goes to the reply box (as a click does); Esc leaves it, r comes back.
    expect(page.locator("#reply-text")).to_be_focused(timeout=WAIT_MS)
    page.keyboard.press("Escape")
    expect(page.locator("#reply-text")).not_to_be_focused()
    page.keyboard.press("r")
    expect(page.locator("#reply-text")).to_be_focused()
    page.keyboard.type("jak")
    expect(page.locator("#reply-text")).to_have_value("jak")
    expect(page.locator(f"#my-chats li[data-conversation-id='{first_id}']")).to_have_class(
        re.compile(r"\bselected\b")
    )
    # Alt+↓ works while typing; Esc leaves the field; `/` starts a canned search.
    page.keyboard.press("Alt+ArrowDown")
    expect(page.locator(f"#my-chats li[data-conversation-id='{first_id}']")).not_to_have_class(
        re.compile(r"\bselected\b"), timeout=WAIT_MS
    )
    page.keyboard.press("Escape")
    page.fill("#reply-text", "")
    page.locator("#conversation-title").click()
    page.keyboard.press("/")
    expect(page.locator("#reply-text")).to_be_focused()
    expect(page.locator("#reply-text")).to_have_value("/")
    page.fill("#reply-text", "")

    # A new offer while the tab has the focus: a toast, no sound, no desktop notification.
    assert stack.post_webhook(web_channel, customer_message("cust-3", "Ida", "Hi", 3))
    expect(mine).to_have_count(3, timeout=WAIT_MS)
    wait_until(lambda: page.evaluate("window.switchboard.alerts.length") >= 1)
    assert page.evaluate("window.switchboard.alerts.every((a) => a.silent)")

    # The alert switches: stored on the user; the permission state is said, not asked for.
    page.locator("#alert-settings summary").click()
    expect(page.locator("#alerts-permission-state")).to_contain_text("allowed")
    expect(page.locator("#alerts-permission")).to_be_hidden()
    box = page.locator("input[data-switch=offer_sound]")
    expect(box).to_be_checked()
    box.uncheck()
    wait_until(lambda: User.objects.get(pk=agent.pk).console_alerts.get("offer_sound") is False)
    assert page.evaluate("window.__asked") == 0
    console.shot("console-alert-settings")

    # The tab without the focus: a new offer raises a desktop notification, and no sound
    # (switched off above).
    page.evaluate("document.hasFocus = () => false")
    before = page.evaluate("window.switchboard.alerts.length")
    assert stack.post_webhook(web_channel, customer_message("cust-4", "Joan", "Hi", 4))
    wait_until(lambda: page.evaluate("window.switchboard.alerts.length") > before)
    fired = page.evaluate("window.switchboard.alerts.at(-1)")
    assert fired["kind"] == "offer" and fired["silent"] is False, fired
    assert (fired["desktop"], fired["sound"]) == (True, False), fired
    page.evaluate("delete document.hasFocus")

    # The customer types (generic webhook `typing` event): "typing…" on the open chat, gone by
    # itself a few seconds later.
    grace_id = page.evaluate(
        "[...window.switchboard.state.known.values()]"
        ".find((c) => c.client && c.client.name === 'Grace Hopper').conversation_id"
    )
    page.locator(f"#my-chats li[data-conversation-id='{grace_id}'] button.chat-open").click()
    typing = {"event": "typing", "client": {"id": "cust-1"}}
    assert stack.post_webhook(web_channel, typing).status_code == 202
    indicator = page.locator("#conversation-typing")
    expect(indicator).to_have_text("The customer is typing…", timeout=WAIT_MS)
    expect(
        page.locator(f"#my-chats li[data-conversation-id='{grace_id}'] .tag-typing")
    ).to_be_visible()
    violations = axe_violations(page, *NEW_PARTS)
    assert violations == [], "\n".join(violations)
    console.shot("console-typing")
    started = time.monotonic()
    expect(indicator).to_be_hidden(timeout=WAIT_MS)
    assert time.monotonic() - started < 12

    assert console.problems == []
    assert console.same_document()
