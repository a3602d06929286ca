"""① Webhook ingestion: Twilio Programmable Messaging (SMS, MMS, WhatsApp via Twilio).

Twilio posts form fields and signs them its own way: base64(HMAC-SHA1(auth token, URL + each
POST field name and value, sorted by name)). The URL is part of the MAC, so the handler must
pass the exact public URL Twilio called. Like Twilio's SDKs we also try the URL with and without
the default port, because proxies disagree about keeping ":443".
Twilio expects TwiML back; an empty <Response/> means "no auto-reply".

Because the MAC covers the parsed fields, the body must be parsed before it can be refused, and
parsing is what a forger can make expensive (82,000 fields in 1 MiB cost over a second). So
what is parsed before authentication is bounded first, by checks that cost next to nothing:
the body's size (`MAX_BODY_BYTES`, enforced by the handler before reading), the signature
header's shape, and the number of fields (counted, not parsed).
"""

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import SplitResult, parse_qsl, urlsplit, urlunsplit

from .base import (
    FORM_CONTENT_TYPES,
    NON_FIELD_ERRORS,
    REQUIRED,
    ChannelSecrets,
    InboundMessage,
    MediaRef,
    ParseResult,
    PayloadError,
    SignatureError,
    StatusEvent,
    WebhookRequest,
    matches_any,
    require_media_type,
    signing_keys,
)

SIGNATURE_HEADER = "x-twilio-signature"
EMPTY_TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
TWIML_RESPONSE: tuple[int, str, bytes] = (200, "text/xml", EMPTY_TWIML)
MAX_FIELDS = 200  # Twilio sends ~20-40; MMS adds two per media item (at most 10)
MAX_MEDIA = 10
# A Body is at most 1,600 characters (4,096 for WhatsApp through Twilio): at most ~50 KB
# percent-encoded, however exotic the characters, and a few KB of other fields.
MAX_BODY_BYTES = 64 * 1024
_SHA1_SIZE = 20
_DEFAULT_PORTS = {"https": 443, "http": 80}
_METADATA_FIELDS = {
    "To": "to",
    "AccountSid": "account_sid",
    "MessagingServiceSid": "messaging_service_sid",
    "NumSegments": "num_segments",
    "WaId": "wa_id",
    "FromCountry": "from_country",
    "FromState": "from_state",
    "FromCity": "from_city",
    "FromZip": "from_zip",
}

Params = Mapping[str, str] | Iterable[tuple[str, str]]


def _digest(key: bytes, url: str, params: Params) -> bytes:
    items = params.items() if isinstance(params, Mapping) else params
    grouped: dict[str, set[str]] = {}
    for name, value in items:
        grouped.setdefault(name, set()).add(value)
    # Same order as Twilio's SDKs: names sorted, then each name's distinct values sorted.
    data = [url]
    for name in sorted(grouped):
        for value in sorted(grouped[name]):
            data.append(name)
            data.append(value)
    # SHA-1 is what Twilio specifies; as an HMAC it is still sound.
    return hmac.new(key, "".join(data).encode(), hashlib.sha1).digest()


def sign_twilio(token: str, url: str, params: Params) -> str:
    """The `X-Twilio-Signature` Twilio would send for a POST of `params` to `url`."""
    return base64.b64encode(_digest(token.encode(), url, params)).decode("ascii")


def _url_variants(url: str) -> list[str]:
    """`url` as given, with the scheme's default port added, and with any port removed."""
    variants = [url]
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return variants
    userinfo, _, host = parts.netloc.rpartition("@")
    prefix = f"{userinfo}@" if userinfo else ""
    if port is not None:
        bare = host.rsplit(":", 1)[0]
        variants.append(urlunsplit(_replace(parts, prefix + bare)))
    elif parts.scheme in _DEFAULT_PORTS:
        variants.append(
            urlunsplit(_replace(parts, f"{prefix}{host}:{_DEFAULT_PORTS[parts.scheme]}"))
        )
    return list(dict.fromkeys(variants))


def _replace(parts: SplitResult, netloc: str) -> SplitResult:
    return parts._replace(netloc=netloc)


def _check_field_count(body: bytes) -> None:
    """Refuse more than MAX_FIELDS fields by counting separators: no parsing, C speed."""
    if body.count(b"&") >= MAX_FIELDS:
        raise PayloadError({NON_FIELD_ERRORS: [f"More than {MAX_FIELDS} form fields."]})


def _form(req: WebhookRequest) -> dict[str, str]:
    try:
        text = req.body.decode("utf-8")
    except UnicodeDecodeError:
        raise PayloadError({NON_FIELD_ERRORS: ["Body is not valid UTF-8."]}) from None
    try:
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except ValueError:
        raise PayloadError({NON_FIELD_ERRORS: [f"More than {MAX_FIELDS} form fields."]}) from None
    return dict(pairs)


