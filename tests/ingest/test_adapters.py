"""Provider adapters of webhook ingestion: authenticity, normalisation and field errors.

Pure tests: no database, no Redis, no Django (run with `-p no:django`).
"""

import ast
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import msgspec
import pytest

from routing_service.ingest.adapters import (
    ADAPTERS,
    Adapter,
    ChannelSecrets,
    HandshakeAdapter,
    InboundMessage,
    ParseResult,
    PayloadError,
    SignatureError,
    StatusEvent,
    UnsupportedMediaType,
    WebhookRequest,
    sign_generic,
    sign_twilio,
    sign_whatsapp,
)
from routing_service.ingest.adapters.twilio import EMPTY_TWIML

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "webhooks"
ADAPTERS_DIR = Path(__file__).resolve().parents[2] / "routing_service" / "ingest" / "adapters"
NOW = 1_741_944_000  # 2025-03-14T09:20:00Z
SECRET = "sb_current_7f3a"
OLD_SECRET = "sb_previous_19c2"
SECRETS = ChannelSecrets(secret=SECRET)
ROTATING = ChannelSecrets(secret=SECRET, previous_secret=OLD_SECRET)
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"
CHANNEL_URL = "https://switchboard.example.com/webhooks/{}/6f1c2b9e-3d4a-4e5f-8a7b-9c0d1e2f3a4b/"


def raw(provider: str, name: str) -> bytes:
    return (FIXTURES / provider / f"{name}.json").read_bytes()


def data(provider: str, name: str) -> Any:
    return json.loads(raw(provider, name))


def request(
    provider: str,
    body: bytes,
    headers: dict[str, str] | None = None,
    *,
    content_type: str = JSON,
    method: str = "POST",
    query: dict[str, str] | None = None,
    received_at: datetime | None = None,
) -> WebhookRequest:
    return WebhookRequest(
        method=method,
        url=CHANNEL_URL.format(provider),
        headers={"content-type": content_type, **(headers or {})},
        query=query or {},
        body=body,
        content_type=content_type,
        received_at=received_at,
    )


def accept(provider: str, req: WebhookRequest, secrets: ChannelSecrets = SECRETS) -> ParseResult:
    adapter = ADAPTERS[provider]
    adapter.verify(req, secrets, NOW)
    return adapter.parse(req)


def payload_errors(provider: str, body: bytes, **kwargs: Any) -> dict[str, list[str]]:
    with pytest.raises(PayloadError) as exc:
        ADAPTERS[provider].parse(request(provider, body, **kwargs))
    assert exc.value.status_code == 400
    return exc.value.errors


def rejected(
    provider: str, req: WebhookRequest, secrets: ChannelSecrets = SECRETS, now: float = NOW
) -> SignatureError:
    with pytest.raises(SignatureError) as exc:
        ADAPTERS[provider].verify(req, secrets, now)
    assert exc.value.status_code in (401, 403)
    return exc.value


# --- generic --------------------------------------------------------------------------------------


def generic_request(
    body: bytes,
    *,
    secret: str = SECRET,
    timestamp: int = NOW,
    signature: str | None = None,
    content_type: str = JSON,
) -> WebhookRequest:
    headers = {
        "x-switchboard-timestamp": str(timestamp),
        "x-switchboard-signature": signature or sign_generic(secret, timestamp, body),
    }
    return request("generic", body, headers, content_type=content_type)


def generic_body(**changes: Any) -> bytes:
    obj = data("generic", "message")
    for key, value in changes.items():
        if value is ...:
            obj.pop(key, None)
        else:
            obj[key] = value
    return json.dumps(obj).encode()


