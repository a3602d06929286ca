"""Webhook endpoints (`routing_service.ingest.asgi_app`): status codes, answers, and what lands in
the inbound stream — exactly the expected entry for an accepted request, nothing for a refused
one. Real PostgreSQL and Redis; the ASGI app is driven in-process through httpx.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
import pytest
import redis
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import OperationalError

from routing_service.chats.models import Channel
from routing_service.ingest import appender, asgi_app, channels_cache
from routing_service.ingest.adapters import (
    ADAPTERS,
    InboundMessage,
    StatusEvent,
    WebhookRequest,
    sign_generic,
    sign_twilio,
    sign_whatsapp,
)
from routing_service.ingest.adapters.twilio import EMPTY_TWIML
from routing_service.ingest.asgi_app import WebhookApp
from routing_service.ingest.channels_cache import ChannelCache
from routing_service.ingest.stream import InboundEntry, StatusEntry, decode, shard_of, stream_key
from routing_service.tenancy import actions as tenancy_actions
from routing_service.tenancy.models import Company
from tests.support.processes import free_port

pytestmark = pytest.mark.django_db(transaction=True)
MakeChannel = Callable[..., Awaitable[Channel]]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "webhooks"
BASE = "http://testserver"
SECRET = "whsec_current_5b9d2f"
OLD_SECRET = "whsec_previous_0c41"
VERIFY_TOKEN = "verify-me-7731"
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


def fixture_bytes(provider: str, name: str) -> bytes:
    return (FIXTURES / provider / f"{name}.json").read_bytes()


def twilio_form(name: str) -> list[tuple[str, str]]:
    return list(json.loads(fixture_bytes("twilio", name)).items())


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def private_stream(settings: Any) -> Iterator[redis.Redis]:
    """A stream name of this test's own, so parallel runs on the shared Redis never collide."""
    settings.INBOUND_STREAM = f"{settings.REDIS_KEY_PREFIX}:whtest:{uuid.uuid4().hex[:12]}"
    client = redis.Redis.from_url(settings.STREAM_REDIS_URL)
    yield client
    keys = list(client.scan_iter(match=f"{settings.INBOUND_STREAM}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def company() -> Company:
    return tenancy_actions.create_company("Webhook Co", "webhook-co")


@pytest.fixture
def make_channel(company: Company) -> MakeChannel:
    async def make(provider: str, **fields: Any) -> Channel:
        fields.setdefault("secret", SECRET)
        if provider == "whatsapp":
            fields.setdefault("config", {"verify_token": VERIFY_TOKEN})
        return await sync_to_async(Channel.objects.create)(
            company=company, name=f"{provider} inbox", provider=provider, **fields
        )

    return make


@pytest.fixture
def app() -> WebhookApp:
    """A fresh app per test: its own channel cache and Redis client (the loop is new too)."""
    return WebhookApp()


@pytest.fixture
async def client(app: WebhookApp) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        yield http
    await app.stream.aclose()
    app.offload.close()


def entries(channel: Channel) -> list[InboundEntry | StatusEntry]:
    """Everything in the channel's inbound stream shard, decoded, oldest first."""
    r = redis.Redis.from_url(settings.STREAM_REDIS_URL)
    try:
        rows = r.xrange(stream_key(shard_of(channel.company_id)))
    finally:
        r.close()
    return [decode(fields[b"e"]) for _, fields in rows]


def url(channel: Channel, provider: str | None = None, slash: bool = True) -> str:
    path = f"/webhooks/{provider or channel.provider}/{channel.uuid}"
    return path + "/" if slash else path


# --- signed requests, one helper per provider ---------------------------------------------------


def generic_headers(
    body: bytes, *, secret: str = SECRET, timestamp: int | None = None, **extra: str
) -> dict[str, str]:
    ts = int(time.time()) if timestamp is None else timestamp
    return {
        "content-type": JSON,
        "x-switchboard-timestamp": str(ts),
        "x-switchboard-signature": sign_generic(secret, ts, body),
        **extra,
    }


async def post_generic(
    client: httpx.AsyncClient, channel: Channel, body: bytes, **kwargs: Any
) -> httpx.Response:
    return await client.post(url(channel), content=body, headers=generic_headers(body, **kwargs))


async def post_twilio(
    client: httpx.AsyncClient,
    channel: Channel,
    form: list[tuple[str, str]],
    *,
    signed_url: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    target = url(channel)
    signature = sign_twilio(SECRET, signed_url or BASE + target, form)
    return await client.post(
        target,
        content=urlencode(form).encode(),
        headers={"content-type": FORM, "x-twilio-signature": signature, **(headers or {})},
    )


async def post_whatsapp(client: httpx.AsyncClient, channel: Channel, body: bytes) -> httpx.Response:
    headers = {"content-type": JSON, "x-hub-signature-256": sign_whatsapp(SECRET, body)}
    return await client.post(url(channel), content=body, headers=headers)


async def post_telegram(
    client: httpx.AsyncClient, channel: Channel, body: bytes, token: str = SECRET
) -> httpx.Response:
    headers = {"content-type": JSON, "x-telegram-bot-api-secret-token": token}
    return await client.post(url(channel), content=body, headers=headers)


def expected(provider: str, body: bytes, content_type: str = JSON, **kwargs: Any) -> Any:
    """What the adapter alone makes of the request: the stream must carry exactly this."""
    req = WebhookRequest(method="POST", url="", body=body, content_type=content_type, **kwargs)
    return ADAPTERS[provider].parse(req)


def assert_accepted(response: httpx.Response, count: int = 1) -> list[str]:
    assert response.status_code == 202, response.text
    answer = response.json()
    assert answer["status"] == "accepted"
    assert len(answer["ids"]) == count
    if count == 1:
        assert answer["id"] == answer["ids"][0]
    return list(answer["ids"])


# --- accepted: each provider's fixture lands in the stream as the expected entry ----------------


async def test_generic_message_is_accepted_and_appended_as_normalised_entry(
    client: httpx.AsyncClient, make_channel: MakeChannel
) -> None:
    channel = await make_channel("generic")
    body = fixture_bytes("generic", "message")

    response = await post_generic(client, channel, body)

    ids = assert_accepted(response)
    [entry] = entries(channel)
    assert isinstance(entry, InboundEntry)
    assert (entry.channel_id, entry.company_id) == (channel.id, channel.company_id)
    assert entry.message == InboundMessage(
        provider="generic",
        provider_message_id="msg-8f14e45f",
        client_external_id="cust-1042",
        client_name="Ada Lovelace",
        client_email="ada@example.com",
        client_phone="+441632960961",
        text="Hi, my order #5531 still hasn't arrived.",
        sent_at=datetime(2025, 3, 14, 9, 26, 53, 120000, tzinfo=UTC),
        priority="high",
        language="en",
        category="shipping",
        metadata={"order_id": "5531", "page": "/orders/5531", "cart_total": 129.5},
    )
    assert abs((datetime.now(UTC) - entry.received_at).total_seconds()) < 10
    r = redis.Redis.from_url(settings.STREAM_REDIS_URL)
    assert [i.decode() for i, _ in r.xrange(stream_key(shard_of(channel.company_id)))] == ids
    r.close()


async def test_generic_without_trailing_slash_and_with_previous_secret_is_accepted(
    client: httpx.AsyncClient, make_channel: MakeChannel
) -> None:
    channel = await make_channel("generic", previous_secret=OLD_SECRET)
    body = fixture_bytes("generic", "minimal")

    response = await client.post(
        url(channel, slash=False), content=body, headers=generic_headers(body, secret=OLD_SECRET)
    )

    assert_accepted(response)
    [entry] = entries(channel)
    assert isinstance(entry, InboundEntry)
    assert entry.message == expected("generic", body).messages[0]
    assert entry.message.provider_message_id == "90210"


@pytest.mark.parametrize("name", ["sms_inbound", "mms_inbound", "whatsapp_inbound"])
async def test_twilio_message_is_answered_with_empty_twiml_and_appended(
    client: httpx.AsyncClient, make_channel: MakeChannel, name: str
) -> None:
    channel = await make_channel("twilio")
    form = twilio_form(name)

    response = await post_twilio(client, channel, form)

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/xml"
    assert response.content == EMPTY_TWIML
    [entry] = entries(channel)
    assert isinstance(entry, InboundEntry)
    # Twilio sends no timestamp: the message's send time is when we received it.
    want = expected(
        "twilio", urlencode(form).encode(), FORM, received_at=entry.received_at
    ).messages[0]
    assert entry.message == want
    assert entry.message.sent_at == entry.received_at
    assert entry.message.provider_message_id == dict(form)["MessageSid"]


async def test_whatsapp_text_message_is_accepted_and_appended(
    client: httpx.AsyncClient, make_channel: MakeChannel
) -> None:
    channel = await make_channel("whatsapp")
    body = fixture_bytes("whatsapp", "text_message")

    response = await post_whatsapp(client, channel, body)

    assert_accepted(response)
    [entry] = entries(channel)
    assert isinstance(entry, InboundEntry)
    assert entry.message == expected("whatsapp", body).messages[0]
    assert entry.message.text == "Does it come in another color?"
    assert entry.message.client_external_id == "whatsapp:16505551234"


async def test_whatsapp_batch_appends_one_entry_per_message_in_order(
    client: httpx.AsyncClient, make_channel: MakeChannel
) -> None:
    channel = await make_channel("whatsapp")
    body = fixture_bytes("whatsapp", "multiple_messages")
    result = expected("whatsapp", body)
    count = len(result.messages) + len(result.statuses)
    assert len(result.messages) >= 2

    response = await post_whatsapp(client, channel, body)

    assert_accepted(response, count)
    stored = entries(channel)
    assert [e.message for e in stored if isinstance(e, InboundEntry)] == result.messages
    assert [e.status for e in stored if isinstance(e, StatusEntry)] == result.statuses


@pytest.mark.parametrize("name", ["message_text", "message_photo"])
async def test_telegram_message_is_accepted_and_appended(
    client: httpx.AsyncClient, make_channel: MakeChannel, name: str
) -> None:
    channel = await make_channel("telegram")
    body = fixture_bytes("telegram", name)

    response = await post_telegram(client, channel, body)

    assert_accepted(response)
    [entry] = entries(channel)
    assert isinstance(entry, InboundEntry)
    assert entry.message == expected("telegram", body).messages[0]


# --- duplicates -------------------------------------------------------------------------------


async def test_same_message_twice_is_a_duplicate_the_second_time(
    client: httpx.AsyncClient, make_channel: MakeChannel
) -> None:
    channel = await make_channel("generic")
    body = fixture_bytes("generic", "message")

    first = await post_generic(client, channel, body)
    second = await post_generic(client, channel, body)

    assert_accepted(first)
    assert second.status_code == 200
    assert second.json() == {"status": "duplicate"}
    assert len(entries(channel)) == 1


async def test_twilio_retry_is_a_duplicate_still_answered_with_twiml(
    client: httpx.AsyncClient, make_channel: MakeChannel
) -> None:
    channel = await make_channel("twilio")
    form = twilio_form("sms_inbound")

    first = await post_twilio(client, channel, form)
    second = await post_twilio(client, channel, form)

    assert first.status_code == second.status_code == 200
    assert second.content == EMPTY_TWIML
    assert len(entries(channel)) == 1


async def test_fifty_concurrent_identical_posts_append_exactly_one_entry(
    client: httpx.AsyncClient, make_channel: MakeChannel
) -> None:
    channel = await make_channel("generic")
    body = fixture_bytes("generic", "message")
    headers = generic_headers(body)

    responses = await asyncio.gather(
        *(client.post(url(channel), content=body, headers=headers) for _ in range(50))
    )

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 49 + [202]
    assert len(entries(channel)) == 1


async def test_same_message_id_on_two_channels_is_not_a_duplicate(
    client: httpx.AsyncClient, make_channel: MakeChannel
) -> None:
    first, second = await make_channel("generic"), await make_channel("generic")
    body = fixture_bytes("generic", "message")

    assert_accepted(await post_generic(client, first, body))
    assert_accepted(await post_generic(client, second, body))

    assert {e.channel_id for e in entries(first)} == {first.id, second.id}


# --- status callbacks: recorded as status entries, never as messages ----------------------------


@pytest.mark.parametrize("name", ["status_delivered", "status_undelivered"])
async def test_twilio_status_callback_is_appended_as_status_entry(
    client: httpx.AsyncClient, make_channel: MakeChannel, name: str
) -> None:
    channel = await make_channel("twilio")
    form = twilio_form(name)

    response = await post_twilio(client, channel, form)

    assert response.status_code == 200
    assert response.content == EMPTY_TWIML
    [entry] = entries(channel)
    assert isinstance(entry, StatusEntry)
    assert entry.status == StatusEvent(
        provider="twilio",
        provider_message_id=dict(form)["MessageSid"],
        status=dict(form)["MessageStatus"],
        raw=dict(form),
    )


@pytest.mark.parametrize("name", ["status_read", "status_failed"])
async def test_whatsapp_statuses_are_appended_as_status_entries(
    client: httpx.AsyncClient, make_channel: MakeChannel, name: str
) -> None:
    channel = await make_channel("whatsapp")
    body = fixture_bytes("whatsapp", name)
    result = expected("whatsapp", body)

    response = await post_whatsapp(client, channel, body)

    assert_accepted(response, len(result.statuses))
    stored = entries(channel)
    assert all(isinstance(e, StatusEntry) for e in stored)
    assert [e.status for e in stored if isinstance(e, StatusEntry)] == result.statuses


async def test_telegram_edit_is_a_status_entry_and_callback_query_is_ignored(
    client: httpx.AsyncClient, make_channel: MakeChannel
) -> None:
    channel = await make_channel("telegram")

    edited = await post_telegram(client, channel, fixture_bytes("telegram", "edited_message"))
    ignored = await post_telegram(client, channel, fixture_bytes("telegram", "callback_query"))

    assert_accepted(edited)
    assert ignored.status_code == 200
    assert ignored.json() == {"status": "ignored"}
    [entry] = entries(channel)
    assert isinstance(entry, StatusEntry)
    assert entry.status.status == "edited"
    assert entry.status.provider_message_id == "1111111:1365"


# --- refused: right status, nothing appended ----------------------------------------------------


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("missing timestamp", 401),
        ("missing signature", 401),
        ("wrong secret", 403),
        ("tampered body", 403),
        ("malformed signature", 403),
        ("non-numeric timestamp", 403),
        ("signature for another timestamp", 403),
        ("stale timestamp", 403),
        ("future timestamp", 403),
    ],
)
async def test_generic_bad_signature_is_refused_and_nothing_appended(
    client: httpx.AsyncClient, make_channel: MakeChannel, case: str, status: int
) -> None:
    channel = await make_channel("generic")
    body = fixture_bytes("generic", "message")
    now = int(time.time())
    headers = generic_headers(body)
    if case == "missing timestamp":
        del headers["x-switchboard-timestamp"]
    elif case == "missing signature":
        del headers["x-switchboard-signature"]
    elif case == "wrong secret":
        headers = generic_headers(body, secret="not-the-secret")
    elif case == "tampered body":
        body = body.replace(b"5531", b"5532")
    elif case == "malformed signature":
        headers["x-switchboard-signature"] = "v1=zz"
    elif case == "non-numeric timestamp":
        headers["x-switchboard-timestamp"] = "yesterday"
    elif case == "signature for another timestamp":
        headers["x-switchboard-timestamp"] = str(now + 1)
    elif case == "stale timestamp":
        headers = generic_headers(body, timestamp=now - 301)
    elif case == "future timestamp":
        headers = generic_headers(body, timestamp=now + 301)

    response = await client.post(url(channel), content=body, headers=headers)

    assert response.status_code == status, response.text
    assert isinstance(response.json()["detail"], str)
    assert entries(channel) == []


async def test_generic_timestamp_inside_the_window_both_ways_is_accepted(
    client: httpx.AsyncClient, make_channel: MakeChannel
) -> None:
    channel = await make_channel("generic")
    now = int(time.time())
    for n, skew in enumerate((-290, 290)):
        body = fixture_bytes("generic", "minimal").replace(b"90210", str(n).encode())
        assert_accepted(await post_generic(client, channel, body, timestamp=now + skew))
    assert len(entries(channel)) == 2


@pytest.mark.parametrize(
    ("case", "status"),
    [("missing", 401), ("wrong token", 403), ("other url", 403), ("other params", 403)],
)
async def test_twilio_bad_signature_is_refused_and_nothing_appended(
    client: httpx.AsyncClient, make_channel: MakeChannel, case: str, status: int
) -> None:
    channel = await make_channel("twilio")
    form = twilio_form("sms_inbound")
    target = url(channel)
    signature = sign_twilio(SECRET, BASE + target, form)
    if case == "missing":
        signature = ""
    elif case == "wrong token":
        signature = sign_twilio("other-token", BASE + target, form)
    elif case == "other url":
        signature = sign_twilio(SECRET, "https://evil.example" + target, form)
    elif case == "other params":
        form = [*form, ("Extra", "1")]
    headers = {"content-type": FORM}
    if signature:
        headers["x-twilio-signature"] = signature

    response = await client.post(target, content=urlencode(form).encode(), headers=headers)

    assert response.status_code == status, response.text
    assert entries(channel) == []


async def test_twilio_signature_over_forwarded_url_needs_trusted_proxy(
    app: WebhookApp,
    client: httpx.AsyncClient,
    make_channel: MakeChannel,
    settings: Any,
) -> None:
    channel = await make_channel("twilio")
    form = twilio_form("sms_inbound")
    public = "https://chat.example.com" + url(channel)
    forwarded = {"x-forwarded-proto": "https", "x-forwarded-host": "chat.example.com"}

    untrusted = await post_twilio(client, channel, form, signed_url=public, headers=forwarded)
    settings.WEBHOOK_TRUST_FORWARDED_HEADERS = True
    trusted = await post_twilio(client, channel, form, signed_url=public, headers=forwarded)

    assert untrusted.status_code == 403
    assert trusted.status_code == 200
    assert len(entries(channel)) == 1


@pytest.mark.parametrize(
    ("header", "status"),
    [(None, 401), ("sha256=" + "0" * 64, 403), ("sha1=abc", 403)],
)
async def test_whatsapp_bad_signature_is_refused_and_nothing_appended(
    client: httpx.AsyncClient,
    make_channel: MakeChannel,
    header: str | None,
    status: int,
) -> None:
    channel = await make_channel("whatsapp")
    headers = {"content-type": JSON}
    if header is not None:
        headers["x-hub-signature-256"] = header

    response = await client.post(
        url(channel), content=fixture_bytes("whatsapp", "text_message"), headers=headers
    )

    assert response.status_code == status
    assert entries(channel) == []


@pytest.mark.parametrize(("token", "status"), [("", 401), ("wrong-token", 403)])
async def test_telegram_bad_secret_token_is_refused_and_nothing_appended(
    client: httpx.AsyncClient, make_channel: MakeChannel, token: str, status: int
) -> None:
    channel = await make_channel("telegram")
    headers = {"content-type": JSON}
    if token:
        headers["x-telegram-bot-api-secret-token"] = token

    response = await client.post(
        url(channel), content=fixture_bytes("telegram", "message_text"), headers=headers
    )

    assert response.status_code == status
    assert entries(channel) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", "non_field_errors"),
        (b"[]", "non_field_errors"),
        (b'{"client": {"name": "x"}, "text": "hi", "sent_at": "2025-03-14T10:00Z"}', "client.id"),
        (b'{"message_id": 1, "client": {"id": 1, "name": "x"}, "text": "t", "sent_at": ""}',
         "sent_at"),
        (b'{"message_id": "\xff\xfe", "client": {"id": 1, "name": "x"}}', "non_field_errors"),
        (b"\xff\xfe\x00", "non_field_errors"),
        (b"[" * 200_000, "non_field_errors"),
        (b'{"a":' * 100_000, "non_field_errors"),
        (b'{"message_id": 1e999999}', "non_field_errors"),
    ],
    ids=[
        "invalid json",
        "not an object",
        "missing field",
        "bad date",
        "invalid utf-8 in string",
        "invalid utf-8",
        "array bomb",
        "object bomb",
        "huge number",
    ],
)  # fmt: skip
async def test_generic_malformed_body_is_400_with_field_errors_and_nothing_appended(
    client: httpx.AsyncClient, make_channel: MakeChannel, body: bytes, field: str
) -> None:
    channel = await make_channel("generic")

    response = await post_generic(client, channel, body)

    assert response.status_code == 400, response.text
    errors = response.json()["errors"]
    assert field in errors or field == "non_field_errors", errors
    assert all(isinstance(m, str) for messages in errors.values() for m in messages)
    assert entries(channel) == []