def _media_label(content_type: str) -> str:
    major = content_type.split("/", 1)[0].strip().lower()
    return f"[{major}]" if major in {"image", "video", "audio"} else "[file]"


class TwilioAdapter:
    provider = "twilio"
    content_types = FORM_CONTENT_TYPES
    max_body_bytes: int | None = MAX_BODY_BYTES

    def verify(self, req: WebhookRequest, secrets: ChannelSecrets, now: float) -> None:
        provided = self._signature(req, secrets)
        _check_field_count(req.body)
        # Undecodable bytes cannot match a signature Twilio computed over UTF-8 text; let the
        # comparison fail (403) rather than reporting a payload error before authentication.
        params = parse_qsl(
            req.body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=MAX_FIELDS
        )
        urls = _url_variants(req.url)
        expected = [_digest(key, url, params) for key in signing_keys(secrets) for url in urls]
        if not matches_any([provided], expected):
            raise SignatureError("X-Twilio-Signature does not match the URL and parameters.")

    def verify_headers(self, req: WebhookRequest, secrets: ChannelSecrets, now: float) -> None:
        self._signature(req, secrets)

    def _signature(self, req: WebhookRequest, secrets: ChannelSecrets) -> bytes:
        require_media_type(req, self.content_types)
        signing_keys(secrets)
        header = req.headers.get(SIGNATURE_HEADER, "").strip()
        if not header:
            raise SignatureError("Missing X-Twilio-Signature header.", status_code=401)
        try:
            provided = base64.b64decode(header, validate=True)
        except (binascii.Error, ValueError):
            raise SignatureError("Malformed X-Twilio-Signature: not base64.") from None
        if len(provided) != _SHA1_SIZE:
            raise SignatureError("Malformed X-Twilio-Signature: wrong length.")
        return provided

    def parse(self, req: WebhookRequest) -> ParseResult:
        require_media_type(req, self.content_types)
        form = _form(req)
        sid = form.get("MessageSid") or form.get("SmsMessageSid") or form.get("SmsSid")
        status = (form.get("MessageStatus") or form.get("SmsStatus") or "").lower()
        if "Body" not in form and status and status != "received":
            # A status callback about a message we sent (sent, delivered, undelivered, ...);
            # inbound messages carry SmsStatus=received as well, so that value is not a receipt.
            if not sid:
                raise PayloadError({"MessageSid": [REQUIRED]})
            event = StatusEvent(
                provider=self.provider,
                provider_message_id=sid,
                status=status,
                raw=dict(form),
            )
            return ParseResult(statuses=[event], response=TWIML_RESPONSE)

        errors: dict[str, list[str]] = {}
        sender = form.get("From", "")
        if not sid:
            errors["MessageSid"] = [REQUIRED]
        if not sender:
            errors["From"] = [REQUIRED]
        if "Body" not in form:
            errors["Body"] = [REQUIRED]
        num_media_raw = form.get("NumMedia", "0") or "0"
        num_media = (
            int(num_media_raw) if num_media_raw.isascii() and num_media_raw.isdigit() else -1
        )
        if num_media < 0:
            errors["NumMedia"] = ["A valid integer is required."]
        if errors or not sid:
            raise PayloadError(errors)

        media = []
        for i in range(min(num_media, MAX_MEDIA)):
            media.append(
                {
                    "url": form.get(f"MediaUrl{i}", ""),
                    "content_type": form.get(f"MediaContentType{i}", ""),
                }
            )
        body = form["Body"]
        text = " ".join([_media_label(m["content_type"]) for m in media] + ([body] if body else []))

        # "whatsapp:+1555..." for WhatsApp through Twilio; the phone is what follows the prefix.
        address = sender.split(":", 1)[1] if sender.startswith("whatsapp:") else sender
        phone = address if address.startswith("+") else None
        metadata: dict[str, Any] = {
            key: form[name] for name, key in _METADATA_FIELDS.items() if form.get(name)
        }
        if media:
            metadata["media"] = media
        received = req.received_at or datetime.now(UTC)
        if received.tzinfo is None:
            received = received.replace(tzinfo=UTC)
        message = InboundMessage(
            provider=self.provider,
            provider_message_id=sid,
            client_external_id=f"twilio:{sender}",
            client_name=form.get("ProfileName") or address,
            client_phone=phone,
            text=text,
            sent_at=received.astimezone(UTC),
            metadata=metadata,
            attachments=[
                MediaRef(source="twilio", ref=m["url"], content_type=m["content_type"][:255])
                for m in media
                if m["url"].startswith(("https://", "http://"))
            ],
        )
        return ParseResult(messages=[message], response=TWIML_RESPONSE)