def test_generic_signed_fixture_parses_to_normalised_message() -> None:
    result = accept("generic", generic_request(raw("generic", "message")))

    assert result.statuses == []
    assert result.response is None
    assert result.messages == [
        InboundMessage(
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
    ]


def test_generic_minimal_payload_takes_naive_sent_at_as_utc_and_numeric_ids() -> None:
    (message,) = accept("generic", generic_request(raw("generic", "minimal"))).messages

    assert message.sent_at == datetime(2025, 3, 14, 9, 30, tzinfo=UTC)
    assert message.sent_at.tzinfo is UTC
    assert (message.provider_message_id, message.client_external_id) == ("90210", "77")
    assert (message.priority, message.language, message.category) == (None, None, None)
    assert (message.client_email, message.client_phone, message.metadata) == (None, None, {})


def test_generic_priority_is_case_insensitive() -> None:
    req = request("generic", generic_body(priority="URGENT"))
    (message,) = ADAPTERS["generic"].parse(req).messages
    assert message.priority == "urgent"


def test_normalised_message_survives_the_stream_round_trip() -> None:
    (message,) = ADAPTERS["generic"].parse(request("generic", raw("generic", "message"))).messages
    encoded = msgspec.json.encode(message)
    assert msgspec.json.decode(encoded, type=InboundMessage) == message


@pytest.mark.parametrize("missing", ["x-switchboard-timestamp", "x-switchboard-signature"])
def test_generic_missing_header_is_401(missing: str) -> None:
    req = generic_request(raw("generic", "message"))
    headers = {k: v for k, v in req.headers.items() if k != missing}
    error = rejected("generic", msgspec.structs.replace(req, headers=headers))
    assert error.status_code == 401
    assert "Missing" in error.reason


def test_generic_wrong_secret_is_403() -> None:
    error = rejected("generic", generic_request(raw("generic", "message"), secret="not-it"))
    assert error.status_code == 403
    assert "does not match" in error.reason


def test_generic_tampered_body_is_rejected() -> None:
    body = raw("generic", "message")
    signature = sign_generic(SECRET, NOW, body)
    tampered = body.replace(b'"high"', b'"low"')
    assert tampered != body
    rejected("generic", generic_request(tampered, signature=signature))


def test_generic_signature_binds_the_timestamp() -> None:
    body = raw("generic", "message")
    req = generic_request(body, signature=sign_generic(SECRET, NOW - 10, body))
    rejected("generic", req)


@pytest.mark.parametrize(
    "header",
    [
        "deadbeef",
        "v1=not-hex",
        "v1=" + "a" * 63,
        "v1=" + "g" * 64,
        "v0=" + "a" * 64,
        "v1=" + "a" * 64 + ",garbage",
    ],
)
def test_generic_malformed_signature_header_is_403(header: str) -> None:
    error = rejected("generic", generic_request(raw("generic", "message"), signature=header))
    assert error.status_code == 403
    assert "X-Switchboard-Signature" in error.reason


@pytest.mark.parametrize("timestamp", ["12.5", "abc", "-100", "1e9", " "])
def test_generic_non_integer_timestamp_is_rejected(timestamp: str) -> None:
    req = generic_request(raw("generic", "message"))
    headers = {**req.headers, "x-switchboard-timestamp": timestamp}
    rejected("generic", msgspec.structs.replace(req, headers=headers))


@pytest.mark.parametrize("offset", [-301, 301, -3600, 86_400])
def test_generic_timestamp_more_than_300s_away_is_rejected(offset: int) -> None:
    req = generic_request(raw("generic", "message"), timestamp=NOW + offset)
    error = rejected("generic", req)
    assert "300 s" in error.reason
    assert ("future" in error.reason) == (offset > 0)


@pytest.mark.parametrize("offset", [-300, 0, 300])
def test_generic_timestamp_within_300s_is_accepted(offset: int) -> None:
    req = generic_request(raw("generic", "message"), timestamp=NOW + offset)
    ADAPTERS["generic"].verify(req, SECRETS, NOW)


def test_generic_previous_secret_is_accepted_during_rotation() -> None:
    req = generic_request(raw("generic", "message"), secret=OLD_SECRET)
    ADAPTERS["generic"].verify(req, ROTATING, NOW)
    rejected("generic", req, SECRETS)


def test_generic_several_v1_values_pass_if_one_matches() -> None:
    body = raw("generic", "message")
    header = ", ".join(
        [sign_generic("retired", NOW, body), sign_generic(SECRET, NOW, body), "v2=ignored"]
    )
    ADAPTERS["generic"].verify(generic_request(body, signature=header), SECRETS, NOW)


def test_generic_channel_without_secret_accepts_nothing() -> None:
    req = generic_request(raw("generic", "message"), secret="")
    rejected("generic", req, ChannelSecrets(secret=""))


def test_sign_generic_is_hex_hmac_sha256_of_timestamp_dot_body() -> None:
    import hashlib
    import hmac

    expected = hmac.new(b"k", b"1700000000.{}", hashlib.sha256).hexdigest()
    assert sign_generic("k", 1_700_000_000, b"{}") == f"v1={expected}"


def test_generic_invalid_json_is_a_payload_error() -> None:
    errors = payload_errors("generic", b'{"message_id": ')
    assert list(errors) == ["non_field_errors"]
    assert errors["non_field_errors"][0].startswith("Invalid JSON")


def test_generic_non_object_body_is_a_payload_error() -> None:
    assert payload_errors("generic", b"[1, 2]") == {
        "non_field_errors": ["Expected an object, got an array."]
    }


def test_generic_missing_client_id_names_the_field() -> None:
    body = generic_body(client={"name": "Ada"})
    assert payload_errors("generic", body) == {"client.id": ["This field is required."]}


def test_generic_reports_every_missing_field() -> None:
    errors = payload_errors("generic", generic_body(message_id=..., text=..., sent_at=...))
    assert errors == {
        "message_id": ["This field is required."],
        "text": ["This field is required."],
        "sent_at": ["This field is required."],
    }


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"text": 42}, "text", "Expected a string, got an integer."),
        ({"text": ""}, "text", "This field may not be blank."),
        ({"client": "cust-1042"}, "client", "Expected an object, got a string."),
        ({"client": {"id": 1.5, "name": "A"}}, "client.id", "Expected an integer or a string"),
        (
            {"client": {"id": "x", "name": "A" * 256}},
            "client.name",
            "Ensure this field has no more than 255",
        ),
        ({"metadata": ["a"]}, "metadata", "Expected an object, got an array."),
        ({"language": True}, "language", "Expected a string or null, got a boolean."),
        ({"sent_at": 1741944000}, "sent_at", "Expected a string, got an integer."),
        ({"sent_at": "yesterday"}, "sent_at", "Not an ISO 8601 date-time."),
        ({"sent_at": "2025-03-14"}, "sent_at", "Not an ISO 8601 date-time."),
        ({"sent_at": "2025-02-30T10:00:00Z"}, "sent_at", "Not an ISO 8601 date-time."),
        ({"priority": "critical"}, "priority", '"critical" is not a valid choice'),
        (
            {"client": {"id": "c", "name": "A", "email": "not-an-email"}},
            "client.email",
            "Enter a valid email address.",
        ),
    ],
)
def test_generic_bad_field_gives_field_error(
    changes: dict[str, Any], field: str, message: str
) -> None:
    errors = payload_errors("generic", generic_body(**changes))
    assert list(errors) == [field]
    assert errors[field][0].startswith(message)


