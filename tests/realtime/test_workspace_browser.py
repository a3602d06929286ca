"""The agent's workspace in headless Chromium, on the whole stack (see test_browser.py): the
customer panel with history and notes, labels on a chat and the label filter, the `/` canned
picker, internal notes that never reach the provider, and the canned-responses panel — with
screenshots (desktop, and phone width in dark mode) and axe-core on the new panels."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import pytest

from routing_service.chats import actions
from routing_service.chats.actions import canned as canned_actions
from routing_service.chats.actions import clients as client_actions
from routing_service.chats.actions import labels as label_actions
from routing_service.chats.models import (
    ACTIVE_ASSIGNMENT_STATUSES,
    Channel,
    ChatAssignment,
    Client,
    Conversation,
    DeliveryStatus,
    Message,
    MessageDirection,
    MessageKind,
)
from routing_service.tenancy.models import Company, Role, User
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
from tests.support.inbound import inbound_message
from tests.support.provider_server import ProviderServer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NEW_PANELS = ("#profile", "#canned-manage", "#reply-form", "#conversation-labels", ".label-filter")


def _active(conversation_id: int) -> ChatAssignment:
    return ChatAssignment.objects.unscoped().get(
        conversation_id=conversation_id, status__in=ACTIVE_ASSIGNMENT_STATUSES
    )


def _past_chat(channel: Channel, agent: User) -> int:
    """A resolved chat of the customer from before, made through the product's actions."""
    result = actions.receive_inbound_message(
        channel, inbound_message("old-1", "cust-7", "Where is my invoice?", name="Grace Hopper")
    )
    assert result.conversation_id is not None
    assignment = _active(result.conversation_id)
    actions.accept_assignment(assignment.pk, agent)
    actions.send_agent_reply(result.conversation_id, agent, "Sent it again just now.")
    actions.resolve_assignment(assignment.pk, agent)
    return result.conversation_id