@pytest.mark.parametrize(
    ("provider", "body"),
    [
        ("whatsapp", b'{"object": "page", "entry": []}'),
        ("whatsapp", b'{"object": "whatsapp_business_account", "entry": [{"changes": 1}]}'),
        ("whatsapp", b"[" * 100_000),
        ("telegram", b'{"update_id": "x"}'),
        ("telegram", b'{"update_id": 1, "message": {"message_id": 1, "text": "\xc3"}}'),
        ("twilio", b"Body=hello&NumMedia=0"),
        ("twilio", b"MessageSid=SM1&From=%2B1555&Body=\xff\xfe"),
    ],
)
async def test_other_providers_malformed_body_is_400_and_nothing_appended(
    client: httpx.AsyncClient, make_channel: MakeChannel, provider: str, body: bytes
) -> None:
    channel = await make_channel(provider)
    if provider == "twilio":
        # Signed the way Twilio would sign what it sent, so the request gets past verify.
        params = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        headers = {
            "content-type": FORM,
            "x-twilio-signature": sign_twilio(SECRET, BASE + url(channel), params),
        }
    elif provider == "whatsapp":
        headers = {"content-type": JSON, "x-hub-signature-256": sign_whatsapp(SECRET, body)}
    else:
        headers = {"content-type": JSON, "x-telegram-bot-api-secret-token": SECRET}

    response = await client.post(url(channel), content=body, headers=headers)

    assert response.status_code == 400, response.text
    assert response.json()["errors"]
    assert entries(channel) == []


