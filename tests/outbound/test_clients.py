"""Provider clients: addresses, request shapes and how each provider's errors are classified.

Pure: plain `OutboundMessage`s and `ProviderResponse`s; only the timeout test opens a socket
(to the local provider server).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import email.utils
import time
from typing import Any

import msgspec
import pytest

from routing_service.outbound.clients import (
    CLIENTS,
    ConfigurationError,
    DeliveryError,
    OutboundMessage,
    RetryableError,
    client_for,
    deliver,
)
from routing_service.outbound.clients.base import (
    PreparedRequest,
    ProviderResponse,
    execute,
    failure,
    http_client,
    parse_retry_after,
)
from routing_service.outbound.clients.telegram import chat_id
from routing_service.outbound.clients.twilio import sender
from tests.support.provider_server import ProviderServer, Reply

SENT_AT = dt.datetime(2025, 3, 14, 9, 30, tzinfo=dt.UTC)


def outbound(provider: str, external_id: str, **changes: Any) -> OutboundMessage:
    base = OutboundMessage(
        message_id=7,
        conversation_id=3,
        provider=provider,
        text="hello",
        sent_at=SENT_AT,
        agent_id=5,
        agent_name="Grace",
        client_external_id=external_id,
        secret="s3cret-token",
        config={},
    )
    return dataclasses.replace(base, **changes)


def response(
    status: int, body: Any = b"", headers: dict[str, str] | None = None
) -> ProviderResponse:
    raw = body if isinstance(body, bytes) else msgspec.json.encode(body)
    return ProviderResponse(status_code=status, headers=headers or {}, body=raw)


def test_every_provider_has_a_client() -> None:
    assert set(CLIENTS) == {"generic", "twilio", "whatsapp", "telegram"}
    with pytest.raises(ConfigurationError):
        client_for("carrier-pigeon")


@pytest.mark.parametrize(
    ("metadata", "config", "expected"),
    [
        ({"to": "+15550001"}, {"from_number": "+1999"}, ("From", "+15550001")),
        ({}, {"from_number": "+1999", "messaging_service_sid": "MG1"}, ("From", "+1999")),
        ({}, {"messaging_service_sid": "MG1"}, ("MessagingServiceSid", "MG1")),
    ],
)
def test_twilio_sends_from_the_number_the_customer_wrote_to_then_the_config(
    metadata: dict[str, str], config: dict[str, str], expected: tuple[str, str]
) -> None:
    message = outbound("twilio", "twilio:+1444", last_inbound_metadata=metadata, config=config)
    assert sender(message) == expected


def test_twilio_without_any_sender_is_a_configuration_error() -> None:
    message = outbound("twilio", "twilio:+1444", config={"account_sid": "AC1"})
    with pytest.raises(ConfigurationError, match="No Twilio sender"):
        CLIENTS["twilio"].prepare(message, now=0)


def test_twilio_via_whatsapp_keeps_the_channel_prefix() -> None:
    message = outbound(
        "twilio",
        "twilio:whatsapp:+1444",
        config={"account_sid": "AC1"},
        last_inbound_metadata={"to": "whatsapp:+1555"},
    )
    request = CLIENTS["twilio"].prepare(message, now=0)
    assert b"To=whatsapp%3A%2B1444" in request.body
    assert b"From=whatsapp%3A%2B1555" in request.body
    assert request.url == "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json"


def test_telegram_replies_in_the_chat_of_the_last_inbound_message() -> None:
    # A group chat: the client id names the user, the message id names the group.
    message = outbound("telegram", "telegram:42", last_inbound_id="-100123:77")
    assert chat_id(message) == "-100123"
    assert chat_id(outbound("telegram", "telegram:42")) == "42"


def test_a_client_of_another_provider_has_no_address_here() -> None:
    message = outbound(
        "whatsapp", "telegram:42", config={"phone_number_id": "1", "access_token": "t"}
    )
    with pytest.raises(ConfigurationError, match="no WhatsApp address"):
        CLIENTS["whatsapp"].prepare(message, now=0)


def test_generic_needs_a_secret_to_sign_with() -> None:
    message = outbound("generic", "c-1", secret="", config={"callback_url": "https://x.test/h"})
    with pytest.raises(ConfigurationError, match="no secret"):
        CLIENTS["generic"].prepare(message, now=0)


def test_default_base_urls_are_the_public_apis() -> None:
    telegram = outbound("telegram", "telegram:42", config={"bot_token": "1:AB"})
    whatsapp = outbound(
        "whatsapp", "whatsapp:1555", config={"phone_number_id": "99", "access_token": "t"}
    )
    assert CLIENTS["telegram"].prepare(telegram, now=0).url == (
        "https://api.telegram.org/bot1:AB/sendMessage"
    )
    assert CLIENTS["whatsapp"].prepare(whatsapp, now=0).url == (
        "https://graph.facebook.com/v21.0/99/messages"
    )


@pytest.mark.parametrize(
    ("provider", "status", "body", "retryable"),
    [
        ("generic", 500, b"oops", True),
        ("generic", 502, b"", True),
        ("generic", 408, b"", True),
        ("generic", 429, b"", True),
        ("generic", 400, b"", False),
        ("generic", 401, b"", False),
        ("generic", 404, b"", False),
        ("twilio", 400, {"code": 21211, "message": "Invalid 'To' Phone Number"}, False),
        ("twilio", 429, {"code": 20429, "message": "Too Many Requests"}, True),
        # WhatsApp's throughput and pair-rate limits come as 400s: the code decides.
        ("whatsapp", 400, {"error": {"message": "Rate limit hit", "code": 130429}}, True),
        ("whatsapp", 400, {"error": {"message": "Pair rate limit", "code": 131056}}, True),
        ("whatsapp", 400, {"error": {"message": "Busy", "code": 1, "is_transient": True}}, True),
        ("whatsapp", 400, {"error": {"message": "Re-engagement message", "code": 131047}}, False),
        ("telegram", 403, {"ok": False, "description": "Forbidden: bot was blocked"}, False),
        ("telegram", 429, {"ok": False, "description": "Too Many Requests"}, True),
    ],
)
def test_errors_are_retryable_only_when_a_retry_can_help(
    provider: str, status: int, body: Any, retryable: bool
) -> None:
    error = failure(CLIENTS[provider], response(status, body))
    assert isinstance(error, DeliveryError)
    assert error.retryable is retryable
    assert isinstance(error, RetryableError) is retryable
    assert str(error).startswith(f"{provider} answered HTTP {status}")


def test_error_text_names_the_provider_code() -> None:
    twilio = failure(CLIENTS["twilio"], response(400, {"code": 21211, "message": "Invalid To"}))
    whatsapp = failure(
        CLIENTS["whatsapp"],
        response(400, {"error": {"message": "Re-engagement message", "code": 131047}}),
    )
    assert str(twilio) == "twilio answered HTTP 400: invalid 'To' number (Twilio error 21211)"
    assert str(whatsapp) == (
        "whatsapp answered HTTP 400: more than 24 hours since the customer last wrote "
        "(a template is needed) (WhatsApp error 131047)"
    )


def test_an_unknown_provider_code_is_kept_as_a_number_with_the_status_reason() -> None:
    twilio = failure(CLIENTS["twilio"], response(400, {"code": 99999, "message": "Whatever"}))
    telegram = failure(
        CLIENTS["telegram"],
        response(403, {"ok": False, "description": "Forbidden: bot was blocked by the user"}),
    )
    assert str(twilio) == "twilio answered HTTP 400: bad request (Twilio error 99999)"
    assert str(telegram) == "telegram answered HTTP 403: the customer blocked the bot"


def test_a_redirect_is_final_and_not_followed() -> None:
    error = failure(CLIENTS["generic"], response(302, b"", {"location": "https://elsewhere"}))
    assert not error.retryable


def test_retry_after_comes_from_the_header_or_telegrams_body() -> None:
    header = failure(CLIENTS["generic"], response(503, b"", {"retry-after": "12"}))
    body = failure(
        CLIENTS["telegram"],
        response(429, {"ok": False, "description": "Flood", "parameters": {"retry_after": 7}}),
    )
    assert isinstance(header, RetryableError) and header.retry_after == 12
    assert isinstance(body, RetryableError) and body.retry_after == 7


def test_retry_after_accepts_an_http_date() -> None:
    now = time.time()
    value = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after(value, now=now) == pytest.approx(30, abs=1)
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_credentials_never_reach_the_stored_error() -> None:
    request = CLIENTS["telegram"].prepare(
        outbound("telegram", "telegram:42", config={"bot_token": "123:SECRET"}), now=0
    )
    echoed = response(400, {"ok": False, "description": "bad url /bot123:SECRET/sendMessage"})
    error = failure(CLIENTS["telegram"], echoed, request.sensitive)
    assert "SECRET" not in str(error)
    assert str(error) == "telegram answered HTTP 400: bad request"


def test_a_slow_provider_times_out_as_retryable(provider_server: ProviderServer) -> None:
    def slow(_request: Any) -> Reply:
        time.sleep(1.0)
        return Reply(200, {"ok": True})

    provider_server.respond_with(slow)
    request = PreparedRequest(method="POST", url=provider_server.url, headers={}, body=b"{}")
    with pytest.raises(RetryableError, match="Timed out"):
        execute(http_client(), request, total_timeout=0.3)


def test_an_unusable_url_is_a_configuration_error() -> None:
    request = PreparedRequest(method="POST", url="ftp://example.test/x", headers={}, body=b"")
    with pytest.raises(ConfigurationError):
        execute(http_client(), request)


def test_httpx_request_logs_do_not_show_the_bot_token(
    provider_server: ProviderServer, caplog: pytest.LogCaptureFixture
) -> None:
    message = outbound(
        "telegram",
        "telegram:42",
        config={"api_base_url": provider_server.url, "bot_token": "123:SECRET-token"},
    )
    with caplog.at_level("INFO", logger="httpx"):
        result = deliver(CLIENTS["telegram"], message)

    assert result.provider_message_id == "42:1"
    logged = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert logged and all("SECRET" not in line for line in logged)
    assert "/bot[redacted]/sendMessage" in logged[0]