def test_generic_type_and_value_errors_are_reported_together() -> None:
    errors = payload_errors("generic", generic_body(text=7, sent_at="soon", priority="meh"))
    assert set(errors) == {"text", "sent_at", "priority"}


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "", "application/x-www-form-urlencoded", "application/json; charset=latin-1"],
)
def test_generic_wrong_content_type_is_415(content_type: str) -> None:
    req = generic_request(raw("generic", "message"), content_type=content_type)
    for step in (
        lambda: ADAPTERS["generic"].verify(req, SECRETS, NOW),
        lambda: ADAPTERS["generic"].parse(req),
    ):
        with pytest.raises(UnsupportedMediaType) as exc:
            step()
        assert exc.value.status_code == 415


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "Application/JSON"])
def test_generic_json_content_type_variants_are_accepted(content_type: str) -> None:
    req = generic_request(raw("generic", "message"), content_type=content_type)
    assert len(accept("generic", req).messages) == 1


# --- twilio ---------------------------------------------------------------------------------------

TWILIO_URL = CHANNEL_URL.format("twilio")


def twilio_request(
    params: dict[str, str],
    *,
    token: str = SECRET,
    signed_url: str = TWILIO_URL,
    signature: str | None = None,
    received_at: datetime | None = None,
) -> WebhookRequest:
    header = signature if signature is not None else sign_twilio(token, signed_url, params)
    return request(
        "twilio",
        urlencode(params).encode(),
        {"x-twilio-signature": header},
        content_type=FORM,
        received_at=received_at,
    )


def test_sign_twilio_matches_twilios_documented_example() -> None:
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+12349013030",
        "Digits": "1234",
        "From": "+12349013030",
        "To": "+18005551212",
    }
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert sign_twilio("12345", url, params) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


def test_twilio_signed_sms_parses_to_normalised_message_and_empty_twiml() -> None:
    received = datetime(2025, 3, 14, 9, 20, 1, tzinfo=UTC)
    result = accept("twilio", twilio_request(data("twilio", "sms_inbound"), received_at=received))

    assert result.response == (200, "text/xml", EMPTY_TWIML)
    assert EMPTY_TWIML == b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
    assert result.statuses == []
    assert result.messages == [
        InboundMessage(
            provider="twilio",
            provider_message_id="SM1f0e8ae6ade43cb3c0ce4525424e404f",
            client_external_id="twilio:+14155552671",
            client_name="+14155552671",
            client_phone="+14155552671",
            text="Hello! My package is late.",
            sent_at=received,
            metadata={
                "to": "+15017250604",
                "account_sid": "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
                "messaging_service_sid": "MG9752274e9e519418a7406176694466fa",
                "num_segments": "1",
                "from_country": "US",
                "from_state": "CA",
                "from_city": "SAN FRANCISCO",
                "from_zip": "94105",
            },
        )
    ]


def test_twilio_without_received_at_uses_parse_time() -> None:
    before = datetime.now(UTC)
    (message,) = accept("twilio", twilio_request(data("twilio", "sms_inbound"))).messages
    assert before <= message.sent_at <= datetime.now(UTC)


def test_twilio_mms_without_body_becomes_media_label() -> None:
    (message,) = accept("twilio", twilio_request(data("twilio", "mms_inbound"))).messages
    assert message.text == "[image]"
    assert message.metadata["media"] == [
        {"url": data("twilio", "mms_inbound")["MediaUrl0"], "content_type": "image/jpeg"}
    ]


def test_twilio_whatsapp_sender_keeps_prefix_in_id_and_profile_name() -> None:
    (message,) = accept("twilio", twilio_request(data("twilio", "whatsapp_inbound"))).messages
    assert message.client_external_id == "twilio:whatsapp:+34600111222"
    assert message.client_phone == "+34600111222"
    assert message.client_name == "María José"
    assert message.text == "¿Tenéis envío a Canarias? 🚚"
    assert message.metadata["wa_id"] == "34600111222"