@pytest.mark.parametrize(
    ("provider", "content_type"),
    [
        ("generic", "text/plain"),
        ("generic", "application/json; charset=latin-1"),
        ("generic", ""),
        ("twilio", JSON),
        ("whatsapp", FORM),
        ("telegram", "multipart/form-data; boundary=x"),
    ],
)
async def test_wrong_content_type_is_415_and_nothing_appended(
    client: httpx.AsyncClient,
    make_channel: MakeChannel,
    provider: str,
    content_type: str,
) -> None:
    channel = await make_channel(provider)
    body = fixture_bytes("generic", "message")
    headers = generic_headers(body)
    headers["content-type"] = content_type
    if not content_type:
        del headers["content-type"]

    response = await client.post(url(channel), content=body, headers=headers)

    assert response.status_code == 415
    assert "content type" in response.json()["detail"]
    assert entries(channel) == []


async def test_body_over_the_default_limit_is_413_and_nothing_appended(
    client: httpx.AsyncClient, make_channel: MakeChannel, settings: Any
) -> None:
    settings.WEBHOOK_MAX_BODY_BYTES = 4096
    channel = await make_channel("generic")
    body = json.dumps(
        {
            "message_id": "big",
            "client": {"id": 1, "name": "x"},
            "text": "a" * 5000,
            "sent_at": "2025-03-14T10:00:00Z",
        }
    ).encode()

    response = await post_generic(client, channel, body)

    assert response.status_code == 413
    assert "4096" in response.json()["detail"]
    assert entries(channel) == []


