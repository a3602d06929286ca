"""Outbound delivery: Telegram Bot API `sendMessage`.

`POST {base}/bot{bot_token}/sendMessage` with `{"chat_id", "text"}`; the answer is
`{"ok": true, "result": Message}` (with `reply_markup.inline_keyboard` when the message
offers quick replies, whose taps arrive as `callback_query` updates) and the provider id is
"<chat id>:<message id>", the same shape the inbound adapter stores (Telegram message ids
are unique per chat only).

The chat is the one the customer last wrote from (the prefix of their latest inbound
message's id); the client id "telegram:<user id>" is the fallback, which is the same chat for
private chats. The bot token is part of the URL, so it is listed as sensitive and never appears
in a stored error. Errors are `{"ok": false, "error_code", "description",
"parameters": {"retry_after"}}` (known descriptions are stored in our words, `DESCRIPTIONS`);
flood control answers 429 with `retry_after` in the body.
"""

from __future__ import annotations

from .base import (
    ConfigurationError,
    ErrorDetails,
    OutboundMessage,
    PreparedRequest,
    ProviderResponse,
    address,
    base_url,
    json_body,
    json_headers,
    required,
)

DEFAULT_BASE_URL = "https://api.telegram.org"
# Telegram has no error codes beyond the HTTP status; its descriptions are recognised by these
# phrases and stored in our words (the description itself is never stored).
DESCRIPTIONS = (
    ("bot was blocked by the user", "the customer blocked the bot"),
    ("bot was kicked", "the bot was removed from the chat"),
    ("user is deactivated", "the customer's account is deactivated"),
    ("bot can't initiate conversation", "the customer has not started the bot"),
    ("chat not found", "chat not found"),
    ("message is too long", "the message is too long"),
    ("not enough rights", "the bot may not write in this chat"),
    ("have no rights to send", "the bot may not write in this chat"),
    ("too many requests", "rate limited"),
    ("unauthorized", "bot token refused"),
)


def reason(description: object) -> str:
    """Our words for a Telegram error description ("" when it is not one we know)."""
    if not isinstance(description, str):
        return ""
    lowered = description.lower()
    return next((ours for phrase, ours in DESCRIPTIONS if phrase in lowered), "")


def chat_id(message: OutboundMessage) -> str:
    if message.last_inbound_id:
        chat, sep, _ = message.last_inbound_id.rpartition(":")
        if sep and _is_int(chat):
            return chat
    chat = address(message.client_external_id, "telegram", "Telegram")
    if not _is_int(chat):
        raise ConfigurationError(f"The client {message.client_external_id!r} has no chat id.")
    return chat


def _is_int(value: str) -> bool:
    return value.removeprefix("-").isdigit()


class TelegramClient:
    provider = "telegram"

    def prepare(self, message: OutboundMessage, *, now: float) -> PreparedRequest:
        token = required(message.config, "bot_token")
        if "/" in token or "?" in token or "#" in token:
            raise ConfigurationError("The channel's bot_token is not a Telegram bot token.")
        base = base_url(message.config, DEFAULT_BASE_URL)
        payload: dict[str, object] = {"chat_id": int(chat_id(message)), "text": message.text}
        if message.quick_replies:
            # One button per row; a tap comes back as a `callback_query` with this data.
            payload["reply_markup"] = {
                "inline_keyboard": [
                    [{"text": title, "callback_data": option_id}]
                    for option_id, title in message.quick_replies
                ]
            }
        return PreparedRequest(
            method="POST",
            url=f"{base}/bot{token}/sendMessage",
            headers=json_headers(),
            body=json_body(payload),
            sensitive=(token,),
        )

    def message_id(self, message: OutboundMessage, response: ProviderResponse) -> str | None:
        data = response.json()
        result = data.get("result") if isinstance(data, dict) else None
        if not isinstance(result, dict):
            return None
        sent_id = result.get("message_id")
        chat = result.get("chat")
        chat_value = chat.get("id") if isinstance(chat, dict) else None
        if chat_value is None:
            chat_value = chat_id(message)
        if isinstance(sent_id, int) and not isinstance(sent_id, bool):
            return f"{chat_value}:{sent_id}"
        return None

    def error_details(self, response: ProviderResponse) -> ErrorDetails:
        data = response.json()
        if not isinstance(data, dict):
            return ErrorDetails()
        parameters = data.get("parameters")
        retry_after = parameters.get("retry_after") if isinstance(parameters, dict) else None
        wait = (
            float(retry_after)
            if isinstance(retry_after, int | float) and not isinstance(retry_after, bool)
            else None
        )
        return ErrorDetails(reason(data.get("description")), retry_after=wait)
