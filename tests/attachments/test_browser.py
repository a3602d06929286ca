"""Attachments in the console, on the whole stack in headless Chromium.

A customer's webhook names a picture and a PDF hosted on the local provider stand-in; the
router records them pending, the dramatiq worker (a child process) downloads them, and the
console shows the picture inline and the PDF as a link — through signed URLs. The agent then
attaches a file with the picker and sends it: the channel's callback receives it with a signed
public URL. Checked at desktop and phone width, in dark mode, with axe-core on the new parts.
Screenshots go to test-artifacts/attachments/.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from routing_service.attachments.models import Attachment, AttachmentStatus
from routing_service.chats.models import Channel
from routing_service.tenancy.models import AgentStatus, Company, Role, User
from tests.attachments import media
from tests.realtime.test_browser import (  # noqa: F401  (fixtures)
    PASSWORD,
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
from tests.support.processes import (
    ROOT,
)
from tests.support.provider_server import ProviderServer, Reply

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = ROOT / "test-artifacts" / "attachments"
# Generous: the machine may be busy (the downloads run in a worker process).
WAIT_MS = 60_000


def test_inbound_media_shows_in_the_console_and_an_agent_sends_a_file(
    stack: Stack,  # noqa: F811
    browser: Browser,  # noqa: F811
    company_a: Company,
    web_channel: Channel,  # noqa: F811
    provider_server: ProviderServer,  # noqa: F811
    make_user: Callable[..., User],
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    agent = make_user(
        company_a,
        Role.AGENT,
        username="ada",
        password=PASSWORD,
        first_name="Ada",
        status=AgentStatus.AVAILABLE,
    )
    picture = provider_server.serve("/files/parcel.png", Reply(200, media.png(64, 48)))
    receipt = provider_server.serve("/files/receipt.pdf", Reply(200, media.pdf()))
    console, _ = browser.tab()
    console.log_in(agent, "/console/")
    console.wait_live()

    message = customer_message("cust-7", "Grace Hopper", "The parcel arrived broken", 1)
    message["attachments"] = [
        {"url": picture, "content_type": "image/jpeg", "name": "parcel.jpg"},
        {"url": receipt, "content_type": "application/pdf", "name": "receipt.pdf"},
    ]
    assert stack.post_webhook(web_channel, message).status_code == 202

    accept = console.page.get_by_role("button", name="Accept chat with Grace Hopper")
    expect(accept).to_be_visible(timeout=WAIT_MS)
    accept.click()
    transcript = console.page.locator("#transcript .message.inbound")
    expect(transcript.locator(".message-text")).to_have_text(
        ["The parcel arrived broken"], timeout=WAIT_MS
    )
    image = transcript.locator(".attachment.image img")
    expect(image).to_have_count(1, timeout=WAIT_MS)
    expect(image).to_have_attribute("alt", "parcel.jpg")
    wait_until(lambda: image.evaluate("(img) => img.complete && img.naturalWidth") == 64, 60)
    pdf_link = transcript.locator(".attachment.file a.attachment-link")
    expect(pdf_link).to_contain_text("receipt.pdf", timeout=WAIT_MS)
    href = pdf_link.get_attribute("href")
    assert href and href.startswith("/attachments/")
    # The signed link is the agent's own: without the session it is refused.
    assert httpx.get(f"{stack.base}{href}").status_code == 403
    stored = Attachment.objects.unscoped().order_by("pk")
    assert [a.status for a in stored] == [AttachmentStatus.READY] * 2
    assert stored[0].content_type == "image/png"  # sniffed; the sender said JPEG
    assert axe_violations(console.page, ".attachments", "#reply-form") == []
    _shot(console.page, "console-inbound-media")

    # The agent attaches a file with the picker and sends it with a few words.
    upload = tmp_path / "label.pdf"
    upload.write_bytes(media.pdf())
    console.page.set_input_files("#reply-file", str(upload))
    chip = console.page.locator("#reply-files li[data-status=ready]")
    expect(chip).to_contain_text("label.pdf", timeout=WAIT_MS)
    console.page.fill("#reply-text", "Here is your return label")
    console.page.keyboard.press("Enter")
    outbound = console.page.locator("#transcript .message.outbound")
    expect(outbound.locator(".attachment-link")).to_contain_text("label.pdf", timeout=WAIT_MS)
    expect(console.page.locator("#reply-files li")).to_have_count(0, timeout=WAIT_MS)
    wait_until(
        lambda: any(r.route == "/hooks/replies" for r in provider_server.requests), timeout=60
    )
    callbacks = [r for r in provider_server.requests if r.route == "/hooks/replies"]
    (callback,) = callbacks
    body = callback.json()
    assert body["text"] == "Here is your return label"
    assert [f["name"] for f in body["attachments"]] == ["label.pdf"]
    assert "/attachments/public/" in body["attachments"][0]["url"]
    expect(outbound).to_have_attribute("data-delivery", "sent", timeout=WAIT_MS)

    # Phone width and dark mode: the files still fit and read.
    console.page.set_viewport_size({"width": 390, "height": 844})
    console.page.emulate_media(color_scheme="dark")
    width = image.evaluate("(img) => img.getBoundingClientRect().width")
    assert 0 < width <= 390
    _shot(console.page, "console-media-phone-dark")
    assert axe_violations(console.page, ".attachments", "#reply-form") == []
    assert console.problems == []
    stack.alive()


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