async def test_channel_override_limits_the_body_below_the_default(
    client: httpx.AsyncClient, make_channel: MakeChannel
) -> None:
    small = await make_channel("generic", max_body_bytes=200)
    default = await make_channel("generic")
    body = fixture_bytes("generic", "message")  # ~500 bytes
    assert len(body) > 200

    refused = await post_generic(client, small, body)
    accepted = await post_generic(client, default, body)

    assert refused.status_code == 413
    assert_accepted(accepted)
    assert [e.channel_id for e in entries(small)] == [default.id]


async def test_channel_override_can_raise_the_limit_above_the_default(
    client: httpx.AsyncClient, make_channel: MakeChannel, settings: Any
) -> None:
    settings.WEBHOOK_MAX_BODY_BYTES = 1024
    channel = await make_channel("generic", max_body_bytes=64 * 1024)
    body = json.dumps(
        {
            "message_id": "long",
            "client": {"id": 1, "name": "x"},
            "text": "a" * 4000,
            "sent_at": "2025-03-14T10:00:00Z",
        }
    ).encode()

    assert_accepted(await post_generic(client, channel, body))


async def test_streamed_body_without_length_stops_reading_past_the_limit(
    app: WebhookApp, make_channel: MakeChannel
) -> None:
    """No Content-Length: the app reads chunk by chunk and gives up once past the limit.

    (Credentials that look right: without them the body would not be read at all.)"""
    channel = await make_channel("generic", max_body_bytes=1024)
    chunk = b"x" * 300
    received = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal received
        received += 1
        return {"type": "http.request", "body": chunk, "more_body": received < 1000}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": url(channel),
        "scheme": "http",
        "query_string": b"",
        "headers": [
            (b"host", b"testserver"),
            *((k.encode(), v.encode()) for k, v in generic_headers(b"").items()),
        ],
    }
    await app(scope, receive, send)
    await app.stream.aclose()

    assert sent[0]["status"] == 413
    assert received == 4  # 1200 bytes > 1024: the other 996 chunks are never read
    assert entries(channel) == []


