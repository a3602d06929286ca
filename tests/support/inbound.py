"""Helpers that put customer messages on the inbound stream the way the webhook does."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import redis
from django.conf import settings

from routing_service.chats.models import Channel
from routing_service.ingest import stream
from routing_service.ingest.adapters import ADAPTERS, WebhookRequest
from routing_service.ingest.adapters.base import InboundMessage

WEBHOOK_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "webhooks"


def inbound_message(
    message_id: str,
    client_id: str,
    text: str = "Hello, I need help",
    *,
    name: str | None = None,
    priority: str | None = None,
    language: str | None = None,
    category: str | None = None,
    provider: str = "generic",
) -> InboundMessage:
    return InboundMessage(
        provider=provider,
        provider_message_id=message_id,
        client_external_id=client_id,
        client_name=name or f"Client {client_id}",
        text=text,
        sent_at=dt.datetime.now(dt.UTC),
        priority=priority,
        language=language,
        category=category,
    )


def parse_webhook(provider: str, raw: str) -> InboundMessage:
    """The first customer message of a provider's webhook body, parsed by its adapter: `raw`
    is the JSON of a fixture (tests/fixtures/webhooks/<provider>/), sent form-encoded for
    Twilio as Twilio does."""
    body = raw.encode()
    content_type = "application/json"
    if provider == "twilio":
        body = urlencode(json.loads(raw)).encode()
        content_type = "application/x-www-form-urlencoded"
    request = WebhookRequest(
        method="POST",
        url=f"https://switchboard.example.com/webhooks/{provider}/x/",
        headers={"content-type": content_type},
        body=body,
        content_type=content_type,
    )
    return ADAPTERS[provider].parse(request).messages[0]


def append_inbound(client: redis.Redis, channel: Channel, message: InboundMessage) -> str | None:
    """Append like the webhook does (dedupe + XADD); returns the entry id or None (duplicate)."""
    entry = stream.InboundEntry(
        channel_id=channel.pk,
        company_id=channel.company_id,
        received_at=dt.datetime.now(dt.UTC),
        message=message,
    )
    keys, args = stream.append_args(entry)
    result: Any = client.eval(stream.APPEND_LUA, 2, *keys, *args)
    return result.decode() if result else None


def stream_redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)
