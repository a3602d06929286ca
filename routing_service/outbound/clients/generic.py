"""Outbound delivery: the generic JSON provider — a signed POST to the channel's callback URL.

The signature is the inbound scheme turned around (`X-Switchboard-Timestamp`,
`X-Switchboard-Signature: v1=HMAC-SHA256(channel secret, "<ts>.<body>")`), so a receiver
verifies our replies with the code it already uses to sign its webhooks to us. The timestamp is
the attempt's, not the reply's: a retry minutes later must still pass the receiver's 300 s window.
`message_id` ("sb-<id>", also sent as `Idempotency-Key`) stays the same on every attempt so the
receiver can drop a copy that a timeout or a dead worker made us send twice; it is also the
stored provider id. A failed callback is described by its status alone: the receiver's body is
never stored (it could be any service the URL points at).
"""

from __future__ import annotations

from typing import Any

from routing_service.ingest.adapters.generic import sign_generic

from .base import (
    ConfigurationError,
    ErrorDetails,
    OutboundMessage,
    PreparedRequest,
    ProviderResponse,
    json_body,
    json_headers,
    required,
)

TIMESTAMP_HEADER = "X-Switchboard-Timestamp"
SIGNATURE_HEADER = "X-Switchboard-Signature"


def our_message_id(message_id: int) -> str:
    return f"sb-{message_id}"


def payload(message: OutboundMessage) -> dict[str, Any]:
    """The callback body (DESIGN.md's inbound generic shape, seen from the other side); with
    files, `attachments` as the inbound shape has them, each `url` signed and expiring; a
    survey adds `quick_replies: [{id, title}]`, answered by a message whose text is the
    digit."""
    body: dict[str, Any] = {
        "message_id": our_message_id(message.message_id),
        "conversation_id": message.conversation_id,
        "client": {"id": message.client_external_id},
        "text": message.text,
        "sent_at": message.sent_at.isoformat(),
        "agent": (
            {"id": message.agent_id, "name": message.agent_name}
            if message.agent_id is not None
            else None
        ),
    }
    if message.attachments:
        # Under PUBLIC_BASE_URL, valid for ATTACHMENT_PUBLIC_URL_TTL_SECONDS.
        body["attachments"] = [
            {"name": f.name, "content_type": f.content_type, "size": f.size, "url": f.url}
            for f in message.attachments
        ]
    if message.quick_replies:
        body["quick_replies"] = [{"id": i, "title": t} for i, t in message.quick_replies]
    return body


class GenericClient:
    provider = "generic"

    def prepare(self, message: OutboundMessage, *, now: float) -> PreparedRequest:
        url = required(message.config, "callback_url")
        if not url.startswith(("http://", "https://")):
            raise ConfigurationError("The channel's callback_url must be an http(s) URL.")
        if not message.secret:
            # An unsigned callback could be forged by anyone who learns the URL.
            raise ConfigurationError("The channel has no secret to sign callbacks with.")
        body = json_body(payload(message))
        timestamp = int(now)
        headers = json_headers(
            {
                TIMESTAMP_HEADER: str(timestamp),
                SIGNATURE_HEADER: sign_generic(message.secret, timestamp, body),
                "Idempotency-Key": our_message_id(message.message_id),
            }
        )
        return PreparedRequest(
            method="POST", url=url, headers=headers, body=body, sensitive=(message.secret,)
        )

    def message_id(self, message: OutboundMessage, response: ProviderResponse) -> str | None:
        return our_message_id(message.message_id)

    def error_details(self, response: ProviderResponse) -> ErrorDetails:
        # A callback receiver has no error vocabulary of its own: the status says it all.
        return ErrorDetails()