@pytest.mark.parametrize(
    ("name", "status"), [("status_delivered", "delivered"), ("status_undelivered", "undelivered")]
)
def test_twilio_status_callback_is_a_status_event_not_a_message(name: str, status: str) -> None:
    params = data("twilio", name)
    result = accept("twilio", twilio_request(params))

    assert result.messages == []
    assert result.statuses == [
        StatusEvent(
            provider="twilio",
            provider_message_id=params["MessageSid"],
            status=status,
            raw=params,
        )
    ]
    assert result.response == (200, "text/xml", EMPTY_TWIML)


def test_twilio_missing_signature_is_401() -> None:
    error = rejected("twilio", twilio_request(data("twilio", "sms_inbound"), signature=""))
    assert error.status_code == 401


def test_twilio_wrong_token_is_403() -> None:
    error = rejected("twilio", twilio_request(data("twilio", "sms_inbound"), token="wrong"))
    assert error.status_code == 403


def test_twilio_tampered_parameter_is_rejected() -> None:
    params = data("twilio", "sms_inbound")
    signature = sign_twilio(SECRET, TWILIO_URL, params)
    req = twilio_request({**params, "Body": "Refund me twice"}, signature=signature)
    rejected("twilio", req)


def test_twilio_signature_for_another_url_is_rejected() -> None:
    other = CHANNEL_URL.format("twilio").replace("6f1c2b9e", "00000000")
    rejected("twilio", twilio_request(data("twilio", "sms_inbound"), signed_url=other))


@pytest.mark.parametrize("header", ["not base64!", "c2hvcnQ=", "%%%%"])
def test_twilio_malformed_signature_is_403(header: str) -> None:
    error = rejected("twilio", twilio_request(data("twilio", "sms_inbound"), signature=header))
    assert error.status_code == 403
    assert "Malformed" in error.reason


def test_twilio_signature_over_url_with_default_port_is_accepted() -> None:
    with_port = TWILIO_URL.replace("example.com/", "example.com:443/")
    req = twilio_request(data("twilio", "sms_inbound"), signed_url=with_port)
    ADAPTERS["twilio"].verify(req, SECRETS, NOW)


def test_twilio_previous_auth_token_is_accepted_during_rotation() -> None:
    req = twilio_request(data("twilio", "sms_inbound"), token=OLD_SECRET)
    ADAPTERS["twilio"].verify(req, ROTATING, NOW)
    rejected("twilio", req, SECRETS)


def test_twilio_inbound_without_body_is_not_mistaken_for_a_status_callback() -> None:
    """Inbound messages carry SmsStatus=received too; only other statuses are receipts."""
    params = {k: v for k, v in data("twilio", "sms_inbound").items() if k != "Body"}
    errors = payload_errors("twilio", urlencode(params).encode(), content_type=FORM)
    assert errors == {"Body": ["This field is required."]}


def test_twilio_missing_fields_are_named() -> None:
    params = {k: v for k, v in data("twilio", "sms_inbound").items() if k not in {"From", "Body"}}
    params["NumMedia"] = "many"
    errors = payload_errors("twilio", urlencode(params).encode(), content_type=FORM)
    assert errors == {
        "From": ["This field is required."],
        "Body": ["This field is required."],
        "NumMedia": ["A valid integer is required."],
    }


def test_twilio_invalid_utf8_body_is_a_payload_error() -> None:
    errors = payload_errors("twilio", b"Body=\xff&From=x&MessageSid=SM1", content_type=FORM)
    assert errors == {"non_field_errors": ["Body is not valid UTF-8."]}


def test_twilio_json_body_is_415() -> None:
    req = request("twilio", b"{}", {"x-twilio-signature": "x"}, content_type=JSON)
    with pytest.raises(UnsupportedMediaType):
        ADAPTERS["twilio"].verify(req, SECRETS, NOW)
    with pytest.raises(UnsupportedMediaType):
        ADAPTERS["twilio"].parse(req)


# --- whatsapp -------------------------------------------------------------------------------------


def whatsapp_request(
    body: bytes, *, secret: str = SECRET, signature: str | None = None
) -> WebhookRequest:
    header = signature if signature is not None else sign_whatsapp(secret, body)
    return request("whatsapp", body, {"x-hub-signature-256": header})


def test_whatsapp_signed_text_message_parses_to_normalised_message() -> None:
    result = accept("whatsapp", whatsapp_request(raw("whatsapp", "text_message")))

    assert result.statuses == []
    assert result.response is None
    assert result.messages == [
        InboundMessage(
            provider="whatsapp",
            provider_message_id="wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=",
            client_external_id="whatsapp:16505551234",
            client_name="Sheena Nelson",
            client_phone="+16505551234",
            text="Does it come in another color?",
            sent_at=datetime(2025, 6, 8, 20, 59, 43, tzinfo=UTC),
            metadata={
                "phone_number_id": "106540352242922",
                "display_phone_number": "15550783881",
                "business_account_id": "102290129340398",
                "type": "text",
            },
        )
    ]


