"""① Webhook ingestion: the generic JSON provider (DESIGN.md, "Webhooks").

Any system can post `{"message_id", "client": {...}, "text", "sent_at", ...}` signed Stripe-style:
`X-Switchboard-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>` with
`X-Switchboard-Timestamp`. The timestamp is inside the MAC, so the 300 s window stops replays of
captured requests; several `v1=` values let a sender sign with old and new secret mid-rotation.
"""

import hashlib
import hmac
import re
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

import msgspec

from .base import (
    JSON_CONTENT_TYPES,
    NON_FIELD_ERRORS,
    PRIORITIES,
    ChannelSecrets,
    InboundMessage,
    MediaRef,
    ParseResult,
    PayloadError,
    SignatureError,
    TypingSignal,
    WebhookRequest,
    collect_errors,
    convert,
    decode_json,
    matches_any,
    parse_iso_datetime,
    require_media_type,
    signing_keys,
)

TIMESTAMP_HEADER = "x-switchboard-timestamp"
SIGNATURE_HEADER = "x-switchboard-signature"
TOLERANCE_SECONDS = 300
MAX_SIGNATURES = 8  # rotation needs two; a long list is noise or an attempt to burn CPU
MAX_TEXT_LENGTH = 65_536
MAX_ATTACHMENTS = 10
MAX_URL_LENGTH = 2048

_HEX64 = re.compile(r"[0-9a-f]{64}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=255)] | int


class _Client(msgspec.Struct):
    id: Id
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
    email: Annotated[str, msgspec.Meta(max_length=254)] | None = None
    phone: Annotated[str, msgspec.Meta(max_length=32)] | None = None


class _Attachment(msgspec.Struct):
    """A file the sender hosts: fetched later by the attachments worker (SSRF-guarded)."""

    url: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_URL_LENGTH)]
    content_type: Annotated[str, msgspec.Meta(max_length=255)] = ""
    name: Annotated[str, msgspec.Meta(max_length=255)] = ""
    size: Annotated[int, msgspec.Meta(ge=0)] | None = None


class _Payload(msgspec.Struct):
    # Ids may be numbers: many senders use integer keys, and "42" and 42 mean the same message.
    message_id: Id
    client: _Client
    # May be empty only when the message carries attachments (checked in `_value_errors`).
    text: Annotated[str, msgspec.Meta(max_length=MAX_TEXT_LENGTH)]
    sent_at: str  # parsed by fromisoformat: broader ISO 8601 than msgspec's RFC 3339
    priority: str | None = None
    language: Annotated[str, msgspec.Meta(max_length=35)] | None = None  # BCP 47 tag
    category: Annotated[str, msgspec.Meta(max_length=100)] | None = None
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    attachments: Annotated[list[_Attachment], msgspec.Meta(max_length=MAX_ATTACHMENTS)] = []


_DECODER = msgspec.json.Decoder(_Payload)

# `event` names what a payload is: "message" (the default, the shape above) or "typing".
EVENTS = ("message", "typing")


class _TypingClient(msgspec.Struct):
    id: Id


class _TypingPayload(msgspec.Struct):
    """`{"event": "typing", "client": {"id"}, "typing": true|false}`: the customer started or
    stopped typing. Nothing is stored; the handling agent's console shows "typing…"."""

    event: str
    client: _TypingClient
    typing: bool = True


def sign_generic(secret: str, timestamp: int, body: bytes) -> str:
    """The `X-Switchboard-Signature` value for `body` sent at `timestamp` (unix seconds).

    Used by senders' tests and by our own outbound delivery to generic callback URLs.
    """
    return "v1=" + _hex_mac(secret.encode(), str(timestamp), body)


