"""The `deliver_message` actor end to end: an agent's reply, a real dramatiq worker on Redis,
real PostgreSQL, and providers played by a local HTTP server."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
import redis
from django.conf import settings

from events.log import log_key
from events.schema import agent_group
from routing_service.chats.models import DeliveryStatus, Message
from routing_service.ingest.adapters import ChannelSecrets, GenericAdapter, WebhookRequest
from routing_service.outbound.tasks import QUEUE, deliver_message
from tests.outbound.conftest import SECRET, Chat
from tests.support.fixtures import RunningWorker
from tests.support.provider_server import ProviderServer

MakeChat = Callable[..., Chat]


def delivered(worker: RunningWorker, message: Message) -> Message:
    worker.join(QUEUE)
    return Message.objects.unscoped().get(pk=message.pk)


def generic_config(server: ProviderServer) -> dict[str, Any]:
    return {"callback_url": f"{server.url}/hooks/switchboard"}


def test_generic_reply_is_posted_signed_and_marked_sent(
    make_chat: MakeChat, provider_server: ProviderServer, dramatiq_worker: RunningWorker
) -> None:
    chat = make_chat("generic", generic_config(provider_server))
    reply = chat.reply("Your order ships today.")

    message = delivered(dramatiq_worker, reply)

    (request,) = provider_server.requests
    assert request.method == "POST"
    assert request.route == "/hooks/switchboard"
    # The receiver verifies us with the very check we apply to its webhooks.
    GenericAdapter().verify(
        WebhookRequest(
            method="POST",
            url=f"{provider_server.url}{request.path}",
            headers=request.headers,
            body=request.body,
            content_type=request.header("content-type"),
        ),
        ChannelSecrets(secret=SECRET),
        time.time(),
    )
    body = request.json()
    assert body == {
        "message_id": f"sb-{reply.pk}",
        "conversation_id": chat.conversation_id,
        "client": {"id": "cust-1042"},
        "text": "Your order ships today.",
        "sent_at": reply.sent_at.isoformat(),
        "agent": {"id": chat.agent.pk, "name": "Grace Hopper"},
    }
    assert request.header("idempotency-key") == f"sb-{reply.pk}"
    assert message.delivery_status == DeliveryStatus.SENT
    assert message.provider_message_id == f"sb-{reply.pk}"
    assert message.delivery_attempts == 1
    assert message.delivery_error == ""
    assert "delivery_lease_until" not in message.metadata


def test_twilio_reply_is_sent_from_the_number_the_customer_wrote_to(
    make_chat: MakeChat, provider_server: ProviderServer, dramatiq_worker: RunningWorker
) -> None:
    chat = make_chat(
        "twilio",
        {"api_base_url": provider_server.url, "account_sid": "AC0123", "from_number": "+1999"},
        secret="twilio-auth-token",
    )

    message = delivered(dramatiq_worker, chat.reply("On its way"))

    (request,) = provider_server.requests
    assert request.route == "/2010-04-01/Accounts/AC0123/Messages.json"
    assert request.header("authorization") == "Basic " + base64.b64encode(
        b"AC0123:twilio-auth-token"
    ).decode("ascii")
    assert request.header("content-type") == "application/x-www-form-urlencoded"
    # From: the `To` of the customer's SMS (sms_inbound.json), not the configured fallback.
    assert request.form() == {"To": "+14155552671", "From": "+15017250604", "Body": "On its way"}
    assert message.delivery_status == DeliveryStatus.SENT
    assert message.provider_message_id == f"SM{1:032x}"


def test_whatsapp_reply_goes_to_the_wa_id_with_the_bearer_token(
    make_chat: MakeChat, provider_server: ProviderServer, dramatiq_worker: RunningWorker
) -> None:
    chat = make_chat(
        "whatsapp",
        {
            "api_base_url": provider_server.url,
            "phone_number_id": "106540352242922",
            "access_token": "EAAG-access-token",
            "verify_token": "verify-me",
        },
    )

    message = delivered(dramatiq_worker, chat.reply("Yes, in blue."))

    (request,) = provider_server.requests
    assert request.route == "/106540352242922/messages"
    assert request.header("authorization") == "Bearer EAAG-access-token"
    assert request.json() == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "16505551234",
        "type": "text",
        "text": {"preview_url": False, "body": "Yes, in blue."},
    }
    assert message.delivery_status == DeliveryStatus.SENT
    assert message.provider_message_id == "wamid.1"


def test_telegram_reply_is_sent_to_the_customer_chat(
    make_chat: MakeChat, provider_server: ProviderServer, dramatiq_worker: RunningWorker
) -> None:
    chat = make_chat("telegram", {"api_base_url": provider_server.url, "bot_token": "123:ABC-x"})

    message = delivered(dramatiq_worker, chat.reply("Morgen."))

    (request,) = provider_server.requests
    assert request.route == "/bot123:ABC-x/sendMessage"
    assert request.json() == {"chat_id": 1111111, "text": "Morgen."}
    assert message.delivery_status == DeliveryStatus.SENT
    # Same shape as inbound ids: "<chat id>:<message id>".
    assert message.provider_message_id == "1111111:1"


def test_server_errors_are_retried_until_delivered(
    make_chat: MakeChat,
    provider_server: ProviderServer,
    dramatiq_worker: RunningWorker,
    fast_retries: dict[str, Any],
) -> None:
    chat = make_chat("generic", generic_config(provider_server))
    provider_server.fail_next(2, status=500)

    message = delivered(dramatiq_worker, chat.reply())

    assert [r.route for r in provider_server.requests] == ["/hooks/switchboard"] * 3
    assert message.delivery_status == DeliveryStatus.SENT
    assert message.delivery_attempts == 3
    assert message.delivery_error == ""
    # Every attempt is signed afresh, and carries the same idempotency key.
    assert len({r.header("idempotency-key") for r in provider_server.requests}) == 1


def test_client_error_fails_at_once_without_retry(
    make_chat: MakeChat,
    provider_server: ProviderServer,
    dramatiq_worker: RunningWorker,
    fast_retries: dict[str, Any],
) -> None:
    chat = make_chat("generic", generic_config(provider_server))
    provider_server.fail_next(1, status=400, body={"error": "unknown client cust-1042"})

    message = delivered(dramatiq_worker, chat.reply())

    assert len(provider_server.requests) == 1
    assert message.delivery_status == DeliveryStatus.FAILED
    assert message.delivery_attempts == 1
    # The status and a fixed reason: the receiver's own words are not kept.
    assert message.delivery_error == "generic answered HTTP 400: bad request"


def test_exhausted_retries_fail_the_message_with_the_last_error(
    make_chat: MakeChat,
    provider_server: ProviderServer,
    dramatiq_worker: RunningWorker,
    fast_retries: dict[str, Any],
) -> None:
    chat = make_chat("generic", generic_config(provider_server))
    provider_server.fail_always(503, body={"error": "maintenance"})

    message = delivered(dramatiq_worker, chat.reply())

    attempts = fast_retries["max_retries"] + 1
    assert len(provider_server.requests) == attempts
    assert message.delivery_status == DeliveryStatus.FAILED
    assert message.delivery_attempts == attempts
    assert message.delivery_error == (
        f"Gave up after {attempts} attempts. Last error: generic answered HTTP 503: "
        "service unavailable"
    )


def test_unreachable_provider_is_retried_then_failed(
    make_chat: MakeChat, dramatiq_worker: RunningWorker, fast_retries: dict[str, Any]
) -> None:
    with ProviderServer() as gone:
        url = f"{gone.url}/hooks"  # a port nobody listens on once the server stops
    chat = make_chat("generic", {"callback_url": url})

    message = delivered(dramatiq_worker, chat.reply())

    assert message.delivery_status == DeliveryStatus.FAILED
    assert message.delivery_attempts == fast_retries["max_retries"] + 1
    assert "Connection failed" in message.delivery_error


def test_rate_limit_waits_for_retry_after(
    make_chat: MakeChat,
    provider_server: ProviderServer,
    dramatiq_worker: RunningWorker,
    fast_retries: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(deliver_message.options, "max_backoff", 5000)  # the cap on Retry-After
    chat = make_chat("generic", generic_config(provider_server))
    provider_server.fail_next(1, status=429, retry_after=1)

    message = delivered(dramatiq_worker, chat.reply())

    first, second = provider_server.requests
    # The backoff alone would be ~20-40 ms; the server asked for a second.
    assert second.received_at - first.received_at >= 0.9
    assert message.delivery_status == DeliveryStatus.SENT
    assert message.delivery_attempts == 2


def test_resent_task_for_a_sent_message_sends_nothing(
    make_chat: MakeChat, provider_server: ProviderServer, dramatiq_worker: RunningWorker
) -> None:
    chat = make_chat("generic", generic_config(provider_server))
    reply = chat.reply()
    delivered(dramatiq_worker, reply)

    deliver_message.send(reply.pk)
    message = delivered(dramatiq_worker, reply)

    assert len(provider_server.requests) == 1
    assert message.delivery_status == DeliveryStatus.SENT
    assert message.delivery_attempts == 1


def test_resent_task_for_a_failed_message_sends_nothing(
    make_chat: MakeChat, provider_server: ProviderServer, dramatiq_worker: RunningWorker
) -> None:
    chat = make_chat("generic", generic_config(provider_server))
    provider_server.fail_next(1, status=422)
    reply = chat.reply()
    delivered(dramatiq_worker, reply)

    deliver_message.send(reply.pk)
    message = delivered(dramatiq_worker, reply)

    assert len(provider_server.requests) == 1
    assert message.delivery_status == DeliveryStatus.FAILED


def test_misconfigured_channel_fails_without_a_request(
    make_chat: MakeChat, provider_server: ProviderServer, dramatiq_worker: RunningWorker
) -> None:
    chat = make_chat("telegram", {"api_base_url": provider_server.url})  # no bot_token

    message = delivered(dramatiq_worker, chat.reply())

    assert provider_server.requests == []
    assert message.delivery_status == DeliveryStatus.FAILED
    assert message.delivery_error == "The channel's config has no bot_token."


@pytest.mark.parametrize("status", [DeliveryStatus.SENT, DeliveryStatus.FAILED])
def test_the_outcome_is_published_to_the_agent(
    make_chat: MakeChat,
    provider_server: ProviderServer,
    dramatiq_worker: RunningWorker,
    status: str,
) -> None:
    chat = make_chat("generic", generic_config(provider_server))
    if status == DeliveryStatus.FAILED:
        provider_server.fail_next(1, status=400)
    reply = chat.reply()

    delivered(dramatiq_worker, reply)

    log = redis.Redis.from_url(settings.CHANNEL_LAYER_REDIS_URL)
    entries = log.xrange(log_key(chat.company.pk, agent_group(chat.agent.pk)))
    events = [msgspec.json.decode(fields[b"e"]) for _id, fields in entries]
    updates = [
        e["data"]
        for e in events
        if e["type"] == "chat.message" and e["data"]["message_id"] == reply.pk
    ]
    # The reply itself (pending), then its outcome.
    assert [u["delivery_status"] for u in updates] == [DeliveryStatus.PENDING, status]