def test_whatsapp_several_messages_in_one_request_including_media() -> None:
    image, reply = accept(
        "whatsapp", whatsapp_request(raw("whatsapp", "multiple_messages"))
    ).messages

    assert image.client_name == "Sheena Nelson"
    assert image.text == "[image] This is the scratch on the lid"
    assert image.metadata["type"] == "image"
    assert image.metadata["media"]["id"] == "2754859441498128"
    assert image.metadata["media"]["mime_type"] == "image/jpeg"

    assert reply.client_external_id == "whatsapp:919812345678"
    assert reply.client_name == "Ravi Kumar"
    assert reply.text == "Yes, please cancel my order"
    assert reply.metadata["context"]["from"] == "15550783881"
    assert reply.sent_at == datetime(2025, 6, 8, 20, 59, 52, tzinfo=UTC)


@pytest.mark.parametrize(
    ("message", "text"),
    [
        ({"type": "sticker", "sticker": {"id": "1", "animated": False}}, "[sticker]"),
        ({"type": "location", "location": {"latitude": 1, "name": "Dock 4"}}, "[location] Dock 4"),
        (
            {"type": "reaction", "reaction": {"message_id": "wamid.x", "emoji": "👍"}},
            "[reaction] 👍",
        ),
        (
            {"type": "button", "button": {"payload": "P", "text": "Talk to an agent"}},
            "Talk to an agent",
        ),
        (
            {
                "type": "interactive",
                "interactive": {
                    "type": "list_reply",
                    "list_reply": {"id": "r", "title": "Billing"},
                },
            },
            "Billing",
        ),
        ({"type": "unsupported", "errors": [{"code": 131051}]}, "[unsupported]"),
    ],
)
def test_whatsapp_non_text_types_become_readable_text(message: dict[str, Any], text: str) -> None:
    obj = data("whatsapp", "text_message")
    msg = obj["entry"][0]["changes"][0]["value"]["messages"][0]
    del msg["text"]
    msg.update(message)
    (parsed,) = ADAPTERS["whatsapp"].parse(request("whatsapp", json.dumps(obj).encode())).messages
    assert parsed.text == text
    assert parsed.metadata["type"] == message["type"]


def test_whatsapp_delivery_receipts_are_status_events() -> None:
    result = accept("whatsapp", whatsapp_request(raw("whatsapp", "status_read")))
    wamid = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MTE5MjVBOTE3MDk5QUVFM0YA"

    assert result.messages == []
    assert [(s.provider_message_id, s.status, s.at) for s in result.statuses] == [
        (wamid, "delivered", datetime(2025, 6, 8, 21, 0, 0, tzinfo=UTC)),
        (wamid, "read", datetime(2025, 6, 8, 21, 0, 12, tzinfo=UTC)),
    ]
    assert result.statuses[0].raw["pricing"]["category"] == "service"


def test_whatsapp_failed_status_keeps_the_error() -> None:
    (status,) = accept("whatsapp", whatsapp_request(raw("whatsapp", "status_failed"))).statuses
    assert status.status == "failed"
    assert status.raw["errors"][0]["code"] == 131047


def test_whatsapp_other_subscription_fields_are_ignored() -> None:
    body = json.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "102290129340398",
                    "changes": [
                        {
                            "field": "message_template_status_update",
                            "value": {"event": "APPROVED", "message_template_id": 123},
                        }
                    ],
                }
            ],
        }
    ).encode()
    assert accept("whatsapp", whatsapp_request(body)) == ParseResult()


def test_whatsapp_missing_signature_is_401() -> None:
    error = rejected("whatsapp", whatsapp_request(raw("whatsapp", "text_message"), signature=""))
    assert error.status_code == 401


def test_whatsapp_wrong_secret_is_403() -> None:
    error = rejected("whatsapp", whatsapp_request(raw("whatsapp", "text_message"), secret="x"))
    assert error.status_code == 403


def test_whatsapp_tampered_body_is_rejected() -> None:
    body = raw("whatsapp", "text_message")
    signature = sign_whatsapp(SECRET, body)
    tampered = body.replace(b"another color", b"a refund")
    rejected("whatsapp", whatsapp_request(tampered, signature=signature))


@pytest.mark.parametrize(
    "header", ["sha1=" + "a" * 40, "sha256=" + "z" * 64, "sha256=abc", "a" * 64]
)
def test_whatsapp_malformed_signature_is_403(header: str) -> None:
    error = rejected(
        "whatsapp", whatsapp_request(raw("whatsapp", "text_message"), signature=header)
    )
    assert "Malformed" in error.reason


def test_whatsapp_uppercase_hex_signature_is_accepted() -> None:
    body = raw("whatsapp", "text_message")
    header = "sha256=" + sign_whatsapp(SECRET, body).removeprefix("sha256=").upper()
    ADAPTERS["whatsapp"].verify(whatsapp_request(body, signature=header), SECRETS, NOW)


def test_whatsapp_previous_app_secret_is_accepted_during_rotation() -> None:
    req = whatsapp_request(raw("whatsapp", "text_message"), secret=OLD_SECRET)
    ADAPTERS["whatsapp"].verify(req, ROTATING, NOW)
    rejected("whatsapp", req, SECRETS)


