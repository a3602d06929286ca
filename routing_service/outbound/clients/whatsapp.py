"""Outbound delivery: WhatsApp Business Cloud API (Meta Graph API).

`POST {base}/{phone_number_id}/messages` with `Authorization: Bearer <access_token>` and
`{"messaging_product": "whatsapp", "to": <wa_id>, "type": "text", "text": {"body": ...}}`;
the answer's `messages[0].id` ("wamid.…") is the provider id. The recipient is the wa_id of
the client id "whatsapp:<wa_id>".

Graph API errors arrive as `{"error": {"message", "type", "code", "error_subcode",
"is_transient", "error_data": {"details"}}}` (the stored error keeps the code and our reading of
it, `ERRORS`, never Meta's text), and its rate limits usually as HTTP 400, so the error code
decides, not only the status: throughput and pair-rate limits and "service
unavailable" are retried, and so is anything Meta flags `is_transient`. Free text outside the
24-hour customer service window (131047) is final: it needs a template, which agents do not send.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from .base import (
    ConfigurationError,
    ErrorDetails,
    OutboundMessage,
    PreparedRequest,
    ProviderResponse,
    address,
    base_url,
    error_code,
    json_body,
    json_headers,
    required,
)

DEFAULT_BASE_URL = "https://graph.facebook.com/v21.0"
# 4 app call limit, 80007 account rate limit, 130429 throughput, 131056 pair rate limit,
# 131016 service unavailable, 133004 server temporarily unavailable.
RETRYABLE_CODES = frozenset({4, 80007, 130429, 131016, 131056, 133004})
# Our reading of the codes (developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes).
ERRORS = {
    4: "application request limit reached",
    10: "permission denied",
    100: "invalid parameter",
    190: "access token invalid or expired",
    368: "temporarily blocked for policy violations",
    80007: "account rate limit reached",
    130429: "throughput limit reached",
    131000: "unknown error",
    131005: "access denied",
    131008: "required parameter missing",
    131009: "parameter value not valid",
    131016: "service unavailable",
    131021: "the recipient is the sender",
    131026: "the recipient cannot receive this message",
    131030: "the recipient is not in the allowed list",
    131031: "the business account is locked",
    131047: "more than 24 hours since the customer last wrote (a template is needed)",
    131051: "unsupported message type",
    131056: "too many messages to this recipient",
    133004: "server temporarily unavailable",
}


def body(message: OutboundMessage) -> dict[str, object]:
    if message.quick_replies:
        return interactive_list(message)
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": address(message.client_external_id, "whatsapp", "WhatsApp"),
        "type": "text",
        "text": {"preview_url": False, "body": message.text},
    }


# Cloud API media types by our content type: what WhatsApp shows as a picture, a player or a
# voice note; everything else goes as a document (with its file name).
_IMAGE_TYPES = frozenset({"image/jpeg", "image/png"})
_VIDEO_TYPES = frozenset({"video/mp4", "video/3gpp"})
_AUDIO_TYPES = frozenset({"audio/aac", "audio/amr", "audio/mpeg", "audio/mp4", "audio/ogg"})
MAX_CAPTION = 1024


def media_kind(content_type: str) -> str:
    if content_type in _IMAGE_TYPES:
        return "image"
    if content_type in _VIDEO_TYPES:
        return "video"
    if content_type in _AUDIO_TYPES:
        return "audio"
    return "document"


def media_bodies(message: OutboundMessage) -> list[dict[str, object]]:
    """One media message per file, by `link` (a signed public URL WhatsApp fetches). The text
    rides as the first file's caption where it fits, else goes first on its own."""
    to = address(message.client_external_id, "whatsapp", "WhatsApp")
    bodies: list[dict[str, object]] = []
    text = message.text
    first_kind = media_kind(message.attachments[0].content_type)
    if text and (first_kind == "audio" or len(text) > MAX_CAPTION):
        bodies.append(body(message))
        text = ""
    for file in message.attachments:
        kind = media_kind(file.content_type)
        media: dict[str, object] = {"link": file.url}
        if text and kind != "audio":
            media["caption"] = text
            text = ""
        if kind == "document":
            media["filename"] = file.name
        bodies.append(
            {
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": to,
                "type": kind,
                kind: media,
            }
        )
    return bodies


def interactive_list(message: OutboundMessage) -> dict[str, object]:
    """Quick replies as an interactive list message: reply buttons stop at three, a list takes
    ten rows (titles of at most 24 characters); the tapped row's id comes back in
    `interactive.list_reply.id`."""
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": address(message.client_external_id, "whatsapp", "WhatsApp"),
        "type": "interactive",
        "interactive": {
            "type": "list",
            "body": {"text": message.text[:1024]},
            "action": {
                "button": "Choose",
                "sections": [
                    {
                        "title": "Your answer",
                        "rows": [
                            {"id": option_id, "title": title[:24]}
                            for option_id, title in message.quick_replies[:10]
                        ],
                    }
                ],
            },
        },
    }


def read_receipt_request(config: Mapping[str, Any], wamid: str) -> PreparedRequest:
    """Mark the customer's message `wamid` read (their ticks turn blue): the Cloud API's
    `POST /<phone-number-id>/messages {"messaging_product", "status": "read", "message_id"}`."""
    payload: dict[str, object] = {
        "messaging_product": "whatsapp",
        "status": "read",
        "message_id": wamid,
    }
    return _prepared(config, payload)


def _prepared(config: Mapping[str, Any], payload: dict[str, object]) -> PreparedRequest:
    phone_number_id = required(config, "phone_number_id")
    token = required(config, "access_token")
    if not phone_number_id.isdigit():
        raise ConfigurationError("The channel's phone_number_id must be digits.")
    base = base_url(config, DEFAULT_BASE_URL)
    return PreparedRequest(
        method="POST",
        url=f"{base}/{quote(phone_number_id, safe='')}/messages",
        headers=json_headers({"Authorization": f"Bearer {token}"}),
        body=json_body(payload),
        sensitive=(token,),
    )


class WhatsAppClient:
    provider = "whatsapp"

    def prepare(self, message: OutboundMessage, *, now: float) -> PreparedRequest:
        return self._request(message, body(message))

    def prepare_parts(self, message: OutboundMessage, *, now: float) -> list[PreparedRequest]:
        return [self._request(message, part) for part in media_bodies(message)]

    def _request(self, message: OutboundMessage, payload: dict[str, object]) -> PreparedRequest:
        return _prepared(message.config, payload)

    def message_id(self, message: OutboundMessage, response: ProviderResponse) -> str | None:
        data = response.json()
        messages = data.get("messages") if isinstance(data, dict) else None
        if isinstance(messages, list) and messages and isinstance(messages[0], dict):
            wamid = messages[0].get("id")
            return wamid if isinstance(wamid, str) and wamid else None
        return None

    def error_details(self, response: ProviderResponse) -> ErrorDetails:
        data = response.json()
        error = data.get("error") if isinstance(data, dict) else None
        if not isinstance(error, dict):
            return ErrorDetails()
        code = error_code(error.get("code"))
        retryable: bool | None = None
        if error.get("is_transient") is True or code in RETRYABLE_CODES:
            retryable = True
        reason = ERRORS.get(code, "") if code is not None else ""
        return ErrorDetails(reason, code, "WhatsApp", retryable=retryable)