def _hex_mac(key: bytes, timestamp: str, body: bytes) -> str:
    return hmac.new(key, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def _signatures(header: str) -> list[bytes]:
    """The v1 values of the header; other schemes are skipped so we can add v2 later."""
    values: list[bytes] = []
    for part in header.split(","):
        part = part.strip()
        if not part:
            continue
        scheme, sep, value = part.partition("=")
        if not sep:
            raise SignatureError("Malformed X-Switchboard-Signature: expected v1=<hex>.")
        if scheme.strip() != "v1":
            continue
        value = value.strip().lower()
        if not _HEX64.fullmatch(value):
            raise SignatureError(
                "Malformed X-Switchboard-Signature: a v1 value must be 64 hex digits."
            )
        values.append(value.encode())
    if not values:
        raise SignatureError("X-Switchboard-Signature has no v1= signature.")
    if len(values) > MAX_SIGNATURES:
        raise SignatureError(f"X-Switchboard-Signature has more than {MAX_SIGNATURES} values.")
    return values


def _attachment_errors(text: object, attachments: object) -> dict[str, list[str]]:
    """An empty text needs a file; every file URL must be http(s) with a host."""
    errors: dict[str, list[str]] = {}
    files = attachments if isinstance(attachments, list) else []
    if isinstance(text, str) and not text.strip() and not files:
        errors["text"] = [
            "This field may not be blank. (It may be empty when attachments are given.)"
        ]
    for i, item in enumerate(files):
        url = item.get("url") if isinstance(item, dict) else getattr(item, "url", None)
        if isinstance(url, str) and url and not _is_http_url(url):
            errors[f"attachments[{i}].url"] = ["Enter an http(s) URL with a host."]
    return errors


def _is_http_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in {"http", "https"} and bool(parts.hostname)


def _value_errors(
    sent_at: object, priority: object, email: object
) -> tuple[datetime | None, str | None, dict[str, list[str]]]:
    """Checks msgspec's types cannot express; returns parsed sent_at and normalised priority."""
    errors: dict[str, list[str]] = {}
    when = None
    if isinstance(sent_at, str):
        when = parse_iso_datetime(sent_at)
        if when is None:
            errors["sent_at"] = ["Not an ISO 8601 date-time."]
    level = None
    if isinstance(priority, str) and priority:
        level = priority.lower()
        if level not in PRIORITIES:
            errors["priority"] = [
                f'"{priority}" is not a valid choice; expected one of {", ".join(PRIORITIES)}.'
            ]
    if isinstance(email, str) and email and not _EMAIL.fullmatch(email):
        errors["client.email"] = ["Enter a valid email address."]
    return when, level, errors


class GenericAdapter:
    provider = "generic"
    content_types = JSON_CONTENT_TYPES
    max_body_bytes: int | None = None

    def verify(self, req: WebhookRequest, secrets: ChannelSecrets, now: float) -> None:
        provided = self._check_headers(req, secrets, now)
        timestamp = req.headers[TIMESTAMP_HEADER].strip()
        expected = (_hex_mac(key, timestamp, req.body).encode() for key in signing_keys(secrets))
        if not matches_any(provided, expected):
            raise SignatureError("X-Switchboard-Signature does not match the body.")

    def verify_headers(self, req: WebhookRequest, secrets: ChannelSecrets, now: float) -> None:
        self._check_headers(req, secrets, now)

    def _check_headers(
        self, req: WebhookRequest, secrets: ChannelSecrets, now: float
    ) -> list[bytes]:
        """Everything but the MAC; returns the v1 signatures to compare."""
        require_media_type(req, self.content_types)
        signing_keys(secrets)
        timestamp = req.headers.get(TIMESTAMP_HEADER, "").strip()
        header = req.headers.get(SIGNATURE_HEADER, "").strip()
        if not timestamp:
            raise SignatureError("Missing X-Switchboard-Timestamp header.", status_code=401)
        if not header:
            raise SignatureError("Missing X-Switchboard-Signature header.", status_code=401)
        if not (timestamp.isascii() and timestamp.isdigit()) or len(timestamp) > 12:
            raise SignatureError("X-Switchboard-Timestamp must be an integer (unix seconds).")
        skew = now - int(timestamp)
        if abs(skew) > TOLERANCE_SECONDS:
            direction = "old" if skew > 0 else "in the future"
            raise SignatureError(
                f"X-Switchboard-Timestamp is {abs(int(skew))} s {direction}; "
                f"allowed: {TOLERANCE_SECONDS} s either way."
            )
        return _signatures(header)

    def parse(self, req: WebhookRequest) -> ParseResult:
        require_media_type(req, self.content_types)
        # Only a body that names an event can be anything but a message: the common case
        # decodes once, straight into the message shape.
        if b'"event"' in req.body:
            obj = decode_json(req.body)
            event = obj.get("event", "message") if isinstance(obj, dict) else "message"
            if event not in EVENTS:
                raise PayloadError(
                    {
                        "event": [
                            f'"{event}" is not a valid choice; expected one of: message, typing.'
                        ]
                    }
                )
            if event == "typing":
                return self._typing(obj)
        try:
            payload = _DECODER.decode(req.body)
        except msgspec.ValidationError:
            obj = decode_json(req.body)
            errors = collect_errors(obj, _Payload)
            if isinstance(obj, dict):
                client = obj.get("client")
                email = client.get("email") if isinstance(client, dict) else None
                errors.update(_value_errors(obj.get("sent_at"), obj.get("priority"), email)[2])
                errors.update(_attachment_errors(obj.get("text"), obj.get("attachments")))
            raise PayloadError(errors) from None
        except msgspec.DecodeError as exc:
            raise PayloadError({NON_FIELD_ERRORS: [f"Invalid JSON: {exc}."]}) from None

        client = payload.client
        sent_at, priority, errors = _value_errors(payload.sent_at, payload.priority, client.email)
        errors.update(_attachment_errors(payload.text, payload.attachments))
        if errors or sent_at is None:
            raise PayloadError(errors)
        message = InboundMessage(
            provider=self.provider,
            provider_message_id=str(payload.message_id),
            client_external_id=str(client.id),
            client_name=client.name,
            client_email=client.email or None,
            client_phone=client.phone or None,
            text=payload.text,
            sent_at=sent_at,
            priority=priority,
            language=payload.language or None,
            category=payload.category or None,
            metadata=payload.metadata,
            attachments=[
                MediaRef(
                    source="url",
                    ref=a.url,
                    content_type=a.content_type,
                    name=a.name,
                    size=a.size,
                )
                for a in payload.attachments
            ],
        )
        return ParseResult(messages=[message])

    def _typing(self, obj: dict[str, object]) -> ParseResult:
        payload = convert(obj, _TypingPayload)
        signal = TypingSignal(
            provider=self.provider,
            client_external_id=str(payload.client.id),
            typing=payload.typing,
        )
        return ParseResult(typing=[signal])
