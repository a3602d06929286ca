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

import secrets
from collections.abc import Callable, Iterator

from .base import (
    ConfigurationError,
    ErrorDetails,
    OutboundFile,
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


# sendPhoto takes JPEG, PNG, GIF and WebP up to 10 MB; anything else goes by sendDocument.
_PHOTO_TYPES = frozenset({"image/jpeg", "image/png", "image/webp"})
MAX_PHOTO_BYTES = 10 * 1000 * 1000
MAX_CAPTION = 1024


def _token_and_base(message: OutboundMessage) -> tuple[str, str]:
    token = required(message.config, "bot_token")
    if "/" in token or "?" in token or "#" in token:
        raise ConfigurationError("The channel's bot_token is not a Telegram bot token.")
    return token, base_url(message.config, DEFAULT_BASE_URL)


def _multipart(
    fields: list[tuple[str, str]], file_field: str, file: OutboundFile
) -> tuple[str, bytes, bytes]:
    """(boundary, the bytes before the file's content, the bytes after it)."""
    boundary = "switchboard-" + secrets.token_hex(16)
    head = bytearray()
    for name, value in fields:
        head += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        head += value.encode() + b"\r\n"
    filename = file.name.replace('"', "").replace("\r", "").replace("\n", "") or "file"
    head += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; '
        f'filename="{filename}"\r\nContent-Type: {file.content_type}\r\n\r\n'
    ).encode()
    return boundary, bytes(head), f"\r\n--{boundary}--\r\n".encode()


def _upload_stream(head: bytes, file: OutboundFile, tail: bytes) -> Callable[[], Iterator[bytes]]:
    def chunks() -> Iterator[bytes]:
        yield head
        with file.open() as handle:
            while chunk := handle.read(64 * 1024):
                yield chunk
        yield tail

    return chunks


class TelegramClient:
    provider = "telegram"

    def prepare(self, message: OutboundMessage, *, now: float) -> PreparedRequest:
        token, base = _token_and_base(message)
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

    def prepare_parts(self, message: OutboundMessage, *, now: float) -> list[PreparedRequest]:
        """One upload per file (multipart, streamed from storage: Telegram fetches by URL only
        GIF, PDF and ZIP documents): `sendPhoto` for pictures, `sendDocument` for the rest;
        the text is the first file's caption when it fits, else a message of its own first."""
        token, base = _token_and_base(message)
        chat = chat_id(message)
        parts: list[PreparedRequest] = []
        text = message.text
        if text and len(text) > MAX_CAPTION:
            parts.append(self.prepare(message, now=now))
            text = ""
        for file in message.attachments:
            photo = file.content_type in _PHOTO_TYPES and file.size <= MAX_PHOTO_BYTES
            method, field = ("sendPhoto", "photo") if photo else ("sendDocument", "document")
            fields = [("chat_id", chat)] + ([("caption", text)] if text else [])
            text = ""
            boundary, head, tail = _multipart(fields, field, file)
            parts.append(
                PreparedRequest(
                    method="POST",
                    url=f"{base}/bot{token}/{method}",
                    headers={
                        "Content-Type": f"multipart/form-data; boundary={boundary}",
                        "Content-Length": str(len(head) + file.size + len(tail)),
                        "Accept": "application/json",
                    },
                    body=b"",
                    sensitive=(token,),
                    stream=_upload_stream(head, file, tail),
                )
            )
        return parts

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
