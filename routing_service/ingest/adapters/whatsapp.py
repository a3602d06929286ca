"""① Webhook ingestion: WhatsApp Business Cloud API (Meta) change notifications.

Meta batches: one POST may carry several entries, changes, messages and delivery statuses, so
one request can yield many InboundMessages. Only `field == "messages"` changes are read; other
subscriptions (template status, account updates...) are acknowledged and ignored. Authenticity is
`X-Hub-Signature-256: sha256=<hex HMAC-SHA256(app secret, raw body)>`; the endpoint itself is
proven once by a GET handshake echoing `hub.challenge` when `hub.verify_token` matches.
"""

import hashlib
import hmac
import re
from typing import Any

import msgspec

from .base import (
    JSON_CONTENT_TYPES,
    REQUIRED,
    ChannelSecrets,
    InboundMessage,
    MediaRef,
    ParseResult,
    PayloadError,
    SignatureError,
    StatusEvent,
    WebhookRequest,
    convert,
    decode_json,
    matches_any,
    require_media_type,
    signing_keys,
    to_bytes,
    unix_to_utc,
)

SIGNATURE_HEADER = "x-hub-signature-256"
OBJECT = "whatsapp_business_account"
_SIGNATURE = re.compile(r"sha256=([0-9a-fA-F]{64})")
# The challenge is echoed back verbatim; only URL-safe characters, so it cannot carry markup.
_CHALLENGE = re.compile(r"[A-Za-z0-9._~-]{1,512}")
_MEDIA_TYPES = frozenset({"image", "video", "audio", "document", "sticker"})


class _Change(msgspec.Struct):
    field: str
    value: dict[str, Any]


class _Entry(msgspec.Struct):
    id: str | int = ""
    changes: list[_Change] = []


class _Envelope(msgspec.Struct):
    object: str
    entry: list[_Entry]


class _PhoneMetadata(msgspec.Struct):
    display_phone_number: str = ""
    phone_number_id: str = ""


class _Profile(msgspec.Struct):
    name: str = ""


class _Contact(msgspec.Struct):
    wa_id: str = ""
    profile: _Profile | None = None


class _Text(msgspec.Struct):
    body: str


class _Message(msgspec.Struct):
    from_: str = msgspec.field(name="from")
    id: str
    timestamp: str | int
    type: str
    text: _Text | None = None


class _Status(msgspec.Struct):
    id: str
    status: str
    timestamp: str | int | None = None


class _Value(msgspec.Struct):
    metadata: _PhoneMetadata = msgspec.field(default_factory=_PhoneMetadata)
    contacts: list[_Contact] = []
    messages: list[_Message] = []
    statuses: list[_Status] = []


def sign_whatsapp(app_secret: str, body: bytes) -> str:
    """The `X-Hub-Signature-256` value Meta sends for `body` (for tests and simulators)."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _render(msg: _Message, raw: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Text an agent can read for any message type, plus the details worth keeping."""
    kind = msg.type
    if kind == "text" and msg.text is not None:
        return msg.text.body, {}
    detail = raw.get(kind)
    extra: dict[str, Any] = {kind: detail} if detail is not None else {}
    part = _dict(detail)
    if kind in _MEDIA_TYPES:
        extra = {"media": part}
        label = _str(part.get("caption")) or _str(part.get("filename"))
    elif kind == "interactive":  # a tapped reply button or list row
        reply = _dict(part.get("button_reply")) or _dict(part.get("list_reply"))
        if title := _str(reply.get("title")):
            return title, extra
        label = ""
    elif kind == "button":  # quick-reply button of a template message
        if text := _str(part.get("text")):
            return text, extra
        label = ""
    elif kind == "location":
        label = ", ".join(s for s in (_str(part.get("name")), _str(part.get("address"))) if s)
    elif kind == "reaction":
        label = _str(part.get("emoji"))
    elif kind == "system":
        label = _str(part.get("body"))
    else:  # contacts, order, unsupported, and types Meta adds later
        label = ""
        if errors := raw.get("errors"):
            extra["errors"] = errors
    return (f"[{kind}] {label}" if label else f"[{kind}]"), extra


def _media_refs(msg: _Message, raw: dict[str, Any]) -> list[MediaRef]:
    """The media id of an image, video, audio, document or sticker message (fetched later
    through the Cloud API's media endpoint with the channel's token)."""
    if msg.type not in _MEDIA_TYPES:
        return []
    part = _dict(raw.get(msg.type))
    media_id = part.get("id")
    if not isinstance(media_id, str | int) or isinstance(media_id, bool) or not str(media_id):
        return []
    return [
        MediaRef(
            source="whatsapp",
            ref=str(media_id),
            content_type=_str(part.get("mime_type"))[:255],
            name=_str(part.get("filename"))[:255],
        )
    ]


