"""Outbound delivery: WhatsApp Business Cloud API (Meta Graph API).

`POST {base}/{phone_number_id}/messages` with `Authorization: Bearer <access_token>` and
`{"messaging_product": "whatsapp", "to": <wa_id>, "type": "text", "text": {"body": ...}}`;
the answer's `messages[0].id` ("wamid.…") is the provider id. The recipient is the wa_id of
the client id "whatsapp:<wa_id>".

Graph API errors arrive as `{"error": {"message", "type", "code", "error_subcode",
"is_transient", "error_data": {"details"}}}`, and its rate limits usually as HTTP 400, so the
error code decides, not only the status: throughput and pair-rate limits and "service
unavailable" are retried, and so is anything Meta flags `is_transient`. Free text outside the
24-hour customer service window (131047) is final: it needs a template, which agents do not send.
"""

from __future__ import annotations

from urllib.parse import quote

from .base import (
    ConfigurationError,
    ErrorDetails,
    OutboundMessage,
    PreparedRequest,
    ProviderResponse,
    address,
    base_url,
    first_text,
    json_body,
    json_headers,
    required,
)

DEFAULT_BASE_URL = "https://graph.facebook.com/v21.0"
# 4 app call limit, 80007 account rate limit, 130429 throughput, 131056 pair rate limit,
# 131016 service unavailable, 133004 server temporarily unavailable.
RETRYABLE_CODES = frozenset({4, 80007, 130429, 131016, 131056, 133004})


def body(message: OutboundMessage) -> dict[str, object]:
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": address(message.client_external_id, "whatsapp", "WhatsApp"),
        "type": "text",
        "text": {"preview_url": False, "body": message.text},
    }


class WhatsAppClient:
    provider = "whatsapp"

    def prepare(self, message: OutboundMessage, *, now: float) -> PreparedRequest:
        phone_number_id = required(message.config, "phone_number_id")
        token = required(message.config, "access_token")
        if not phone_number_id.isdigit():
            raise ConfigurationError("The channel's phone_number_id must be digits.")
        base = base_url(message.config, DEFAULT_BASE_URL)
        return PreparedRequest(
            method="POST",
            url=f"{base}/{quote(phone_number_id, safe='')}/messages",
            headers=json_headers({"Authorization": f"Bearer {token}"}),
            body=json_body(body(message)),
            sensitive=(token,),
        )

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
            return ErrorDetails(response.body[:200].decode("utf-8", "replace").strip())
        code = error.get("code")
        error_data = error.get("error_data")
        details = error_data.get("details") if isinstance(error_data, dict) else None
        text = first_text(error.get("message"), error.get("error_user_msg"))
        if isinstance(details, str) and details and details not in text:
            text = f"{text} — {details}" if text else details
        if code is not None:
            text = f"{text} (WhatsApp error {code})"
        retryable: bool | None = None
        if error.get("is_transient") is True or code in RETRYABLE_CODES:
            retryable = True
        return ErrorDetails(text, retryable=retryable)
