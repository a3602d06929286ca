"""`/metrics` after real traffic: a signed webhook through the ingest app, a batch routed by
the router, an agent's websocket; and the structured log line of that batch."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import redis
from asgiref.sync import sync_to_async
from django.db import connections
from django.test import AsyncClient, Client

from events.schema import Event
from routing_service.chats.models import Channel, Provider
from routing_service.ingest import stream
from routing_service.ingest.adapters import sign_generic
from routing_service.ingest.asgi_app import WebhookApp
from routing_service.observability import metrics
from routing_service.observability.logging import formatter
from routing_service.router.worker import Router
from routing_service.tenancy.models import AgentStatus, Company, Role, User
from tests.realtime.sockets import open_socket

SECRET = "whsec_obs_1"


def webhook_body(message_id: str) -> bytes:
    return json.dumps(
        {
            "message_id": message_id,
            "client": {"id": "cust-1", "name": "Dana"},
            "text": "Hello, is anyone there?",
            "sent_at": "2026-01-01T10:00:00Z",
        }
    ).encode()


def signed(body: bytes, **extra: str) -> dict[str, str]:
    ts = int(time.time())
    return {
        "content-type": "application/json",
        "x-switchboard-timestamp": str(ts),
        "x-switchboard-signature": sign_generic(SECRET, ts, body),
        **extra,
    }


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in an exposition text (labels in any order), or None."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        sample_name, _, rest = series.partition("{")
        found = dict(re.findall(r'(\w+)="([^"]*)"', rest))
        if sample_name == name and found == labels:
            return float(value)
    return None


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """The router's log records rendered as the production JSON formatter renders them."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(logging.config.DictConfigurator({}).configure_formatter(formatter("json")))
    log = logging.getLogger("routing_service.router.worker")
    old_level = log.level
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    yield buffer
    log.removeHandler(handler)
    log.setLevel(old_level)


def make_world(company: Company, make_user: Callable[..., User]) -> tuple[Channel, User]:
    channel = Channel.objects.create(
        company=company, name="Web", provider=Provider.GENERIC, secret=SECRET
    )
    agent = make_user(company, Role.AGENT, status=AgentStatus.AVAILABLE, max_chats=3)
    return channel, agent


def session_cookie(user: User) -> str:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


@pytest.mark.django_db(transaction=True)
async def test_metrics_after_a_webhook_a_routed_batch_and_a_websocket(
    private_stream: redis.Redis,
    redis_client: redis.Redis,
    company_a: Company,
    make_user: Callable[..., User],
    log_lines: io.StringIO,
) -> None:
    channel, agent = await sync_to_async(make_world)(company_a, make_user)
    before = await AsyncClient().get("/metrics")
    accepted_before = sample(
        before.content.decode(), "switchboard_webhooks_total", provider="generic", status="202"
    )
    routed_before = sample(before.content.decode(), "switchboard_routing_latency_seconds_count")

    # A webhook, through the bare ASGI app in-process; its request id is echoed.
    app = WebhookApp()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        body = webhook_body("obs-m-1")
        answer = await http.post(
            f"/webhooks/generic/{channel.uuid}/",
            content=body,
            headers=signed(body, **{"x-request-id": "hook-7"}),
        )
        unknown = await http.post("/webhooks/nope/x/", content=b"{}")
    await app.stream.aclose()
    assert answer.status_code == 202, answer.text
    assert answer.headers["x-request-id"] == "hook-7"
    assert unknown.status_code == 404
    assert len(unknown.headers["x-request-id"]) == 32

    # The router routes the batch (its log line carries the company).
    router = Router(name="obs-router", block_ms=50)
    await router.run(max_idle_loops=3)
    assert router.processed == 1

    # An agent's console socket stays open while we scrape.
    cookie = await sync_to_async(session_cookie)(agent)
    sock = await open_socket("/ws/agent/", cookie=cookie)
    try:
        await sock.frame_of("snapshot")
        response = await AsyncClient().get("/metrics")
    finally:
        await sock.disconnect()
    after_close = (await AsyncClient().get("/metrics")).content.decode()
    # The test client leaves the thread's connection open (it unhooks close_old_connections).
    await sync_to_async(connections.close_all)()

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    accepted = sample(text, "switchboard_webhooks_total", provider="generic", status="202")
    assert accepted == (accepted_before or 0) + 1
    assert sample(text, "switchboard_webhooks_total", provider="unknown", status="404")
    routed = sample(text, "switchboard_routing_latency_seconds_count")
    assert routed == (routed_before or 0) + 1
    shard = stream.shard_of(company_a.pk)
    key = stream.stream_key(shard)
    # 1, or 0 once the router trimmed the acknowledged entry.
    assert sample(text, "switchboard_inbound_stream_length", stream=key) in (0, 1)
    assert sample(text, "switchboard_inbound_consumer_lag", stream=key, group="routers") == 0
    assert sample(text, "switchboard_inbound_pending", stream=key, group="routers") == 0
    dead_key = stream.dead_letter_key(shard)
    assert sample(text, "switchboard_dead_letter_stream_length", stream=dead_key) == 0
    assert sample(text, "switchboard_dead_letters_unreplayed") == 0
    # The one chat was offered to the agent: nothing waits, but every priority is reported.
    for priority in ("low", "medium", "high", "urgent"):
        assert sample(text, "switchboard_waiting_chats", priority=priority) == 0
    assert sample(text, "switchboard_websocket_connections", endpoint="agent") == 1
    assert sample(after_close, "switchboard_websocket_connections", endpoint="agent") == 0
    assert "# TYPE switchboard_sla_warnings_total counter" in text
    assert "# TYPE switchboard_sla_breaches_total counter" in text
    assert sample(text, "switchboard_stream_scrape_ok") == 1
    assert sample(text, "switchboard_db_scrape_ok") == 1

    records = [json.loads(line) for line in log_lines.getvalue().splitlines()]
    batch = [r for r in records if r["event"].startswith("routed a batch")]
    assert batch, records
    assert batch[0]["company_id"] == company_a.pk
    assert batch[0]["level"] == "debug"