async def test_unknown_channel_provider_mismatch_and_inactive_channel_are_404(
    client: httpx.AsyncClient, make_channel: MakeChannel
) -> None:
    generic = await make_channel("generic")
    inactive = await make_channel("generic", is_active=False)
    body = fixture_bytes("generic", "message")
    headers = generic_headers(body)

    paths = [
        f"/webhooks/generic/{uuid.uuid4()}/",  # unknown channel
        url(generic, "twilio"),  # the channel is not a Twilio one
        url(generic, "telegram"),
        url(generic, "sms"),  # unknown provider
        url(inactive),
        f"/webhooks/generic/{generic.uuid}/extra/",
        f"/webhooks/generic/{generic.uuid}//",
        "/webhooks/generic/",
    ]
    for path in paths:
        response = await client.post(path, content=body, headers=headers)
        assert response.status_code == 404, path
        assert response.json() == {"detail": "Not found."}
    assert entries(generic) == []


async def test_invalid_uuid_is_404_without_a_database_query(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def no_query(key: uuid.UUID) -> None:
        raise AssertionError("queried the database")

    monkeypatch.setattr(channels_cache, "_query", no_query)

    for segment in ("not-a-uuid", "1234", "z" * 36, "../../admin"):
        response = await client.post(f"/webhooks/generic/{segment}/", content=b"{}")
        assert response.status_code == 404


async def test_unknown_uuid_is_cached_briefly(
    app: WebhookApp, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = 0
    real = channels_cache._query

    async def counting(key: uuid.UUID) -> Any:
        nonlocal calls
        calls += 1
        return await real(key)

    monkeypatch.setattr(channels_cache, "_query", counting)
    target = f"/webhooks/generic/{uuid.uuid4()}/"

    statuses = [(await client.post(target, content=b"{}")).status_code for _ in range(20)]

    assert statuses == [404] * 20
    assert calls == 1


@pytest.mark.parametrize(
    ("provider", "method", "allow"),
    [
        ("generic", "GET", "POST"),
        ("generic", "PUT", "POST"),
        ("twilio", "GET", "POST"),
        ("telegram", "DELETE", "POST"),
        ("whatsapp", "PUT", "GET, POST"),
        ("whatsapp", "HEAD", "GET, POST"),
    ],
)
async def test_wrong_method_is_405_and_nothing_appended(
    client: httpx.AsyncClient,
    make_channel: MakeChannel,
    provider: str,
    method: str,
    allow: str,
) -> None:
    channel = await make_channel(provider)

    response = await client.request(method, url(channel))

    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert entries(channel) == []


# --- WhatsApp verification handshake ------------------------------------------------------------


async def test_whatsapp_handshake_with_right_token_echoes_the_challenge(
    client: httpx.AsyncClient, make_channel: MakeChannel
) -> None:
    channel = await make_channel("whatsapp")
    params = {
        "hub.mode": "subscribe",
        "hub.verify_token": VERIFY_TOKEN,
        "hub.challenge": "1158201444",
    }

    response = await client.get(url(channel), params=params)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == "1158201444"


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"hub.mode": "subscribe", "hub.verify_token": "nope", "hub.challenge": "1"}, 403),
        ({"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1"}, 403),
        ({"hub.mode": "subscribe", "hub.challenge": "1"}, 401),
    ],
)
async def test_whatsapp_handshake_with_wrong_token_is_refused(
    client: httpx.AsyncClient,
    make_channel: MakeChannel,
    params: dict[str, str],
    status: int,
) -> None:
    channel = await make_channel("whatsapp")

    response = await client.get(url(channel), params=params)

    assert response.status_code == status
    assert list(response.json()) == ["detail"]  # JSON reason, the challenge is not echoed