class WhatsAppAdapter:
    provider = "whatsapp"
    content_types = JSON_CONTENT_TYPES
    max_body_bytes: int | None = None

    def verify(self, req: WebhookRequest, secrets: ChannelSecrets, now: float) -> None:
        provided = self._signature(req, secrets)
        expected = (
            hmac.new(key, req.body, hashlib.sha256).hexdigest().encode()
            for key in signing_keys(secrets)
        )
        if not matches_any([provided], expected):
            raise SignatureError("X-Hub-Signature-256 does not match the body.")

    def verify_headers(self, req: WebhookRequest, secrets: ChannelSecrets, now: float) -> None:
        self._signature(req, secrets)

    def _signature(self, req: WebhookRequest, secrets: ChannelSecrets) -> bytes:
        require_media_type(req, self.content_types)
        signing_keys(secrets)
        header = req.headers.get(SIGNATURE_HEADER, "").strip()
        if not header:
            raise SignatureError("Missing X-Hub-Signature-256 header.", status_code=401)
        match = _SIGNATURE.fullmatch(header)
        if match is None:
            raise SignatureError("Malformed X-Hub-Signature-256: expected sha256=<64 hex digits>.")
        return match[1].lower().encode()

    def handshake(self, req: WebhookRequest, secrets: ChannelSecrets) -> bytes:
        """Answer Meta's subscription GET: echo `hub.challenge` if `hub.verify_token` matches."""
        expected = secrets.config.get("verify_token")
        if not isinstance(expected, str) or not expected:
            raise SignatureError("The channel has no verify_token configured.")
        if req.query.get("hub.mode") != "subscribe":
            raise SignatureError('hub.mode must be "subscribe".')
        token = req.query.get("hub.verify_token")
        if not token:
            raise SignatureError("Missing hub.verify_token.", status_code=401)
        if not hmac.compare_digest(to_bytes(token), to_bytes(expected)):
            raise SignatureError("hub.verify_token does not match.")
        challenge = req.query.get("hub.challenge", "")
        if not challenge:
            raise PayloadError({"hub.challenge": [REQUIRED]})
        if not _CHALLENGE.fullmatch(challenge):
            raise PayloadError({"hub.challenge": ["Unexpected characters."]})
        return challenge.encode("ascii")

    def parse(self, req: WebhookRequest) -> ParseResult:
        require_media_type(req, self.content_types)
        obj = decode_json(req.body)
        envelope = convert(obj, _Envelope)
        if envelope.object != OBJECT:
            raise PayloadError({"object": [f'Expected "{OBJECT}".']})
        messages: list[InboundMessage] = []
        statuses: list[StatusEvent] = []
        for e, entry in enumerate(envelope.entry):
            for c, change in enumerate(entry.changes):
                if change.field != "messages":
                    continue
                path = f"entry[{e}].changes[{c}].value"
                value = convert(change.value, _Value, path)
                names = {ct.wa_id: ct.profile.name for ct in value.contacts if ct.profile}
                base = {
                    "phone_number_id": value.metadata.phone_number_id,
                    "display_phone_number": value.metadata.display_phone_number,
                    "business_account_id": str(entry.id),
                }
                raw_messages = change.value.get("messages", [])
                for m, msg in enumerate(value.messages):
                    raw = raw_messages[m]
                    if msg.type == "text" and msg.text is None:
                        raise PayloadError({f"{path}.messages[{m}].text": [REQUIRED]})
                    text, extra = _render(msg, raw)
                    for key in ("context", "referral"):  # reply-to and click-to-WhatsApp ad
                        if key in raw:
                            extra[key] = raw[key]
                    phone = f"+{msg.from_}" if msg.from_.isdigit() else None
                    messages.append(
                        InboundMessage(
                            provider=self.provider,
                            provider_message_id=msg.id,
                            client_external_id=f"whatsapp:{msg.from_}",
                            client_name=names.get(msg.from_) or phone or msg.from_,
                            client_phone=phone,
                            text=text,
                            sent_at=unix_to_utc(msg.timestamp, f"{path}.messages[{m}].timestamp"),
                            metadata={**base, "type": msg.type, **extra},
                            attachments=_media_refs(msg, raw),
                        )
                    )
                raw_statuses = change.value.get("statuses", [])
                for s, status in enumerate(value.statuses):
                    at = None
                    if status.timestamp is not None:
                        at = unix_to_utc(status.timestamp, f"{path}.statuses[{s}].timestamp")
                    statuses.append(
                        StatusEvent(
                            provider=self.provider,
                            provider_message_id=status.id,
                            status=status.status,
                            at=at,
                            raw=raw_statuses[s],
                        )
                    )
        return ParseResult(messages=messages, statuses=statuses)