def test_whatsapp_missing_message_field_names_its_path() -> None:
    obj = data("whatsapp", "text_message")
    del obj["entry"][0]["changes"][0]["value"]["messages"][0]["from"]
    assert payload_errors("whatsapp", json.dumps(obj).encode()) == {
        "entry[0].changes[0].value.messages[0].from": ["This field is required."]
    }


def test_whatsapp_bad_timestamp_names_its_path() -> None:
    obj = data("whatsapp", "text_message")
    obj["entry"][0]["changes"][0]["value"]["messages"][0]["timestamp"] = "yesterday"
    assert payload_errors("whatsapp", json.dumps(obj).encode()) == {
        "entry[0].changes[0].value.messages[0].timestamp": ["Not a unix timestamp."]
    }


def test_whatsapp_text_message_without_text_names_its_path() -> None:
    obj = data("whatsapp", "text_message")
    del obj["entry"][0]["changes"][0]["value"]["messages"][0]["text"]
    assert payload_errors("whatsapp", json.dumps(obj).encode()) == {
        "entry[0].changes[0].value.messages[0].text": ["This field is required."]
    }


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        (b"not json", None),
        (b'{"object": "page", "entry": []}', {"object": ['Expected "whatsapp_business_account".']}),
        (b'{"object": "whatsapp_business_account"}', {"entry": ["This field is required."]}),
        (
            b'{"object": "whatsapp_business_account", "entry": {}}',
            {"entry": ["Expected an array, got an object."]},
        ),
    ],
)
def test_whatsapp_malformed_envelope_is_a_payload_error(
    body: bytes, errors: dict[str, list[str]] | None
) -> None:
    got = payload_errors("whatsapp", body)
    if errors is None:
        assert list(got) == ["non_field_errors"]
    else:
        assert got == errors


def handshake_request(**query: str) -> WebhookRequest:
    params = {"hub.mode": "subscribe", "hub.verify_token": "vt-1", "hub.challenge": "1158201444"}
    params.update(query)
    return WebhookRequest(
        method="GET", url=CHANNEL_URL.format("whatsapp"), headers={}, query=params, body=b""
    )


WA_SECRETS = ChannelSecrets(secret=SECRET, config={"verify_token": "vt-1"})


def test_whatsapp_handshake_echoes_the_challenge() -> None:
    adapter = ADAPTERS["whatsapp"]
    assert isinstance(adapter, HandshakeAdapter)
    assert adapter.handshake(handshake_request(), WA_SECRETS) == b"1158201444"


@pytest.mark.parametrize(
    ("query", "secrets"),
    [
        ({"hub.verify_token": "wrong"}, WA_SECRETS),
        ({"hub.verify_token": ""}, WA_SECRETS),
        ({"hub.mode": "unsubscribe"}, WA_SECRETS),
        ({}, ChannelSecrets(secret=SECRET)),
        ({"hub.verify_token": ""}, ChannelSecrets(secret=SECRET, config={"verify_token": ""})),
    ],
)
def test_whatsapp_handshake_refuses_bad_token_or_mode(
    query: dict[str, str], secrets: ChannelSecrets
) -> None:
    adapter = ADAPTERS["whatsapp"]
    assert isinstance(adapter, HandshakeAdapter)
    with pytest.raises(SignatureError):
        adapter.handshake(handshake_request(**query), secrets)


@pytest.mark.parametrize("challenge", ["", "<script>alert(1)</script>"])
def test_whatsapp_handshake_refuses_missing_or_odd_challenge(challenge: str) -> None:
    adapter = ADAPTERS["whatsapp"]
    assert isinstance(adapter, HandshakeAdapter)
    with pytest.raises(PayloadError) as exc:
        adapter.handshake(handshake_request(**{"hub.challenge": challenge}), WA_SECRETS)
    assert list(exc.value.errors) == ["hub.challenge"]


def test_only_whatsapp_offers_a_handshake() -> None:
    assert [name for name, a in ADAPTERS.items() if isinstance(a, HandshakeAdapter)] == ["whatsapp"]


# --- telegram -------------------------------------------------------------------------------------


def telegram_request(body: bytes, token: str | None = SECRET) -> WebhookRequest:
    headers = {} if token is None else {"x-telegram-bot-api-secret-token": token}
    return request("telegram", body, headers)


def test_telegram_text_message_parses_to_normalised_message() -> None:
    result = accept("telegram", telegram_request(raw("telegram", "message_text")))

    assert result.statuses == []
    assert result.response is None
    assert result.messages == [
        InboundMessage(
            provider="telegram",
            provider_message_id="1111111:1365",
            client_external_id="telegram:1111111",
            client_name="Test Lastname",
            text="Hallo, wo bleibt meine Bestellung?",
            sent_at=datetime(2015, 9, 7, 17, 5, 32, tzinfo=UTC),
            language="de",
            metadata={
                "update_id": 10000,
                "chat_id": 1111111,
                "chat_type": "private",
                "username": "Testusername",
            },
        )
    ]


def test_telegram_photo_becomes_label_with_caption() -> None:
    (message,) = accept("telegram", telegram_request(raw("telegram", "message_photo"))).messages
    assert message.text == "[photo] Das Paket war beschädigt"
    assert message.client_name == "Test"
    assert len(message.metadata["media"]["photo"]) == 2