# One long walk through the console on the whole stack: slow on a loaded machine.
@pytest.mark.timeout(600)
def test_profile_labels_canned_picker_and_notes_in_the_console(
    stack: Stack,  # noqa: F811
    browser: Browser,  # noqa: F811
    company_a: Company,
    web_channel: Channel,  # noqa: F811
    sla_a: None,
    provider_server: ProviderServer,  # noqa: F811
    make_agent: Callable[..., User],
    make_user: Callable[..., User],
) -> None:
    from playwright.sync_api import expect

    agent = make_agent(
        company_a, username="ada", password=PASSWORD, first_name="Ada", last_name="Lovelace"
    )
    admin = make_user(company_a, Role.COMPANY_ADMIN, username="boss")
    make_user(company_a, Role.SUPERVISOR, username="grace")
    label_actions.create_label(company_a.pk, "billing", "#1a7f37")
    label_actions.create_label(company_a.pk, "refund", "#c0392b")
    canned_actions.create_canned(
        admin,
        company_a.pk,
        scope="company",
        shortcode="refund",
        title="Refund on its way",
        text="Hi {{client.name}}, {{agent.name}} here: your refund is on its way.",
    )
    canned_actions.create_canned(
        admin, company_a.pk, scope="company", shortcode="hello", title="Hello", text="Hello!"
    )
    old = _past_chat(web_channel, agent)
    # The queue's automatic answer in that chat (what `auto_reply_actions` stores).
    first = Message.objects.unscoped().filter(conversation_id=old).earliest("sent_at")
    Message.objects.create(
        company=company_a,
        conversation_id=old,
        channel=web_channel,
        direction=MessageDirection.OUTBOUND,
        text="Thanks for writing: you are first in line.",
        sent_at=first.sent_at,
        delivery_status=DeliveryStatus.SENT,
        metadata={"automatic": True, "auto_reply": "on_arrival"},
    )
    client = Client.objects.unscoped().get(company=company_a, external_id="cust-7")
    client_actions.add_client_note(client, admin, "Pays by invoice, never by card.")
    provider_server.wait_for_requests(1, timeout=WAIT_MS / 1000)  # the old reply, delivered
    sent_before = len(provider_server.requests)

    console, _ = browser.tab()
    console.log_in(agent, "/console/")
    try:
        console.page.wait_for_selector("#connection[data-state=live]", timeout=3 * WAIT_MS)
    except Exception as error:
        raise AssertionError(f"the console never went live: {console.problems}") from error
    page = console.page
    response = stack.post_webhook(
        web_channel, customer_message("cust-7", "Grace Hopper", "Still no refund?", 2)
    )
    assert response.status_code == 202, response.text
    page.get_by_role("button", name="Accept chat with Grace Hopper").click()
    mine = page.locator("#my-chats li[data-assignment=accepted]")
    expect(mine).to_have_count(1, timeout=WAIT_MS)
    chat = Conversation.objects.unscoped().filter(client=client).exclude(pk=old).get()
    new = chat.pk
    # The queue the chat came through, named on its line.
    assert chat.queue is not None
    expect(mine.locator(".tag-queue")).to_have_text([chat.queue.name])

    # The customer panel: profile, both conversations, the note about them.
    expect(page.locator("#profile-name")).to_have_value("Grace Hopper", timeout=WAIT_MS)
    expect(page.locator("#profile-identities")).to_have_text("Generic: cust-7")
    history = page.locator("#profile-history li")
    expect(history).to_have_count(2)
    expect(page.locator("#profile-notes")).to_contain_text("Pays by invoice, never by card.")
    # The earlier conversation's transcript is one click away.
    page.locator(f"#profile-history li[data-conversation-id='{old}'] button").click()
    expect(page.locator("#transcript .message.inbound .message-text")).to_have_text(
        ["Where is my invoice?"], timeout=WAIT_MS
    )
    expect(page.locator("#conversation-state")).to_have_text("This chat is resolved.")
    automatic = page.locator("#transcript .message.outbound.automatic")
    expect(automatic).to_have_count(1)
    expect(automatic.locator(".automatic-flag")).to_have_text(
        "Automatic message · sent by the queue"
    )
    expect(automatic.locator(".message-text")).to_have_text(
        "Thanks for writing: you are first in line."
    )
    expect(page.locator("#transcript .message.outbound:not(.automatic)")).to_have_count(1)
    mine.locator("button.chat-open").click()
    expect(page.locator("#transcript .message.inbound .message-text")).to_have_text(
        ["Still no refund?"], timeout=WAIT_MS
    )
    expect(page.locator(f"#profile-history li[data-conversation-id='{new}']")).to_contain_text(
        "(open)", timeout=WAIT_MS
    )

    # Editing the profile; a bad attribute is named, a good edit saved.
    page.fill("#profile-email", "grace@example.com")
    page.check("#profile-vip")
    page.fill("#profile-attributes", f"{'k' * 65}: v")
    page.click("#profile-save")
    expect(page.locator("#profile-error")).to_contain_text("attributes", timeout=WAIT_MS)
    page.fill("#profile-attributes", "plan: gold\nseats: 12")
    page.click("#profile-save")
    wait_until(lambda: Client.objects.unscoped().get(pk=client.pk).attributes != {})
    client.refresh_from_db()
    assert (client.email, client.is_vip, client.attributes) == (
        "grace@example.com",
        True,
        {"plan": "gold", "seats": 12},
    )
    page.fill("#client-note-text", "Asked twice about the refund.")
    page.locator("#client-note-form button").click()
    expect(page.locator("#profile-notes li")).to_have_count(2, timeout=WAIT_MS)

    # Labels on the chat, and the lists filtered by label.
    page.click("#labels-edit")
    page.locator("#labels-choices label", has_text="refund").locator("input").check()
    page.locator("#labels-dialog button[value=ok]").click()
    expect(page.locator("#label-chips li")).to_have_text(["refund"], timeout=WAIT_MS)
    wait_until(lambda: Conversation.objects.unscoped().get(pk=new).labels == ["refund"])
    expect(mine.locator(".tag-label")).to_have_text(["refund"], timeout=WAIT_MS)
    page.select_option("#label-filter", "billing")
    expect(page.locator("#my-chats li")).to_have_count(0)
    page.select_option("#label-filter", "refund")
    expect(page.locator("#my-chats li")).to_have_count(1)
    page.select_option("#label-filter", "")

    # The `/` picker: search, arrow keys, Enter inserts the text with its variables filled in.
    box = page.locator("#reply-text")
    box.click()
    box.press_sequentially("/re")
    picker = page.locator("#canned-picker")
    expect(picker).to_be_visible(timeout=WAIT_MS)
    expect(picker.locator("[role=option]")).to_have_count(1)
    expect(box).to_have_attribute(
        "aria-activedescendant", re.compile(r"canned-option-\d+"), timeout=WAIT_MS
    )
    box.press("Backspace")
    box.press("Backspace")  # "/" alone lists them all
    expect(picker.locator("[role=option]")).to_have_count(2, timeout=WAIT_MS)
    expect(picker.locator("[aria-selected=true]")).to_contain_text("/hello")
    box.press("ArrowDown")
    expect(picker.locator("[aria-selected=true]")).to_contain_text("/refund")
    console.shot("workspace-canned-picker")
    box.press("Enter")
    text = "Hi Grace Hopper, Ada Lovelace here: your refund is on its way."
    expect(box).to_have_value(text, timeout=WAIT_MS)
    expect(picker).to_be_hidden()
    box.press("Enter")
    [*_, request] = provider_server.wait_for_requests(sent_before + 1, timeout=WAIT_MS / 1000)
    assert request.json()["text"] == text

    # An internal note: shown apart in the transcript, never sent to the provider.
    page.check("#note-mode")
    expect(page.locator("#reply-send")).to_have_text("Add note")
    box.fill("@grace the refund was approved yesterday")
    box.press("Enter")
    note = page.locator("#transcript .message.internal-note")
    expect(note).to_have_count(1, timeout=WAIT_MS)
    expect(note).to_contain_text("Internal note")
    expect(note.locator(".message-text")).to_have_text("@grace the refund was approved yesterday")
    assert (
        Conversation.objects.unscoped().get(pk=new).messages.filter(kind=MessageKind.NOTE).count()
        == 1
    )
    time.sleep(1.5)  # the worker had its chance
    assert len(provider_server.requests) == sent_before + 1

    # The canned-responses panel: shared ones listed, a personal one added.
    page.locator("#canned-manage summary").click()
    rows = page.locator("#canned-list li.canned-row")
    expect(rows).to_have_count(2, timeout=WAIT_MS)
    expect(page.locator("#canned-scope option")).to_have_count(1)  # agents: personal only
    page.fill("#canned-shortcode", "thanks")
    page.fill("#canned-title-input", "Thanks")
    page.fill("#canned-text", "Thanks {{client.name}}!")
    page.locator("#canned-form button[type=submit]").click()
    expect(rows).to_have_count(3, timeout=WAIT_MS)
    expect(page.locator("#canned-list li[data-shortcode=thanks]")).to_contain_text("mine")

    violations = axe_violations(page, *NEW_PANELS)
    assert violations == [], "\n".join(violations)
    console.shot("workspace-console")
    page.set_viewport_size({"width": 390, "height": 844})
    page.emulate_media(color_scheme="dark")
    expect(page.locator("#profile")).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways at phone width ({width}px)"
    console.shot("workspace-console-phone-dark")
    # The one refusal the test asked for (the bad attribute), and nothing else.
    assert [problem for problem in console.problems if "400" not in problem] == []
    assert [p for p in console.problems if p.startswith("HTTP 400")] == [
        f"HTTP 400: {stack.base}/api/v1/clients/{client.pk}/"
    ]
    assert console.same_document()