# --- Redis down: 503, never 2xx ---------------------------------------------------------------


async def test_redis_unreachable_is_503_with_retry_after(
    make_channel: MakeChannel,
) -> None:
    channel = await make_channel("generic")
    app = WebhookApp(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    body = fixture_bytes("generic", "message")
    transport = httpx.ASGITransport(app=app)

    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        started = time.monotonic()
        response = await post_generic(http, channel, body)
        elapsed = time.monotonic() - started

    assert response.status_code == 503
    assert response.headers["retry-after"].isdigit()
    assert "detail" in response.json()
    assert elapsed < 3
    assert entries(channel) == []


async def test_database_unreachable_on_a_cache_miss_is_503(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def down(key: uuid.UUID) -> None:
        raise OperationalError("connection refused")

    monkeypatch.setattr(channels_cache, "_query", down)

    response = await client.post(f"/webhooks/generic/{uuid.uuid4()}/", content=b"{}")

    assert response.status_code == 503
    assert response.headers["retry-after"].isdigit()


@pytest.fixture
def private_redis() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A redis-server of this test's own, to kill (or flush) without touching the shared one."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="sb-redis-")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", workdir],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    client.close()
    yield f"redis://127.0.0.1:{port}/0", proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    shutil.rmtree(workdir, ignore_errors=True)


async def test_redis_dying_after_warm_up_is_503_and_its_return_is_served(
    make_channel: MakeChannel, private_redis: tuple[str, subprocess.Popen[bytes]]
) -> None:
    redis_url, proc = private_redis
    channel = await make_channel("generic")
    app = WebhookApp(redis_url=redis_url)
    transport = httpx.ASGITransport(app=app)
    minimal = fixture_bytes("generic", "minimal")

    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        assert_accepted(await post_generic(http, channel, minimal.replace(b"90210", b"1")))
        proc.kill()
        proc.wait()
        down = await post_generic(http, channel, minimal.replace(b"90210", b"2"))
    await app.stream.aclose()

    assert down.status_code == 503
    assert "retry-after" in down.headers


async def test_script_forgotten_by_redis_is_reloaded_without_double_appends(
    make_channel: MakeChannel, private_redis: tuple[str, subprocess.Popen[bytes]]
) -> None:
    redis_url, _ = private_redis
    channel = await make_channel("whatsapp")
    app = WebhookApp(redis_url=redis_url)
    transport = httpx.ASGITransport(app=app)
    body = fixture_bytes("whatsapp", "multiple_messages")
    private = redis.Redis.from_url(redis_url)

    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        await post_whatsapp(http, channel, fixture_bytes("whatsapp", "text_message"))
        private.script_flush()
        response = await post_whatsapp(http, channel, body)
    await app.stream.aclose()

    result = expected("whatsapp", body)
    assert_accepted(response, len(result.messages) + len(result.statuses))
    stored = private.xrange(stream_key(shard_of(channel.company_id)))
    private.close()
    assert len(stored) == 1 + len(result.messages) + len(result.statuses)


# --- large bodies: checked off the event loop; hostile ones refused cheaply ----------------------


def _whatsapp_batch(count: int) -> bytes:
    """One WhatsApp notification carrying `count` text messages."""
    payload = json.loads(fixture_bytes("whatsapp", "text_message"))
    value = payload["entry"][0]["changes"][0]["value"]
    [message] = value["messages"]
    value["messages"] = [
        {**message, "id": f"wamid.batch-{n}", "text": {"body": f"Message {n} " + "x" * 100}}
        for n in range(count)
    ]
    return json.dumps(payload).encode()


async def test_large_authentic_batch_is_parsed_off_the_loop_and_appended_in_order(
    client: httpx.AsyncClient, make_channel: MakeChannel, app: WebhookApp
) -> None:
    channel = await make_channel("whatsapp")
    body = _whatsapp_batch(300)
    assert len(body) > asgi_app.OFFLOAD_BYTES
    result = expected("whatsapp", body)

    response = await post_whatsapp(client, channel, body)

    assert_accepted(response, 300)
    assert [e.message for e in entries(channel) if isinstance(e, InboundEntry)] == result.messages
    assert app.offload.in_flight == 0


async def test_large_forged_batch_is_refused_without_being_parsed(
    client: httpx.AsyncClient, make_channel: MakeChannel, app: WebhookApp
) -> None:
    channel = await make_channel("whatsapp")
    body = _whatsapp_batch(300)
    headers = {"content-type": JSON, "x-hub-signature-256": sign_whatsapp("not-the-secret", body)}

    response = await client.post(url(channel), content=body, headers=headers)

    assert response.status_code == 403
    assert app.offload._process is None  # the parsing process was never needed
    assert entries(channel) == []


async def test_wrong_telegram_token_is_refused_before_the_body_is_read(
    app: WebhookApp, make_channel: MakeChannel
) -> None:
    channel = await make_channel("telegram")
    reads = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": b"x" * 65536, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": url(channel),
        "scheme": "http",
        "query_string": b"",
        "headers": [
            (b"host", b"testserver"),
            (b"content-type", b"application/json"),
            (b"content-length", b"1000000"),
            (b"x-telegram-bot-api-secret-token", b"guess"),
        ],
    }
    await app(scope, receive, send)

    assert sent[0]["status"] == 403
    assert reads == 0


async def test_twilio_body_larger_than_twilio_sends_is_413_unread(
    client: httpx.AsyncClient, make_channel: MakeChannel
) -> None:
    channel = await make_channel("twilio")  # the channel itself would take 1 MiB
    form = [*twilio_form("sms_inbound"), ("Padding", "x" * (64 * 1024))]

    response = await post_twilio(client, channel, form)

    assert response.status_code == 413
    assert "65536 bytes" in response.json()["detail"]
    assert entries(channel) == []


async def test_too_many_large_bodies_at_once_is_503_nothing_accepted(
    client: httpx.AsyncClient, make_channel: MakeChannel, app: WebhookApp
) -> None:
    channel = await make_channel("whatsapp")
    app.offload.max_queue = 0

    response = await post_whatsapp(client, channel, _whatsapp_batch(300))
    small = await post_whatsapp(client, channel, fixture_bytes("whatsapp", "text_message"))

    assert response.status_code == 503
    assert response.json()["accepted"] == "none"
    assert response.headers["retry-after"].isdigit()
    assert_accepted(small)  # small bodies never queue
    assert len(entries(channel)) == 1


async def test_a_dead_parsing_process_is_503_and_replaced(
    client: httpx.AsyncClient, make_channel: MakeChannel, app: WebhookApp
) -> None:
    channel = await make_channel("whatsapp")
    first = await post_whatsapp(client, channel, _whatsapp_batch(200))
    assert_accepted(first, 200)
    process = app.offload._process
    assert process is not None
    for worker in list(process._processes.values()):  # type: ignore[attr-defined]
        worker.kill()
        worker.join()

    broken = await post_whatsapp(client, channel, _whatsapp_batch(201))
    again = await post_whatsapp(client, channel, _whatsapp_batch(201))
    app.offload.close()

    assert broken.status_code == 503
    assert broken.json()["accepted"] == "none"
    assert_accepted(again, 1)  # 200 of its 201 messages are duplicates of the first request
    assert again.json()["duplicates"] == 200
    assert len(entries(channel)) == 201


# --- Redis stalls (SIGSTOP): every answer true, and within the documented bound -------------------


def _generic_body(message_id: str) -> bytes:
    return json.dumps(
        {
            "message_id": message_id,
            "client": {"id": message_id, "name": "Stall Tester"},
            "text": "Still there?",
            "sent_at": "2025-03-14T09:30:00",
        }
    ).encode()


def _stored_ids(redis_url: str, channel: Channel) -> dict[str, list[str]]:
    """Stream entry ids per provider message id, from the stream as it is now."""
    private = redis.Redis.from_url(redis_url)
    try:
        rows = private.xrange(stream_key(shard_of(channel.company_id)))
    finally:
        private.close()
    stored: dict[str, list[str]] = {}
    for entry_id, fields in rows:
        entry = decode(fields[b"e"])
        assert isinstance(entry, InboundEntry)
        stored.setdefault(entry.message.provider_message_id, []).append(entry_id.decode())
    return stored


def _claims_nothing_accepted(response: httpx.Response) -> bool:
    return response.status_code == 503 and "nothing was accepted" in response.json()["detail"]


async def _stall(proc: subprocess.Popen[bytes], seconds: float) -> None:
    proc.send_signal(signal.SIGSTOP)
    try:
        await asyncio.sleep(seconds)
    finally:
        proc.send_signal(signal.SIGCONT)


async def test_redis_stalling_mid_load_gets_true_answers_within_the_bound(
    make_channel: MakeChannel, private_redis: tuple[str, subprocess.Popen[bytes]]
) -> None:
    """Two stalls under load: 8 s (longer than the bound: in-flight appends stay unknown) and
    3.7 s (Redis is back while the appender finds out). No answer is false, none is late, and
    once providers have retried every message is in the stream exactly once."""
    redis_url, proc = private_redis
    channel = await make_channel("generic")
    app = WebhookApp(redis_url=redis_url)
    transport = httpx.ASGITransport(app=app)
    answers: dict[str, tuple[httpx.Response, float]] = {}
    done = asyncio.Event()

    async def provider(http: httpx.AsyncClient, n: int) -> None:
        sent = 0
        while not done.is_set():
            message_id = f"stall-{n}-{sent}"
            sent += 1
            started = time.monotonic()
            response = await post_generic(http, channel, _generic_body(message_id))
            answers[message_id] = (response, time.monotonic() - started)
            await asyncio.sleep(0.005)

    async def weather() -> None:
        await asyncio.sleep(1)
        await _stall(proc, 8)
        await asyncio.sleep(2)
        await _stall(proc, 3.7)
        await asyncio.sleep(2)
        done.set()

    async with httpx.AsyncClient(transport=transport, base_url=BASE, timeout=60) as http:
        await asyncio.gather(weather(), *(provider(http, n) for n in range(40)))
        await asyncio.sleep(0.5)  # writes Redis read when it resumed are in by now
        before_retries = _stored_ids(redis_url, channel)

        statuses = [response.status_code for response, _ in answers.values()]
        assert statuses.count(202) > 100 and statuses.count(503) > 10, statuses
        assert set(statuses) <= {202, 503}
        slowest = max(elapsed for _, elapsed in answers.values())
        assert slowest < appender.ANSWER_BOUND_SECONDS, slowest
        for message_id, (response, _) in answers.items():
            if response.status_code == 202:
                assert before_retries[message_id] == [response.json()["id"]]
            elif _claims_nothing_accepted(response):
                assert message_id not in before_retries, response.json()
            else:
                assert response.json()["accepted"] == "unknown", response.json()

        # The providers retry whatever was not accepted: a duplicate if it did get in.
        for message_id, (response, _) in answers.items():
            if response.status_code == 503:
                retry = await post_generic(http, channel, _generic_body(message_id))
                want = 200 if message_id in before_retries else 202
                assert retry.status_code == want, (message_id, retry.text)
    await app.stream.aclose()

    stored = _stored_ids(redis_url, channel)
    assert sorted(stored) == sorted(answers)
    assert all(len(ids) == 1 for ids in stored.values())


async def test_an_append_redis_runs_after_a_short_stall_is_answered_for_what_it_is(
    make_channel: MakeChannel, private_redis: tuple[str, subprocess.Popen[bytes]]
) -> None:
    """Redis resumes after the append timed out but while the appender finds out: the answer
    is definite (202 with the entry's id, or 503 "nothing was accepted" for an append that the
    fence cancelled), never "unknown", and true."""
    redis_url, proc = private_redis
    channel = await make_channel("generic")
    app = WebhookApp(redis_url=redis_url)
    transport = httpx.ASGITransport(app=app)

    async with httpx.AsyncClient(transport=transport, base_url=BASE, timeout=60) as http:
        assert_accepted(await post_generic(http, channel, _generic_body("warm-up")))
        stall = asyncio.create_task(_stall(proc, appender.APPEND_TIMEOUT + 0.4))
        await asyncio.sleep(0.05)
        started = time.monotonic()
        response = await post_generic(http, channel, _generic_body("short-stall"))
        elapsed = time.monotonic() - started
        await stall
    await app.stream.aclose()

    assert appender.APPEND_TIMEOUT < elapsed < appender.ANSWER_BOUND_SECONDS
    stored = _stored_ids(redis_url, channel)
    if response.status_code == 202:
        assert stored["short-stall"] == [response.json()["id"]]
    else:
        assert _claims_nothing_accepted(response), response.text
        assert response.json()["accepted"] == "none"
        assert "short-stall" not in stored


async def test_an_append_redis_has_not_run_when_time_is_up_is_cancelled_and_not_accepted(
    make_channel: MakeChannel, private_redis: tuple[str, subprocess.Popen[bytes]]
) -> None:
    """CLIENT PAUSE WRITE holds the append script past the timeout while reads and CLIENT KILL
    still run: the appender kills the connection that carries it, so Redis never runs it, and
    the answer "nothing was accepted" stays true after the pause ends."""
    redis_url, _ = private_redis
    channel = await make_channel("generic")
    app = WebhookApp(redis_url=redis_url)
    transport = httpx.ASGITransport(app=app)
    control = redis.Redis.from_url(redis_url)
    pause_ms = int((appender.APPEND_TIMEOUT + 1) * 1000)

    async with httpx.AsyncClient(transport=transport, base_url=BASE, timeout=60) as http:
        assert_accepted(await post_generic(http, channel, _generic_body("warm-up")))
        control.execute_command("CLIENT", "PAUSE", pause_ms, "WRITE")
        started = time.monotonic()
        response = await post_generic(http, channel, _generic_body("paused"))
        elapsed = time.monotonic() - started
        await asyncio.sleep(pause_ms / 1000 - elapsed + 0.3)  # the pause is over
        retry = await post_generic(http, channel, _generic_body("paused"))
    await app.stream.aclose()
    control.close()

    assert appender.APPEND_TIMEOUT < elapsed < appender.ANSWER_BOUND_SECONDS
    assert _claims_nothing_accepted(response), response.text
    assert response.json()["accepted"] == "none"
    assert_accepted(retry)
    assert _stored_ids(redis_url, channel)["paused"] == [retry.json()["id"]]


# --- mounted in front of Django -----------------------------------------------------------------


async def test_project_asgi_sends_webhooks_to_the_webhook_app_and_the_rest_to_django(
    make_channel: MakeChannel, monkeypatch: pytest.MonkeyPatch
) -> None:
    import routing_service.asgi as project_asgi

    django_paths: list[str] = []

    async def django_stub(scope: Any, receive: Any, send: Any) -> None:
        django_paths.append(scope["path"])
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    # Django's own answer depends on everybody's URLconf; what is tested here is the split.
    monkeypatch.setattr(project_asgi, "django_asgi", django_stub)
    channel = await make_channel("generic")
    body = fixture_bytes("generic", "minimal")
    transport = httpx.ASGITransport(app=project_asgi.application)

    async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
        webhook = await post_generic(http, channel, body)
        wrong_method = await http.get(url(channel))
        others = [await http.get(path) for path in ("/accounts/login/", "/webhooks", "/api/v1/")]
    await asgi_app.application.stream.aclose()

    assert_accepted(webhook)
    assert wrong_method.status_code == 405
    assert wrong_method.headers["content-type"] == "application/json"
    assert [r.status_code for r in others] == [204, 204, 204]
    assert django_paths == ["/accounts/login/", "/webhooks", "/api/v1/"]


async def test_channel_cache_serves_repeat_lookups_from_memory(
    make_channel: MakeChannel, monkeypatch: pytest.MonkeyPatch
) -> None:
    channel = await make_channel("generic")
    cache = ChannelCache(ttl=60)
    calls = 0
    real = channels_cache._query

    async def counting(key: uuid.UUID) -> Any:
        nonlocal calls
        calls += 1
        return await real(key)

    monkeypatch.setattr(channels_cache, "_query", counting)

    infos = await asyncio.gather(*(cache.get(channel.uuid) for _ in range(20)))
    again = await cache.get(channel.uuid)

    assert calls == 1
    assert {info.id for info in infos if info} == {channel.id}
    assert again is infos[0]
    assert again is not None
    assert again.secrets.secret == SECRET
    assert again.company_id == channel.company_id
