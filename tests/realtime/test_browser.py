"""The console and the wallboard in headless Chromium, on the whole stack.

daphne (routing_service.asgi:application), a router (`manage.py run_router`) and a dramatiq
worker (`manage.py rundramatiq`) run as child processes on the test database and this run's
Redis prefix; a generic channel's callback URL points at a local provider server. Customers
write through signed webhooks to daphne, the agent works in /console/, a supervisor watches
/wallboard/ at the same time. Chromium is Debian's (/usr/bin/chromium), driven by Playwright's
Python API; nothing is downloaded. Screenshots go to test-artifacts/realtime/.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import redis
from django.db import connections

from events.log import log_key
from events.schema import agent_group
from routing_service.chats.models import (
    Channel,
    Message,
    MessageDirection,
    Provider,
    RoutingPolicy,
)
from routing_service.ingest.adapters.generic import sign_generic
from routing_service.tenancy.models import AgentStatus, Company, Role, User
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, CspWatch
from tests.support.fixtures import provider_server  # noqa: F401  (a fixture)
from tests.support.processes import (
    ROOT,
    child_env,
    daphne,
    free_port,
    manage,
    stop,
    wait_for_other_sessions_to_end,
    wait_for_port,
)
from tests.support.provider_server import ProviderServer

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = ROOT / "test-artifacts" / "realtime"
PASSWORD = "browser-pw-123"
SECRET = "browser-channel-secret"
WAIT_MS = 15_000


@dataclass
class Stack:
    """The running system: daphne's base URL and the processes behind it."""

    base: str
    processes: dict[str, subprocess.Popen[bytes]]

    def post_webhook(self, channel: Channel, payload: dict[str, Any]) -> httpx.Response:
        """A customer message, signed like a provider signs it."""
        body = json.dumps(payload).encode()
        timestamp = int(time.time())
        return httpx.post(
            f"{self.base}{channel.webhook_path}",
            content=body,
            headers={
                "Content-Type": "application/json",
                "X-Switchboard-Timestamp": str(timestamp),
                "X-Switchboard-Signature": sign_generic(channel.secret, timestamp, body),
            },
            timeout=10,
        )

    def alive(self) -> None:
        for name, process in self.processes.items():
            assert process.poll() is None, f"{name} exited:\n{stop(process)}"