def test_telegram_edited_message_is_an_edited_status_event() -> None:
    result = accept("telegram", telegram_request(raw("telegram", "edited_message")))

    assert result.messages == []
    (event,) = result.statuses
    assert (event.provider, event.provider_message_id, event.status) == (
        "telegram",
        "1111111:1365",
        "edited",
    )
    assert event.at == datetime(2015, 9, 7, 17, 6, 30, tzinfo=UTC)
    assert event.raw["text"] == "Hallo, wo bleibt meine Bestellung #5531?"


def test_telegram_other_update_kinds_are_ignored() -> None:
    assert accept("telegram", telegram_request(raw("telegram", "callback_query"))) == ParseResult()


def test_telegram_service_message_without_content_is_ignored() -> None:
    obj = data("telegram", "message_text")
    del obj["message"]["text"]
    obj["message"]["new_chat_members"] = [{"id": 5, "is_bot": False, "first_name": "N"}]
    assert (
        ADAPTERS["telegram"].parse(request("telegram", json.dumps(obj).encode())) == ParseResult()
    )


def test_telegram_message_ids_are_scoped_by_chat() -> None:
    obj = data("telegram", "message_text")
    obj["message"]["chat"] = {"id": -1001234567890, "type": "supergroup", "title": "Support"}
    (message,) = ADAPTERS["telegram"].parse(request("telegram", json.dumps(obj).encode())).messages
    assert message.provider_message_id == "-1001234567890:1365"
    assert message.client_external_id == "telegram:1111111"
    assert message.metadata["chat_id"] == -1001234567890


def test_telegram_missing_secret_token_is_401() -> None:
    error = rejected("telegram", telegram_request(raw("telegram", "message_text"), token=None))
    assert error.status_code == 401


@pytest.mark.parametrize("token", ["wrong", SECRET + "x", SECRET.upper(), "ünïcode"])
def test_telegram_wrong_secret_token_is_403(token: str) -> None:
    error = rejected("telegram", telegram_request(raw("telegram", "message_text"), token=token))
    assert error.status_code == 403


def test_telegram_previous_secret_token_is_accepted_during_rotation() -> None:
    req = telegram_request(raw("telegram", "message_text"), token=OLD_SECRET)
    ADAPTERS["telegram"].verify(req, ROTATING, NOW)
    rejected("telegram", req, SECRETS)


def test_telegram_channel_without_secret_accepts_nothing() -> None:
    req = telegram_request(raw("telegram", "message_text"), token="")
    rejected("telegram", req, ChannelSecrets(secret=""))


@pytest.mark.parametrize(
    ("mutate", "errors"),
    [
        (lambda o: o.pop("update_id"), {"update_id": ["This field is required."]}),
        (lambda o: o["message"].pop("chat"), {"message.chat": ["This field is required."]}),
        (
            lambda o: o["message"].update(date="today"),
            {"message.date": ["Expected an integer, got a string."]},
        ),
        (
            lambda o: o["message"]["from"].pop("id"),
            {"message.from.id": ["This field is required."]},
        ),
        (
            lambda o: o.update(message="hi"),
            {"message": ["Expected an object or null, got a string."]},
        ),
    ],
)
def test_telegram_malformed_update_names_the_field(
    mutate: Any, errors: dict[str, list[str]]
) -> None:
    obj = data("telegram", "message_text")
    mutate(obj)
    assert payload_errors("telegram", json.dumps(obj).encode()) == errors


def test_telegram_invalid_json_is_a_payload_error() -> None:
    assert list(payload_errors("telegram", b"{")) == ["non_field_errors"]


# --- all providers --------------------------------------------------------------------------------


def test_registry_names_every_provider_of_the_contract() -> None:
    assert set(ADAPTERS) == {"generic", "twilio", "whatsapp", "telegram"}
    for name, adapter in ADAPTERS.items():
        assert adapter.provider == name


@pytest.mark.parametrize(
    ("provider", "accepted", "refused"),
    [
        ("generic", JSON, FORM),
        ("whatsapp", JSON, FORM),
        ("telegram", "application/json; charset=UTF-8", "text/plain"),
        ("twilio", FORM + "; charset=utf-8", JSON),
    ],
)
def test_content_type_rules(provider: str, accepted: str, refused: str) -> None:
    adapter: Adapter = ADAPTERS[provider]
    media = accepted.split(";")[0].lower()
    assert media in adapter.content_types
    with pytest.raises(UnsupportedMediaType) as exc:
        adapter.parse(request(provider, b"{}", content_type=refused))
    assert exc.value.status_code == 415


def test_adapters_import_no_django_and_do_no_io() -> None:
    """They run inline in the bare ASGI handler; keep them pure."""
    forbidden = {"django", "redis", "socket", "requests", "httpx", "asyncio", "os", "time"}
    for path in ADAPTERS_DIR.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in forbidden, f"{path.name} imports {name}"


# --- before the body: credentials checked on headers alone; Twilio's parse bounded ---------------


