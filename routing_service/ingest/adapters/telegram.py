"""① Webhook ingestion: Telegram Bot API `Update`s.

Telegram does not sign bodies; it echoes the `secret_token` given to setWebhook in
`X-Telegram-Bot-Api-Secret-Token`, which we compare with the channel secret. Only `message`
becomes a chat message, `edited_message` a status event, and a `callback_query` whose data is
one of our quick replies (`csat:<n>`, the satisfaction survey's inline keyboard) a message whose
text is the button's answer; every other update kind (other callback queries, channel posts,
member changes...) is acknowledged and ignored, because Telegram retries
anything that is not a 2xx and would otherwise stall the bot's whole update queue.
Message ids are unique per chat only, hence provider_message_id = "<chat id>:<message id>".
"""

from datetime import UTC, datetime
from typing import Any

import msgspec

from .base import (
    JSON_CONTENT_TYPES,
    ChannelSecrets,
    InboundMessage,
    MediaRef,
    ParseResult,
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

SECRET_HEADER = "x-telegram-bot-api-secret-token"  # noqa: S105 - a header name
# Message fields that carry content other than text, in the order we look for them.
_CONTENT_KINDS = (
    "photo",
    "video",
    "animation",
    "voice",
    "audio",
    "video_note",
    "document",
    "sticker",
    "location",
    "venue",
    "contact",
    "poll",
    "dice",
)


class _User(msgspec.Struct):
    id: int
    first_name: str
    is_bot: bool = False
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None


class _Chat(msgspec.Struct):
    id: int
    type: str = "private"
    title: str | None = None


class _Message(msgspec.Struct):
    message_id: int
    chat: _Chat
    date: int
    from_: _User | None = msgspec.field(default=None, name="from")
    edit_date: int | None = None
    text: str | None = None
    caption: str | None = None


class _Update(msgspec.Struct):
    update_id: int
    message: dict[str, Any] | None = None
    edited_message: dict[str, Any] | None = None
    callback_query: dict[str, Any] | None = None


class _CallbackQuery(msgspec.Struct):
    id: str
    from_: _User = msgspec.field(name="from")
    data: str | None = None
    message: dict[str, Any] | None = None


# Callback data we put on our own buttons (chats/csat.py): anything else is not ours.
QUICK_REPLY_PREFIXES = ("csat:",)


def _render(msg: _Message, raw: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """Text for the agent plus media details; None for service messages (joins, pins...)."""
    if msg.text is not None:
        return msg.text, {}
    for kind in _CONTENT_KINDS:
        if kind in raw:
            label = f"[{kind}] {msg.caption}" if msg.caption else f"[{kind}]"
            return label, {"media": {kind: raw[kind]}}
    return None


# Content kinds that are files (fetched later with getFile and the bot token).
_FILE_KINDS = frozenset(
    {"photo", "video", "animation", "voice", "audio", "video_note", "document", "sticker"}
)


def _media_refs(raw: dict[str, Any]) -> list[MediaRef]:
    """The file of a media message: for a photo, its largest size (the last one listed)."""
    for kind in _CONTENT_KINDS:
        if kind not in raw or kind not in _FILE_KINDS:
            continue
        part = raw[kind]
        if kind == "photo":
            part = part[-1] if isinstance(part, list) and part else None
        if not isinstance(part, dict) or not isinstance(part.get("file_id"), str):
            return []
        size = part.get("file_size")
        mime = part.get("mime_type")
        name = part.get("file_name")
        return [
            MediaRef(
                source="telegram",
                ref=part["file_id"][:512],
                content_type=mime[:255] if isinstance(mime, str) else "",
                name=name[:255] if isinstance(name, str) else "",
                size=size if isinstance(size, int) and not isinstance(size, bool) else None,
            )
        ]
    return []


def _display_name(user: _User | None, chat: _Chat) -> str:
    if user is None:  # anonymous group admins and channels post as the chat
        return chat.title or str(chat.id)
    full = " ".join(part for part in (user.first_name, user.last_name) if part)
    return full or user.username or str(user.id)


class TelegramAdapter:
    provider = "telegram"
    content_types = JSON_CONTENT_TYPES
    max_body_bytes: int | None = None

    def verify(self, req: WebhookRequest, secrets: ChannelSecrets, now: float) -> None:
        self.verify_headers(req, secrets, now)

    def verify_headers(self, req: WebhookRequest, secrets: ChannelSecrets, now: float) -> None:
        """All of Telegram's authenticity is in a header: refused before the body is read."""
        require_media_type(req, self.content_types)
        keys = signing_keys(secrets)
        token = req.headers.get(SECRET_HEADER, "")
        if not token:
            raise SignatureError("Missing X-Telegram-Bot-Api-Secret-Token header.", status_code=401)
        if not matches_any([to_bytes(token)], keys):
            raise SignatureError("X-Telegram-Bot-Api-Secret-Token does not match.")

    def parse(self, req: WebhookRequest) -> ParseResult:
        require_media_type(req, self.content_types)
        update = convert(decode_json(req.body), _Update)
        if update.message is not None:
            msg = convert(update.message, _Message, "message")
            rendered = _render(msg, update.message)
            if rendered is None:
                return ParseResult()
            text, extra = rendered
            user = msg.from_
            metadata: dict[str, Any] = {
                "update_id": update.update_id,
                "chat_id": msg.chat.id,  # where replies go (equals the user id in private chats)
                "chat_type": msg.chat.type,
                **extra,
            }
            if user is not None and user.username:
                metadata["username"] = user.username
            if isinstance(reply := update.message.get("reply_to_message"), dict):
                metadata["reply_to_message_id"] = reply.get("message_id")
            message = InboundMessage(
                provider=self.provider,
                provider_message_id=f"{msg.chat.id}:{msg.message_id}",
                client_external_id=f"telegram:{user.id if user else msg.chat.id}",
                client_name=_display_name(user, msg.chat),
                text=text,
                sent_at=unix_to_utc(msg.date, "message.date"),
                language=(user.language_code or None) if user else None,
                metadata=metadata,
                attachments=_media_refs(update.message),
            )
            return ParseResult(messages=[message])
        if update.callback_query is not None:
            return self._callback(update, req)
        if update.edited_message is not None:
            msg = convert(update.edited_message, _Message, "edited_message")
            at = None
            if msg.edit_date is not None:
                at = unix_to_utc(msg.edit_date, "edited_message.edit_date")
            event = StatusEvent(
                provider=self.provider,
                provider_message_id=f"{msg.chat.id}:{msg.message_id}",
                status="edited",
                at=at,
                raw=update.edited_message,
            )
            return ParseResult(statuses=[event])
        return ParseResult()

    def _callback(self, update: _Update, req: WebhookRequest) -> ParseResult:
        """A tapped inline-keyboard button of ours, as the customer's answer. Callback queries
        carry no date: the webhook's arrival time stands in. The id is unique per query, so a
        redelivered update is a duplicate."""
        assert update.callback_query is not None
        query = convert(update.callback_query, _CallbackQuery, "callback_query")
        if not query.data or not query.data.startswith(QUICK_REPLY_PREFIXES):
            return ParseResult()
        chat = _dict(query.message).get("chat")
        chat_value = _dict(chat).get("id", query.from_.id)
        metadata: dict[str, Any] = {
            "update_id": update.update_id,
            "chat_id": chat_value,
            "callback_query_id": query.id,
            "callback_data": query.data,
        }
        if query.from_.username:
            metadata["username"] = query.from_.username
        message = InboundMessage(
            provider=self.provider,
            provider_message_id=f"{chat_value}:cb{query.id}",
            client_external_id=f"telegram:{query.from_.id}",
            client_name=_display_name(query.from_, _Chat(id=query.from_.id)),
            text=query.data.partition(":")[2],
            sent_at=req.received_at or datetime.now(UTC),
            language=query.from_.language_code or None,
            metadata=metadata,
        )
        return ParseResult(messages=[message])


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