@pytest.fixture
def stack(transactional_db: Any, redis_client: redis.Redis) -> Iterator[Stack]:
    """daphne + router + dramatiq worker as child processes, for one test.

    Function-scoped because every realtime test starts with none of this run's Redis keys
    (tests/realtime/conftest.py), and the router and the worker keep state there.
    """
    env = child_env(ROUTER_BLOCK_MS="100")
    port = free_port()
    web = daphne(port, env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    processes = {
        "daphne": web,
        "router": manage("run_router", "--name=browser-router", env=env),
        "worker": manage("rundramatiq", "--processes", "1", "--threads", "2", env=env),
    }
    try:
        # Generous: daphne's start takes long on a loaded machine.
        wait_for_port(port, web, timeout=180)
        yield Stack(f"http://127.0.0.1:{port}", processes)
    finally:
        for process in processes.values():
            stop(process)
        wait_for_other_sessions_to_end()


@dataclass
class Page:
    """One browser tab that records console errors, page errors and failed requests."""

    page: Any
    base: str
    problems: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        self.page.on("requestfailed", self._failed)
        self.page.on("response", self._response)

    def _console(self, message: Any) -> None:
        if message.type in {"error", "warning"}:
            self.problems.append(f"console {message.type} on {self.page.url}: {message.text}")

    def _failed(self, request: Any) -> None:
        # Navigating away aborts the previous page's favicon load: not a fault of either page.
        if request.failure == "net::ERR_ABORTED" and request.url.endswith("/favicon.svg"):
            return
        self.problems.append(f"failed: {request.url} {request.failure}")

    def _response(self, response: Any) -> None:
        if response.status >= 400:
            self.problems.append(f"HTTP {response.status}: {response.url}")

    def log_in(self, user: User, then: str) -> None:
        self.page.goto(f"{self.base}/accounts/login/")
        self.page.fill("#id_username", user.username)
        self.page.fill("#id_password", PASSWORD)
        self.page.click("button[type=submit]")
        self.page.wait_for_url(f"{self.base}/")
        # The login and start pages are not under test (they ask for a /favicon.ico).
        self.problems.clear()
        response = self.page.goto(f"{self.base}{then}")
        assert response is not None and response.status == 200
        # Mark this document: had the page reloaded since, the mark would be gone.
        self.page.evaluate("window.__sameDocument = true")

    def same_document(self) -> bool:
        return bool(self.page.evaluate("window.__sameDocument === true"))

    def wait_live(self) -> None:
        self.page.wait_for_selector("#connection[data-state=live]", timeout=WAIT_MS)

    def kpi(self, name: str) -> Any:
        return self.page.locator(f"[data-kpi={name}] .kpi-value")

    def shot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@dataclass
class Browser:
    chromium: Any
    base: str
    contexts: list[Any] = field(default_factory=list)
    csp: list[CspWatch] = field(default_factory=list)

    def tab(self) -> tuple[Page, Any]:
        """A page in a context of its own (its own cookies: one person per context)."""
        context = self.chromium.new_context(viewport={"width": 1440, "height": 900})
        self.contexts.append(context)
        self.csp.append(CspWatch(context))
        return Page(context.new_page(), self.base), context


@pytest.fixture
def browser(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls are
    # still plain synchronous code on this thread only.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        browser = Browser(chromium, stack.base)
        try:
            yield browser
            for watch in browser.csp:
                watch.assert_none()
        finally:
            for context in browser.contexts:
                context.close()
            chromium.close()
            # Django's per-thread connections follow context variables, which Playwright's
            # greenlet switches: the test's ORM calls got connections of their own here.
            connections.close_all()


@pytest.fixture
def web_channel(company_a: Company, provider_server: ProviderServer) -> Channel:  # noqa: F811
    """A generic channel whose replies go to the local provider server (and offers that do
    not expire while a test looks at them)."""
    RoutingPolicy.objects.unscoped().filter(company=company_a).update(offer_timeout_seconds=600)
    return Channel.objects.create(
        company=company_a,
        name="Website",
        provider=Provider.GENERIC,
        secret=SECRET,
        config={"callback_url": f"{provider_server.url}/hooks/replies"},
    )


def customer_message(client_id: str, name: str, text: str, n: int) -> dict[str, Any]:
    return {
        "message_id": f"{client_id}-m{n}",
        "client": {"id": client_id, "name": name},
        "text": text,
        "sent_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def logged_texts(client: redis.Redis, company: Company, agent: User) -> list[str]:
    """The texts of the chat.message events in the agent's durable event log."""
    texts = []
    for _, fields in client.xrange(log_key(company.pk, agent_group(agent.pk))):
        event = json.loads(fields[b"e"])
        if event["type"] == "chat.message":
            texts.append(event["data"]["text"])
    return texts


def wait_until(condition: Callable[[], bool], timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def test_agent_takes_a_webhook_chat_while_the_wallboard_follows(
    stack: Stack,
    browser: Browser,
    company_a: Company,
    web_channel: Channel,
    sla_a: None,
    provider_server: ProviderServer,  # noqa: F811
    make_agent: Callable[..., User],
    make_user: Callable[..., User],
) -> None:
    agent = make_agent(company_a, username="ada", password=PASSWORD, first_name="Ada")
    supervisor = make_user(company_a, Role.SUPERVISOR, username="sam", password=PASSWORD)
    console, _ = browser.tab()
    wall, _ = browser.tab()
    console.log_in(agent, "/console/")
    wall.log_in(supervisor, "/wallboard/")
    console.wait_live()
    wall.wait_live()
    from playwright.sync_api import expect

    expect(wall.kpi("chats-today")).to_have_text("0", timeout=WAIT_MS)
    expect(wall.kpi("agents-available")).to_have_text("1")
    expect(wall.kpi("sla-compliance")).to_have_text("—")
    expect(console.page.locator("#status-select")).to_have_value("available")

    # A customer writes; markup in their text must stay text.
    text = "My parcel <b>never</b> arrived & I'm upset"
    message = customer_message("cust-1", "Grace <Hopper>", text, 1)
    response = stack.post_webhook(web_channel, message)
    assert response.status_code == 202, response.text

    offer = console.page.locator("#my-chats li[data-assignment=offered]")
    expect(offer).to_contain_text("Grace <Hopper>", timeout=WAIT_MS)
    expect(offer.locator("[data-clock=first_response]")).to_have_attribute("data-state", "ok")
    expect(wall.kpi("chats-today")).to_have_text("1", timeout=WAIT_MS)
    expect(wall.kpi("pending-offers")).to_have_text("1", timeout=WAIT_MS)

    console.page.get_by_role("button", name="Accept chat with Grace <Hopper>").click()
    accepted = console.page.locator("#my-chats li[data-assignment=accepted]")
    expect(accepted).to_have_count(1, timeout=WAIT_MS)
    inbound = console.page.locator("#transcript .message.inbound .message-text")
    expect(inbound).to_have_text([text], timeout=WAIT_MS)
    expect(console.page.locator("#conversation-sla [data-clock=first_response]")).to_be_visible()

    reply = "So sorry! A new parcel leaves today."
    console.page.fill("#reply-text", reply)
    console.page.keyboard.press("Enter")
    outbound = console.page.locator("#transcript .message.outbound")
    expect(outbound).to_have_count(1, timeout=WAIT_MS)
    expect(outbound.locator(".message-text")).to_have_text(reply)
    # The worker delivered it to the channel's callback URL, signed.
    [request] = provider_server.wait_for_requests(1, timeout=WAIT_MS / 1000)
    assert request.route == "/hooks/replies"
    assert request.json()["text"] == reply
    assert request.json()["client"] == {"id": "cust-1"}
    timestamp = int(request.header("X-Switchboard-Timestamp"))
    assert request.header("X-Switchboard-Signature") == sign_generic(
        SECRET, timestamp, request.body
    )
    expect(outbound).to_have_attribute("data-delivery", "sent", timeout=WAIT_MS)
    # Answered: the first-response clock stops; the resolution clock keeps running.
    expect(console.page.locator("#conversation-sla [data-clock=first_response]")).to_have_count(0)
    expect(console.page.locator("#conversation-sla [data-clock=resolution]")).to_be_visible()

    # The supervisor's numbers followed, without a reload.
    expect(wall.kpi("pending-offers")).to_have_text("0", timeout=WAIT_MS)
    expect(wall.kpi("sla-compliance")).to_have_text("100%", timeout=WAIT_MS)
    expect(wall.kpi("median-first-response")).not_to_have_text("—")
    expect(wall.page.locator("[data-kpi=agents-available] .kpi-sub")).to_have_text(
        "load 1 / 3 chats"
    )
    expect(wall.page.locator(f"#agents li[data-agent-id='{agent.pk}']")).to_contain_text(
        "1 / 3 chats"
    )
    console.shot("console")
    wall.shot("wallboard")

    # Resolving frees the agent; the wallboard sees that too.
    console.page.locator("#conversation-actions button[data-action=resolve]").click()
    expect(console.page.locator("#my-chats li")).to_have_count(0, timeout=WAIT_MS)
    expect(wall.page.locator("[data-kpi=agents-available] .kpi-sub")).to_have_text(
        "load 0 / 3 chats", timeout=WAIT_MS
    )

    assert console.same_document() and wall.same_document()
    assert Message.objects.filter(direction=MessageDirection.OUTBOUND).count() == 1
    assert console.problems == []
    assert wall.problems == []
    stack.alive()


def test_a_dropped_console_resumes_with_the_missed_events_in_order(
    stack: Stack,
    browser: Browser,
    company_a: Company,
    web_channel: Channel,
    sla_a: None,
    redis_client: redis.Redis,
    make_agent: Callable[..., User],
) -> None:
    from playwright.sync_api import expect

    agent = make_agent(company_a, username="ada", password=PASSWORD)
    console, context = browser.tab()
    console.log_in(agent, "/console/")
    console.wait_live()
    page = console.page

    first = "Hello, is anyone there?"
    assert stack.post_webhook(web_channel, customer_message("c1", "Lin", first, 1)).is_success
    page.get_by_role("button", name="Accept chat with Lin").click()
    messages = page.locator("#transcript .message.inbound .message-text")
    expect(messages).to_have_text([first], timeout=WAIT_MS)

    # The network goes away and the socket with it.
    context.set_offline(True)
    page.evaluate("window.switchboard.drop()")
    expect(page.locator("#connection")).to_have_attribute("data-state", "down")
    seq_at_drop = page.evaluate("window.switchboard.live.lastSeq")
    seen_before = page.evaluate("window.switchboard.debug.events.length")

    # Meanwhile the customer goes on writing, and someone new arrives.
    missed = ["I ordered on Monday.", "Order number 4411.", "It still says 'processing'."]
    for n, text in enumerate(missed, start=2):
        assert stack.post_webhook(web_channel, customer_message("c1", "Lin", text, n)).is_success
    assert stack.post_webhook(web_channel, customer_message("c2", "Noor", "Hi!", 1)).is_success
    # Wait until the router has logged them all for the agent (so they are missed, not live).
    wait_until(lambda: logged_texts(redis_client, company_a, agent)[-3:] == missed)
    wait_until(lambda: Message.objects.filter(text="Hi!").exists())
    assert page.locator("#transcript .message").count() == 1

    context.set_offline(False)
    console.wait_live()
    expect(messages).to_have_text([first, *missed], timeout=WAIT_MS)
    expect(page.locator("#my-chats li", has_text="Noor")).to_have_count(1, timeout=WAIT_MS)

    debug = page.evaluate("window.switchboard.debug")
    # Resumed where it stopped: a replay, not a fresh snapshot.
    assert debug["connects"][-1].endswith(f"last_seq={seq_at_drop}")
    assert len(debug["snapshots"]) == 1
    seqs = [event["seq"] for event in debug["events"]]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert len({event["id"] for event in debug["events"]}) == len(debug["events"])
    after = debug["events"][seen_before:]
    assert after and after[0]["seq"] > seq_at_drop
    assert [e["type"] for e in after].count("chat.message") >= len(missed)
    assert debug["duplicates"] == 0

    # Noor writes again: her chat (offered, not open) gets an unread badge and a notification.
    second = customer_message("c2", "Noor", "Are you there?", 2)
    assert stack.post_webhook(web_channel, second).is_success
    noor = page.locator("#my-chats li", has_text="Noor")
    expect(noor.locator(".badge")).to_have_text("1", timeout=WAIT_MS)
    note = page.locator("#notifications li", has_text="Noor")
    expect(note).to_contain_text("Are you there?")
    # Dismissed on one console, it goes away on every console, and stays away.
    other = Page(context.new_page(), stack.base)
    other.page.goto(f"{stack.base}/console/")
    other_note = other.page.locator("#notifications li", has_text="Noor")
    expect(other_note).to_have_count(1, timeout=WAIT_MS)
    page.get_by_role("button", name="Dismiss the notification from Noor").click()
    expect(note).to_have_count(0, timeout=WAIT_MS)
    expect(other_note).to_have_count(0, timeout=WAIT_MS)
    expect(noor.locator(".badge")).to_have_count(0)
    other.page.reload()
    expect(other.page.locator("#my-chats li", has_text="Noor")).to_have_count(1, timeout=WAIT_MS)
    expect(other_note).to_have_count(0)

    # A resume the server cannot serve (its seq is unknown to it, as after a Redis swap):
    # a snapshot with resync: true replaces the state, and live events flow on from there.
    page.evaluate("window.switchboard.live.lastSeq = 10 ** 9; window.switchboard.drop()")
    wait_until(lambda: len(page.evaluate("window.switchboard.debug.snapshots")) == 2)
    assert page.evaluate("window.switchboard.debug.snapshots[1].resync") is True
    expect(page.locator("#my-chats li")).to_have_count(2)
    third = customer_message("c1", "Lin", "Still there?", 5)
    assert stack.post_webhook(web_channel, third).is_success
    expect(messages).to_have_text([first, *missed, "Still there?"], timeout=WAIT_MS)

    assert console.same_document()
    assert console.problems == []
    assert other.problems == []
    stack.alive()


def test_transfer_escalate_and_status_from_the_console(
    stack: Stack,
    browser: Browser,
    company_a: Company,
    web_channel: Channel,
    sla_a: None,
    make_agent: Callable[..., User],
) -> None:
    from playwright.sync_api import expect

    ada = make_agent(company_a, username="ada", password=PASSWORD, max_chats=2)
    # Away and offline: new chats are routed to Ada only.
    ben = make_agent(
        company_a, username="ben", password=PASSWORD, first_name="Ben", status=AgentStatus.AWAY
    )
    sue = make_agent(
        company_a, Role.SUPERVISOR, username="sue", password=PASSWORD, status=AgentStatus.OFFLINE
    )
    consoles = {}
    for user in (ada, ben, sue):
        consoles[user.username], _ = browser.tab()
        consoles[user.username].log_in(user, "/console/")
    for console in consoles.values():
        console.wait_live()
    page = consoles["ada"].page

    for client, name in (("t1", "Tom"), ("t2", "Uma")):
        message = customer_message(client, name, f"Hello from {name}", 1)
        assert stack.post_webhook(web_channel, message).is_success
    for name in ("Tom", "Uma"):
        page.get_by_role("button", name=f"Accept chat with {name}").click()
    expect(page.locator("#my-chats li[data-assignment=accepted]")).to_have_count(2, timeout=WAIT_MS)

    # Tom cannot go to Ben while Ben is away: the offer would only time out unseen.
    page.locator("#my-chats li", has_text="Tom").locator(".chat-open").click()
    page.locator("#conversation-actions button[data-action=transfer]").click()
    dialog = page.locator("#transfer-dialog")
    expect(dialog.locator(f"#transfer-target option[value='{ben.pk}']")).to_have_count(1)
    dialog.locator("#transfer-target").select_option(str(ben.pk))
    dialog.locator("#transfer-reason").fill("Ben speaks Tom's language")
    dialog.get_by_role("button", name="Transfer").click()
    expect(page.locator("#toasts")).to_contain_text("Ben is away", timeout=WAIT_MS)
    expect(page.locator("#my-chats li[data-assignment=accepted]")).to_have_count(2)

    # Ben is back: Tom goes to him, with a reason; Ben is offered the chat and told so.
    ben_page = consoles["ben"].page
    ben_page.locator("#status-select").select_option("available")
    wait_until(lambda: User.objects.get(pk=ben.pk).status == AgentStatus.AVAILABLE)
    page.locator("#conversation-actions button[data-action=transfer]").click()
    dialog.locator("#transfer-target").select_option(str(ben.pk))
    dialog.locator("#transfer-reason").fill("Ben speaks Tom's language")
    dialog.get_by_role("button", name="Transfer").click()
    expect(ben_page.locator("#my-chats li[data-assignment=offered]")).to_contain_text(
        "Tom", timeout=WAIT_MS
    )
    # One toast for it (the offer's own toast is replaced).
    expect(ben_page.locator("#toasts .toast")).to_have_count(1)
    expect(ben_page.locator("#toasts")).to_contain_text("Transferred to you: Tom")
    expect(page.locator("#my-chats li")).to_have_count(1, timeout=WAIT_MS)

    # Uma goes up to the supervisor, who came online for it (an offline one is passed over).
    sue_page = consoles["sue"].page
    sue_page.locator("#status-select").select_option("available")
    wait_until(lambda: User.objects.get(pk=sue.pk).status == AgentStatus.AVAILABLE)
    page.locator("#my-chats li", has_text="Uma").locator(".chat-open").click()
    page.locator("#conversation-actions button[data-action=escalate]").click()
    page.locator("#escalate-reason").fill("Asks for a refund over the limit")
    page.locator("#escalate-dialog").get_by_role("button", name="Escalate").click()
    expect(sue_page.locator("#my-chats li[data-assignment=accepted]")).to_contain_text(
        "Uma", timeout=WAIT_MS
    )
    expect(sue_page.locator("#alerts")).to_contain_text("Escalated to you: Uma")
    expect(page.locator("#my-chats li")).to_have_count(0, timeout=WAIT_MS)
    expect(page.locator("#conversation-state")).to_have_text("This chat is not yours (any more).")

    # Ada takes a break.
    page.locator("#status-select").select_option("away")
    expect(page.locator("#status-select")).to_have_attribute("data-status", "away")
    wait_until(lambda: User.objects.get(pk=ada.pk).status == AgentStatus.AWAY)
    consoles["ada"].shot("console-after-escalation")

    for console in consoles.values():
        assert console.same_document()
        assert console.problems == []
    stack.alive()


def test_a_declined_chat_waits_and_the_console_says_for_how_long(
    stack: Stack,
    browser: Browser,
    company_a: Company,
    web_channel: Channel,
    make_agent: Callable[..., User],
) -> None:
    from playwright.sync_api import expect

    ada = make_agent(company_a, username="ada", password=PASSWORD)
    console, _ = browser.tab()
    console.log_in(ada, "/console/")
    console.wait_live()
    page = console.page
    assert stack.post_webhook(web_channel, customer_message("d1", "Dan", "Hi", 1)).is_success
    expect(page.locator("#my-chats li[data-assignment=offered]")).to_contain_text(
        "Dan", timeout=WAIT_MS
    )

    page.locator("#my-chats li", has_text="Dan").locator(".chat-open").click()
    page.locator("#conversation-actions button[data-action=decline]").click()
    page.locator("#decline-reason").fill("Not my area")
    page.locator("#decline-dialog").get_by_role("button", name="Decline").click()

    expect(page.locator("#toasts")).to_contain_text(
        "Declined — not offered to you again for 60 s", timeout=WAIT_MS
    )
    # Ada is the only agent, yet the chat is not offered straight back: it waits in the queue.
    expect(page.locator("#queue li")).to_contain_text("Dan", timeout=WAIT_MS)
    expect(page.locator("#my-chats li")).to_have_count(0)
    time.sleep(1)  # a router turn or two: still not offered back
    expect(page.locator("#my-chats li")).to_have_count(0)
    console.shot("console-declined")
    assert console.problems == []
    stack.alive()


def test_sla_escalation_steps_have_their_own_alerts_on_console_and_wallboard(
    stack: Stack,
    browser: Browser,
    company_a: Company,
    web_channel: Channel,
    sla_a: None,
    make_agent: Callable[..., User],
    make_user: Callable[..., User],
) -> None:
    from playwright.sync_api import expect

    from routing_service.chats.models import Conversation
    from sla_engine.models import ChatSLA
    from sla_engine.timer import SlaTimerWorker

    ChatSLA.objects.filter(company=company_a).update(
        escalation_ladder=[
            {"after_minutes": 0, "action": "notify_supervisors"},
            {"after_minutes": 0, "action": "raise_priority"},
        ]
    )
    ada = make_agent(company_a, username="ada", password=PASSWORD)
    sam = make_user(company_a, Role.SUPERVISOR, username="sam", password=PASSWORD)
    console, _ = browser.tab()
    wall, _ = browser.tab()
    console.log_in(ada, "/console/")
    wall.log_in(sam, "/wallboard/")
    console.wait_live()
    wall.wait_live()
    assert stack.post_webhook(web_channel, customer_message("s1", "Tom", "Hello?", 1)).is_success
    page = console.page
    page.get_by_role("button", name="Accept chat with Tom").click(timeout=WAIT_MS)
    expect(page.locator("#my-chats li[data-assignment=accepted]")).to_have_count(1, timeout=WAIT_MS)

    # Ten minutes without an answer: the breach, then the ladder's two steps.
    started = Conversation.objects.get().created_at
    worker = SlaTimerWorker(name="browser-timer", metrics_every=0)
    while worker.drain(now=started + dt.timedelta(minutes=10, seconds=1)):
        pass

    expect(wall.page.locator(".toast", has_text="Escalation step 2: Tom")).to_have_count(
        1, timeout=WAIT_MS
    )
    expect(wall.page.locator(".toast", has_text="SLA breached: Tom")).to_have_count(1)
    expect(wall.page.locator(".toast", has_text="Escalation step 1: Tom")).to_contain_text(
        "First response target missed: supervisors notified."
    )
    expect(wall.page.locator(".toast", has_text="Escalation step 2: Tom")).to_contain_text(
        "priority raised to high"
    )
    # The agent: the breach once, and the step that changed their chat (not the supervisors').
    expect(page.locator(".toast", has_text="Escalation step 2: Tom")).to_contain_text(
        "priority raised to high", timeout=WAIT_MS
    )
    expect(page.locator(".toast", has_text="SLA breached: Tom")).to_have_count(1)
    expect(page.locator(".toast", has_text="Escalation step 1")).to_have_count(0)
    console.shot("console-sla-steps")
    wall.shot("wallboard-sla-steps")
    assert console.problems == []
    assert wall.problems == []
    stack.alive()


# Records, from the page, every moment the open chat counted as unread anywhere on screen: a
# badge on its line, a line in "Unread", the unread total. And lets a test hide the page.
_UNREAD_WATCH = """(id) => {
    window.__shownUnread = [];
    let settling = false;
    const look = () => {
        if (document.visibilityState !== "visible" || settling) return;
        const line = document.querySelector(`#my-chats li[data-conversation-id="${id}"]`);
        if (line && line.querySelector(".badge")) window.__shownUnread.push("badge");
        if (document.querySelector("#notifications li")) window.__shownUnread.push("unread list");
        if (!document.getElementById("unread-total").hidden) window.__shownUnread.push("total");
    };
    new MutationObserver(look).observe(document.getElementById("console"),
        { subtree: true, childList: true, attributes: true });
    window.__visibility = "visible";
    Object.defineProperty(document, "visibilityState", { get: () => window.__visibility });
    window.__show = (visibility) => {
        // The page redraws in its next frame: judge it from the frame after.
        settling = true;
        window.__visibility = visibility;
        document.dispatchEvent(new Event("visibilitychange"));
        requestAnimationFrame(() => requestAnimationFrame(() => { settling = false; look(); }));
    };
}"""


def test_the_open_chat_stays_read_through_a_replay(
    stack: Stack,
    browser: Browser,
    company_a: Company,
    web_channel: Channel,
    sla_a: None,
    redis_client: redis.Redis,
    make_agent: Callable[..., User],
) -> None:
    """Issue 12 item 9: what a replay brings into the chat open on screen is read, as live
    messages are: never an unread badge, and `mark_read` sent once the socket is back."""
    from playwright.sync_api import expect

    from routing_service.chats.models import ChatNotification

    agent = make_agent(company_a, username="ada", password=PASSWORD)
    console, context = browser.tab()
    console.log_in(agent, "/console/")
    console.wait_live()
    page = console.page
    page.evaluate("""() => {
        const live = window.switchboard.live;
        const request = live.request.bind(live);
        window.__marked = 0;
        live.request = (action, fields) => {
            if (action === "mark_read") window.__marked += 1;
            return request(action, fields);
        };
    }""")

    def unread() -> int:
        note = ChatNotification.objects.unscoped().filter(recipient=agent).first()
        return note.unread_count if note else 0

    def marked() -> int:
        return int(page.evaluate("window.__marked"))

    def lin_writes(text: str, n: int) -> None:
        assert stack.post_webhook(web_channel, customer_message("r1", "Lin", text, n)).is_success
        wait_until(lambda: logged_texts(redis_client, company_a, agent)[-1:] == [text])

    def drop() -> None:
        context.set_offline(True)
        page.evaluate("window.switchboard.drop()")
        expect(page.locator("#connection")).to_have_attribute("data-state", "down")

    def reconnect() -> None:
        context.set_offline(False)
        console.wait_live()

    assert stack.post_webhook(web_channel, customer_message("r1", "Lin", "Hello", 1)).is_success
    page.get_by_role("button", name="Accept chat with Lin").click(timeout=WAIT_MS)
    lin = page.locator("#my-chats li", has_text="Lin")
    messages = page.locator("#transcript .message.inbound .message-text")
    expect(messages).to_have_text(["Hello"], timeout=WAIT_MS)
    wait_until(lambda: unread() == 0)
    page.evaluate(_UNREAD_WATCH, lin.get_attribute("data-conversation-id"))

    # Live: read at once.
    lin_writes("Live", 2)
    expect(messages).to_have_text(["Hello", "Live"], timeout=WAIT_MS)
    wait_until(lambda: unread() == 0)

    # Replayed: the socket drops, Lin writes, the console resumes with ?last_seq=.
    before = marked()
    drop()
    lin_writes("Missed", 3)
    assert unread() == 1
    reconnect()
    expect(messages).to_have_text(["Hello", "Live", "Missed"], timeout=WAIT_MS)
    assert page.evaluate("window.switchboard.debug.snapshots.length") == 1  # a replay
    wait_until(lambda: marked() > before)
    wait_until(lambda: unread() == 0)

    # Lin writes while the page is hidden (unread then, rightly); the agent comes back while
    # the socket is down: once it is live again, the chat on screen is marked read.
    page.evaluate("window.__show('hidden')")
    lin_writes("While you were away", 4)
    expect(lin.locator(".badge")).to_have_text("1", timeout=WAIT_MS)
    drop()
    page.evaluate("window.__show('visible')")
    expect(lin.locator(".badge")).to_have_count(0)
    reconnect()
    wait_until(lambda: unread() == 0)

    assert page.evaluate("window.__shownUnread") == []
    expect(page.locator("#notifications li")).to_have_count(0)
    expect(page.locator("#unread-total")).to_be_hidden()
    assert console.problems == []
    stack.alive()


def test_a_coalesced_queue_frame_puts_each_of_its_chats_in_the_console_queue(
    stack: Stack,
    browser: Browser,
    company_a: Company,
    web_channel: Channel,
    make_agent: Callable[..., User],
) -> None:
    """Issue 16: a router batch's queue changes arrive as one `queue.updated` listing them in
    `data.changes`; the console applies each (a frame the JS took for one chat would show
    none: `data` itself has no conversation id)."""
    from playwright.sync_api import expect

    from events.log import publish_now
    from events.schema import EventType, make_event
    from routing_service.chats.models import Client, Conversation, ConversationStatus
    from routing_service.chats.payloads import conversation_data

    ada = make_agent(company_a, username="ada", password=PASSWORD)
    console, _ = browser.tab()
    console.log_in(ada, "/console/")
    console.wait_live()
    now = dt.datetime.now(dt.UTC)
    chats = []
    for n, name in enumerate(["Ida", "Joan", "Kay"]):
        client = Client.objects.create(company=company_a, external_id=f"c-{n}", name=name)
        chats.append(
            Conversation.objects.create(
                company=company_a,
                client=client,
                channel=web_channel,
                # Resolved in the database: only the frame can show them waiting (a snapshot
                # after a reconnect would not list them).
                status=ConversationStatus.RESOLVED,
                created_at=now,
                queued_at=now,
                last_message_at=now,
            )
        )
    for chat in chats:
        chat.status = ConversationStatus.WAITING
    changes = [conversation_data(chat) for chat in chats]
    publish_now(
        [make_event(EventType.QUEUE_UPDATED, company_a.pk, {"changes": changes}, queue=True)]
    )

    queue = console.page.locator("#queue li")
    expect(queue).to_have_count(3, timeout=WAIT_MS)
    for name in ("Ida", "Joan", "Kay"):
        expect(console.page.locator("#queue")).to_contain_text(name)
    assert console.problems == []
    stack.alive()