@pytest.mark.parametrize(
    ("provider", "headers", "status"),
    [
        ("generic", {}, 401),
        (
            "generic",
            {
                "x-switchboard-timestamp": str(NOW - 301),
                "x-switchboard-signature": "v1=" + "a" * 64,
            },
            403,
        ),
        ("generic", {"x-switchboard-timestamp": str(NOW), "x-switchboard-signature": "v1=zz"}, 403),
        ("whatsapp", {}, 401),
        ("whatsapp", {"x-hub-signature-256": "sha1=abc"}, 403),
        ("telegram", {}, 401),
        ("telegram", {"x-telegram-bot-api-secret-token": "not-the-secret"}, 403),
        ("twilio", {}, 401),
        ("twilio", {"x-twilio-signature": "not base64!"}, 403),
    ],
)
def test_credentials_that_cannot_be_right_are_refused_on_headers_alone(
    provider: str, headers: dict[str, str], status: int
) -> None:
    content_type = FORM if provider == "twilio" else JSON
    head = request(provider, b"", headers, content_type=content_type)  # no body read yet

    with pytest.raises(SignatureError) as exc:
        ADAPTERS[provider].verify_headers(head, SECRETS, NOW)

    assert exc.value.status_code == status


@pytest.mark.parametrize("provider", ["generic", "whatsapp", "telegram", "twilio"])
def test_well_formed_credentials_pass_the_header_check(provider: str) -> None:
    headers = {
        "generic": {
            "x-switchboard-timestamp": str(NOW),
            "x-switchboard-signature": "v1=" + "a" * 64,
        },
        "whatsapp": {"x-hub-signature-256": "sha256=" + "a" * 64},
        "telegram": {"x-telegram-bot-api-secret-token": SECRET},
        "twilio": {"x-twilio-signature": sign_twilio("other", CHANNEL_URL, {})},
    }[provider]
    content_type = FORM if provider == "twilio" else JSON

    ADAPTERS[provider].verify_headers(
        request(provider, b"", headers, content_type=content_type), SECRETS, NOW
    )


def test_twilio_form_with_too_many_fields_is_refused_before_it_is_parsed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from routing_service.ingest.adapters import twilio

    def no_parsing(*args: object, **kwargs: object) -> None:
        raise AssertionError("parsed before the field count was checked")

    monkeypatch.setattr(twilio, "parse_qsl", no_parsing)
    body = b"&".join(b"f%d=v" % i for i in range(twilio.MAX_FIELDS + 1))
    req = request(
        "twilio",
        body,
        {"x-twilio-signature": sign_twilio(SECRET, CHANNEL_URL, {})},
        content_type=FORM,
    )

    with pytest.raises(PayloadError) as exc:
        ADAPTERS["twilio"].verify(req, SECRETS, NOW)

    assert exc.value.errors == {"non_field_errors": [f"More than {twilio.MAX_FIELDS} form fields."]}


def test_twilio_form_with_the_most_fields_allowed_is_verified() -> None:
    from routing_service.ingest.adapters import twilio

    form = [(f"F{i:03d}", "v") for i in range(twilio.MAX_FIELDS - 3)]
    form += [("MessageSid", "SM1"), ("From", "+15550001111"), ("Body", "hi")]
    req = request(
        "twilio",
        urlencode(form).encode(),
        {"x-twilio-signature": sign_twilio(SECRET, CHANNEL_URL.format("twilio"), form)},
        content_type=FORM,
    )

    assert accept("twilio", req).messages[0].provider_message_id == "SM1"
    assert ADAPTERS["twilio"].max_body_bytes == twilio.MAX_BODY_BYTES == 64 * 1024


def _across_processes(value: Any) -> Any:
    """What a worker process sends back: pickled and unpickled (our own bytes)."""
    import pickle

    return pickle.loads(pickle.dumps(value))  # noqa: S301


def test_adapters_run_by_name_return_refusals_that_survive_pickling() -> None:
    from routing_service.ingest.adapters import MALFORMED, Refusal, authenticate, parse_request

    forged = request(
        "whatsapp", raw("whatsapp", "text_message"), {"x-hub-signature-256": "sha256=" + "0" * 64}
    )
    signed_nesting = b"[" * 100_000 + b"]" * 100_000
    nested = request(
        "whatsapp", signed_nesting, {"x-hub-signature-256": sign_whatsapp(SECRET, signed_nesting)}
    )
    good = raw("whatsapp", "text_message")
    authentic = request("whatsapp", good, {"x-hub-signature-256": sign_whatsapp(SECRET, good)})

    refused = _across_processes(authenticate("whatsapp", forged, SECRETS, NOW))
    assert refused == Refusal(403, {"detail": "X-Hub-Signature-256 does not match the body."})
    assert authenticate("whatsapp", nested, SECRETS, NOW) is None
    assert _across_processes(parse_request("whatsapp", nested)) == MALFORMED
    assert authenticate("whatsapp", authentic, SECRETS, NOW) is None
    result = _across_processes(parse_request("whatsapp", authentic))
    assert result == ADAPTERS["whatsapp"].parse(authentic)
