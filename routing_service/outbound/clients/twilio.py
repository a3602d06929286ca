"""Outbound delivery: Twilio Programmable Messaging (SMS, and WhatsApp through Twilio).

`POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json`, form fields `To`, `From`, `Body`,
HTTP basic auth with the account SID and the auth token (the channel's `secret`, the same token
that signs Twilio's webhooks to us). Twilio answers 201 with the message resource; its `sid` is
the provider id. Errors carry `{"code", "message", "more_info"}`: the stored error keeps the
code and our reading of it (`ERRORS`), never Twilio's message text.

Addresses: the client id is "twilio:<From of the inbound>", so `To` is what follows the prefix
("+15550001111", or "whatsapp:+1555…" for WhatsApp through Twilio). `From` is the number the
customer wrote to — the `To` of their latest inbound message — so a channel whose webhook
serves several numbers answers from the right one; `config["from_number"]` is the fallback for
a conversation without one, and `config["messaging_service_sid"]` after that (Twilio then
picks the sender from the service's pool).
"""

from __future__ import annotations

import base64
from urllib.parse import quote, urlencode

from .base import (
    ConfigurationError,
    ErrorDetails,
    OutboundMessage,
    PreparedRequest,
    ProviderResponse,
    address,
    base_url,
    error_code,
    required,
)

DEFAULT_BASE_URL = "https://api.twilio.com"
# What the error codes agents meet most often mean (twilio.com/docs/api/errors).
ERRORS = {
    20003: "authentication failed",
    20404: "resource not found",
    20429: "too many requests",
    21211: "invalid 'To' number",
    21212: "invalid 'From' number",
    21408: "sending to this region is not enabled",
    21606: "the 'From' number cannot send this message",
    21610: "the recipient unsubscribed (STOP)",
    21612: "the 'To' number cannot be reached from this 'From' number",
    21614: "the 'To' number cannot receive SMS",
    21617: "the message is too long",
    63016: "outside the WhatsApp 24-hour window",
}


def sender(message: OutboundMessage) -> tuple[str, str]:
    """The (form field, value) naming who sends: `From` or `MessagingServiceSid`."""
    replied_to = message.last_inbound_metadata.get("to")
    if isinstance(replied_to, str) and replied_to.strip():
        return "From", replied_to.strip()
    from_number = message.config.get("from_number")
    if isinstance(from_number, str) and from_number.strip():
        return "From", from_number.strip()
    service = message.config.get("messaging_service_sid")
    if isinstance(service, str) and service.strip():
        return "MessagingServiceSid", service.strip()
    raise ConfigurationError(
        "No Twilio sender: the conversation has no inbound To number and the channel's "
        "config has neither from_number nor messaging_service_sid."
    )


MAX_MEDIA = 10


def form(message: OutboundMessage) -> list[tuple[str, str]]:
    """The form fields; files as repeated `MediaUrl` (signed public URLs Twilio fetches)."""
    to = address(message.client_external_id, "twilio", "Twilio")
    field, value = sender(message)
    if len(message.attachments) > MAX_MEDIA:
        raise ConfigurationError(f"Twilio takes at most {MAX_MEDIA} files per message.")
    fields = [("To", to), (field, value), ("Body", message.text)]
    fields += [("MediaUrl", f.url) for f in message.attachments]
    return fields


class TwilioClient:
    provider = "twilio"

    def prepare(self, message: OutboundMessage, *, now: float) -> PreparedRequest:
        account_sid = required(message.config, "account_sid")
        if not message.secret:
            raise ConfigurationError("The channel has no Twilio auth token (its secret).")
        base = base_url(message.config, DEFAULT_BASE_URL)
        url = f"{base}/2010-04-01/Accounts/{quote(account_sid, safe='')}/Messages.json"
        credentials = base64.b64encode(f"{account_sid}:{message.secret}".encode()).decode()
        headers = {
            "Authorization": f"Basic {credentials}",
            "Content-Type": "application/x-www-form-urlencoded",
            "Accept": "application/json",
        }
        return PreparedRequest(
            method="POST",
            url=url,
            headers=headers,
            body=urlencode(form(message)).encode(),
            sensitive=(message.secret, credentials),
        )

    def message_id(self, message: OutboundMessage, response: ProviderResponse) -> str | None:
        data = response.json()
        sid = data.get("sid") if isinstance(data, dict) else None
        return sid if isinstance(sid, str) and sid else None

    def error_details(self, response: ProviderResponse) -> ErrorDetails:
        data = response.json()
        code = error_code(data.get("code")) if isinstance(data, dict) else None
        return ErrorDetails(ERRORS.get(code, "") if code is not None else "", code, "Twilio")
