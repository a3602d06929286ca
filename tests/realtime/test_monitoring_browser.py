"""The supervisors' conversations pages in headless Chromium, on the whole stack (daphne,
router, dramatiq worker: tests/realtime/test_browser.py's fixtures): the list and the live
view follow a chat without a reload; a whisper shows, highlighted, in the handling agent's
console only and never reaches the provider; take-over moves the chat to the supervisor.
Checked with axe-core (vendored) at desktop and phone width, light and dark; screenshots go to
test-artifacts/realtime/."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from routing_service.chats.models import (
    ACTIVE_ASSIGNMENT_STATUSES,
    AssignmentStatus,
    Channel,
    ChatAssignment,
    Conversation,
)
from routing_service.tenancy.models import Company, Role, User
from tests.realtime.test_browser import (  # noqa: F401  (fixtures)
    PASSWORD,
    WAIT_MS,
    Browser,
    Page,
    Stack,
    browser,
    customer_message,
    stack,
    wait_until,
    web_channel,
)
from tests.support.browser import axe_violations
from tests.support.fixtures import provider_server  # noqa: F401  (a fixture)
from tests.support.provider_server import ProviderServer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

WCAG_AA = ("wcag2a", "wcag2aa")

# test_browser.py's stack, with more time for daphne to start: on a shared, loaded machine
# importing the project alone took 26 s of wall clock (2 s of CPU).


def phone_and_dark(browser: Browser, user: User, path: str, name: str) -> None:  # noqa: F811
    """The page at 390×844 in dark mode: screenshot, axe, nothing wider than the screen."""
    context = browser.chromium.new_context(
        viewport={"width": 390, "height": 844}, color_scheme="dark", is_mobile=True
    )
    browser.contexts.append(context)
    page = Page(context.new_page(), browser.base)
    page.log_in(user, path)
    page.wait_live()
    assert axe_violations(page.page, tags=WCAG_AA) == []
    width = page.page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"{path} is {width}px wide on a phone"
    page.shot(name)
    assert page.problems == []


def test_supervisor_follows_whispers_and_takes_over_a_live_chat(
    stack: Stack,  # noqa: F811
    browser: Browser,  # noqa: F811
    company_a: Company,
    web_channel: Channel,  # noqa: F811
    provider_server: ProviderServer,  # noqa: F811
    make_agent: Callable[..., User],
    make_user: Callable[..., User],
) -> None:
    from playwright.sync_api import expect

    agent = make_agent(company_a, username="ada", password=PASSWORD, first_name="Ada")
    supervisor = make_agent(
        company_a, Role.SUPERVISOR, username="sam", password=PASSWORD, first_name="Sam"
    )
    make_user(company_a, Role.AGENT, username="bystander", password=PASSWORD)
    # Sam is at the conversations page, not taking chats: the router offers to Ada.
    User.objects.filter(pk=supervisor.pk).update(status="away")

    console, _ = browser.tab()
    console.log_in(agent, "/console/")
    console.wait_live()
    response = stack.post_webhook(
        web_channel, customer_message("cust-1", "Grace Hopper", "Where is my parcel?", 1)
    )
    assert response.status_code == 202, response.text
    console.page.get_by_role("button", name="Accept chat with Grace Hopper").click()
    expect(console.page.locator("#my-chats li[data-assignment=accepted]")).to_have_count(
        1, timeout=WAIT_MS
    )
    chat = Conversation.objects.unscoped().get(client__external_id="cust-1")

    # The list: the chat is there, and its row follows new activity without a reload.
    listing, _ = browser.tab()
    listing.log_in(supervisor, "/conversations/")
    listing.wait_live()
    row = listing.page.locator(f"#conversation-rows tr[data-conversation-id='{chat.pk}']")
    expect(row).to_contain_text("Grace Hopper")
    expect(row.locator("[data-cell=status]")).to_have_text("assigned")
    expect(row.locator("[data-cell=agent]")).to_contain_text("Ada")
    assert axe_violations(listing.page, tags=WCAG_AA) == []  # light, desktop
    stack.post_webhook(web_channel, customer_message("cust-1", "Grace Hopper", "Hello?", 2))
    expect(row).to_have_class("updated", timeout=WAIT_MS)
    listing.shot("conversations-list")

    # The live view: the transcript follows the customer and the agent.
    view, _ = browser.tab()
    view.log_in(supervisor, f"/conversations/{chat.pk}/")
    view.wait_live()
    transcript = view.page.locator("#transcript .text")
    expect(transcript).to_have_text(["Where is my parcel?", "Hello?"], timeout=WAIT_MS)
    stack.post_webhook(web_channel, customer_message("cust-1", "Grace Hopper", "Anyone there?", 3))
    expect(transcript.last).to_have_text("Anyone there?", timeout=WAIT_MS)
    console.page.fill("#reply-text", "Yes! Checking now.")
    console.page.keyboard.press("Enter")
    expect(transcript.last).to_have_text("Yes! Checking now.", timeout=WAIT_MS)
    provider_server.wait_for_requests(1, timeout=WAIT_MS / 1000)

    # A whisper: highlighted in Ada's console, never sent to the customer.
    view.page.fill("#whisper-text", "Offer a refund if it is lost")
    view.page.get_by_role("button", name="Whisper", exact=True).click()
    expect(view.page.locator("#action-status")).to_have_text("Sent.", timeout=WAIT_MS)
    whisper = console.page.locator("#transcript .message.whisper")
    expect(whisper).to_contain_text("Offer a refund if it is lost", timeout=WAIT_MS)
    expect(whisper).to_contain_text("Sam")
    expect(view.page.locator("#transcript [data-kind=whisper]")).to_have_count(1)
    assert axe_violations(view.page, tags=WCAG_AA) == []
    view.shot("conversation-live-view")
    console.shot("console-whisper")
    assert all("refund" not in r.body.decode(errors="replace") for r in provider_server.requests)
    assert len(provider_server.requests) == 1  # the reply only

    # Take over: the chat is Sam's, accepted; Ada's console lets it go.
    view.page.get_by_role("button", name="Take over").click()
    expect(view.page.locator("#fact-agent")).to_contain_text("Sam", timeout=WAIT_MS)
    expect(console.page.locator("#my-chats li")).to_have_count(0, timeout=WAIT_MS)

    def taken() -> bool:
        active = ChatAssignment.objects.unscoped().get(
            conversation_id=chat.pk, status__in=ACTIVE_ASSIGNMENT_STATUSES
        )
        return active.agent_id == supervisor.pk and active.status == AssignmentStatus.ACCEPTED

    wait_until(taken)

    phone_and_dark(browser, supervisor, "/conversations/", "conversations-list-phone-dark")
    phone_and_dark(
        browser, supervisor, f"/conversations/{chat.pk}/", "conversation-view-phone-dark"
    )
    for page in (console, listing, view):
        assert page.problems == [], page.problems
        assert page.same_document()