@pytest.mark.django_db
def test_waiting_chats_are_counted_by_priority(company_a: Company) -> None:
    from django.utils import timezone

    from routing_service.chats.models import Client as Customer
    from routing_service.chats.models import Conversation

    channel = Channel.objects.create(company=company_a, name="W", provider=Provider.GENERIC)
    now = timezone.now()
    for i, priority in enumerate(["high", "high", "low"]):
        customer = Customer.objects.create(company=company_a, external_id=f"c{i}", name="C")
        Conversation.objects.create(
            company=company_a,
            client=customer,
            channel=channel,
            priority=priority,
            created_at=now,
            queued_at=now,
            last_message_at=now,
        )
    text = Client().get("/metrics").content.decode()
    assert sample(text, "switchboard_waiting_chats", priority="high") == 2
    assert sample(text, "switchboard_waiting_chats", priority="low") == 1
    assert sample(text, "switchboard_waiting_chats", priority="urgent") == 0


def test_sla_events_are_counted_by_kind() -> None:
    def value(counter: Any, kind: str) -> float:
        return counter.labels(kind)._value.get()

    warn, breach = (
        value(metrics.SLA_WARNINGS, "resolution"),
        value(metrics.SLA_BREACHES, "resolution"),
    )
    metrics.count_sla_events(
        [
            Event(type="sla.warning", company_id=1, data={"kind": "resolution"}, groups=()),
            Event(type="sla.breached", company_id=1, data={"kind": "resolution"}, groups=()),
            Event(type="chat.assigned", company_id=1, data={}, groups=()),
        ]
    )
    assert value(metrics.SLA_WARNINGS, "resolution") == warn + 1
    assert value(metrics.SLA_BREACHES, "resolution") == breach + 1


@pytest.mark.django_db
def test_metrics_answer_only_the_allowed_addresses(settings: Any) -> None:
    """Default: this host only. Prometheus elsewhere is named by address or network."""
    assert Client().get("/metrics").status_code == 200  # the test client is 127.0.0.1
    assert Client().get("/metrics", REMOTE_ADDR="::1").status_code == 200
    refused = Client().get("/metrics", REMOTE_ADDR="203.0.113.9")
    assert refused.status_code == 403
    assert b"switchboard_" not in refused.content
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8"]
    assert Client().get("/metrics", REMOTE_ADDR="10.42.0.7").status_code == 200
    assert Client().get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403


@pytest.mark.django_db
def test_a_forged_forwarded_for_does_not_open_metrics(settings: Any) -> None:
    """Through a proxy on this host, the client is what the proxy appended, not what the
    client wrote in front of it."""
    settings.TRUSTED_PROXY_COUNT = 1
    forged = Client().get(
        "/metrics", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="127.0.0.1, 203.0.113.9"
    )
    assert forged.status_code == 403


@pytest.mark.django_db
def test_a_token_opens_metrics_from_anywhere(settings: Any) -> None:
    settings.METRICS_TOKEN = "s3cret-scrape"
    far = {"REMOTE_ADDR": "203.0.113.9"}
    assert Client().get("/metrics", **far).status_code == 401
    bearer = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape", **far)
    assert bearer.status_code == 200
    assert Client().get("/metrics").status_code == 200  # an allowed address needs no token


@pytest.mark.django_db
def test_metrics_token_requires_the_bearer(settings: Any) -> None:
    settings.METRICS_TOKEN = "s3cret-scrape"
    settings.METRICS_ALLOWED_IPS = []  # token only, from everywhere
    client = Client()
    refused = client.get("/metrics")
    assert refused.status_code == 401
    assert refused["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    allowed = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-scrape")
    assert allowed.status_code == 200
