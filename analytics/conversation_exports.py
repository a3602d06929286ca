"""Exports of live conversations: one chat's transcript (text, JSON, CSV) and the company's
conversations — open ones included — and their messages as CSV.

The session export (`/api/v1/sessions/export.csv`) covers resolved chats in the import format;
these cover what it cannot: chats still open, and data per message. Everything streams from a
database iterator a chunk at a time (``analytics.exports``); CSV cells go through the shared
formula-injection escaping, since customers type the text. Whispers (supervisor to agent) are
in a transcript only for readers allowed to see them (``include_whispers``). Internal notes and
attachments belong to other parts of the workspace: a message's `kind` and its attachments are
exported when those fields exist.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

from django.db.models import OuterRef, QuerySet, Subquery

from analytics.exports import csv_chunks, format_cell
from routing_service.chats.label_queries import labels_cell
from routing_service.chats.models import (
    ACTIVE_ASSIGNMENT_STATUSES,
    ChatAssignment,
    Conversation,
    Message,
    MessageDirection,
    Whisper,
)

__all__ = [
    "CONVERSATION_COLUMNS",
    "MESSAGE_COLUMNS",
    "TRANSCRIPT_COLUMNS",
    "conversation_rows",
    "message_rows",
    "transcript_chunks",
]

CHUNK_ROWS: Final = 2000
CUSTOMER: Final = "Customer"
SYSTEM: Final = "Switchboard"
TRANSCRIPT_COLUMNS: Final = (
    "conversation_id",
    "item_id",
    "kind",
    "direction",
    "sent_at",
    "author",
    "text",
    "delivery_status",
    "attachments",
)
CONVERSATION_COLUMNS: Final = (
    "conversation_id",
    "status",
    "priority",
    "channel",
    "provider",
    "client_external_id",
    "client_name",
    "agent_username",
    "created_at",
    "last_message_at",
    "first_response_at",
    "resolved_at",
    "first_response_due_at",
    "resolution_due_at",
    "first_response_met",
    "resolution_met",
    "escalation_level",
    "message_count",
    "language",
    "category",
    "subject",
    "csat_rating",
    "csat_comment",
    "labels",
)
MESSAGE_COLUMNS: Final = (
    "conversation_id",
    "message_id",
    "kind",
    "direction",
    "sent_at",
    "author",
    "client_external_id",
    "text",
    "delivery_status",
    "conversation_status",
)


def _has_field(model: type[Any], name: str) -> bool:
    return any(f.name == name for f in model._meta.get_fields())


def _kind(message: Message) -> str:
    """`message` or `note` (the notes part of the workspace adds `Message.kind`), `survey`
    for the satisfaction question."""
    if (message.metadata or {}).get("csat_survey"):
        return "survey"
    return str(getattr(message, "kind", "") or "message")


def _attachments(message: Message) -> list[dict[str, Any]]:
    """The message's files where the attachments part of the workspace provides them."""
    related = getattr(message, "attachments", None)
    if related is None or not hasattr(related, "all"):
        return []
    found = []
    for attachment in related.all():
        url = getattr(attachment, "url", None)
        found.append(
            {
                "id": attachment.pk,
                "name": getattr(attachment, "name", ""),
                "content_type": getattr(attachment, "content_type", ""),
                "size": getattr(attachment, "size", None),
                **({"url": url() if callable(url) else url} if url else {}),
            }
        )
    return found


@dataclass(frozen=True)
class TranscriptItem:
    item_id: int
    kind: str
    direction: str
    at: dt.datetime
    author: str
    text: str
    delivery_status: str
    attachments: list[dict[str, Any]]

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.item_id,
            "kind": self.kind,
            "direction": self.direction,
            "sent_at": self.at.isoformat(),
            "author": self.author,
            "text": self.text,
            "delivery_status": self.delivery_status or None,
            "attachments": self.attachments,
        }


def _person(user: Any) -> str:
    if user is None:
        return ""
    return str(user.get_full_name() or user.username)


def transcript_items(
    conversation: Conversation, *, include_whispers: bool
) -> Iterator[TranscriptItem]:
    """Messages (and whispers, if allowed) in time order, read a chunk at a time."""
    messages = (
        Message.objects.unscoped()
        .filter(conversation_id=conversation.pk)
        .select_related("sender")
        .order_by("sent_at", "id")
    )
    if _has_field(Message, "attachments"):
        lookups = ("attachments",)  # from another part of the workspace, when present
        messages = messages.prefetch_related(*lookups)
    whispers: list[Whisper] = []
    if include_whispers:
        whispers = list(
            Whisper.objects.unscoped()
            .filter(conversation_id=conversation.pk)
            .select_related("author")
            .order_by("created_at", "id")
        )
    pending = iter(whispers)
    next_whisper = next(pending, None)
    for message in messages.iterator(chunk_size=CHUNK_ROWS):
        while next_whisper is not None and next_whisper.created_at <= message.sent_at:
            yield _whisper_item(next_whisper)
            next_whisper = next(pending, None)
        inbound = message.direction == MessageDirection.INBOUND
        author = CUSTOMER if inbound else (_person(message.sender) or SYSTEM)
        yield TranscriptItem(
            item_id=message.pk,
            kind=_kind(message),
            direction=message.direction,
            at=message.sent_at,
            author=author,
            text=message.text,
            delivery_status="" if inbound else message.delivery_status,
            attachments=_attachments(message),
        )
    while next_whisper is not None:
        yield _whisper_item(next_whisper)
        next_whisper = next(pending, None)


def _whisper_item(whisper: Whisper) -> TranscriptItem:
    return TranscriptItem(
        item_id=whisper.pk,
        kind="whisper",
        direction="internal",
        at=whisper.created_at,
        author=_person(whisper.author),
        text=whisper.text,
        delivery_status="",
        attachments=[],
    )


def _header(conversation: Conversation) -> dict[str, Any]:
    client = conversation.client
    return {
        "id": conversation.pk,
        "status": conversation.status,
        "priority": conversation.priority,
        "channel": {"id": conversation.channel_id, "provider": conversation.channel.provider},
        "client": {"id": client.pk, "external_id": client.external_id, "name": client.name},
        "created_at": conversation.created_at.isoformat(),
        "resolved_at": conversation.resolved_at.isoformat() if conversation.resolved_at else None,
        "csat_rating": conversation.csat_rating,
        "csat_comment": conversation.csat_comment,
    }


def transcript_chunks(
    conversation: Conversation, fmt: str, *, include_whispers: bool
) -> Iterator[str]:
    """The transcript as `txt`, `json` or `csv` text, a chunk at a time."""
    items = transcript_items(conversation, include_whispers=include_whispers)
    if fmt == "csv":
        rows = (
            [
                format_cell(cell)
                for cell in (
                    conversation.pk,
                    item.item_id,
                    item.kind,
                    item.direction,
                    item.at,
                    item.author,
                    item.text,
                    item.delivery_status or None,
                    " ".join(a.get("url") or a.get("name", "") for a in item.attachments) or None,
                )
            ]
            for item in items
        )
        return csv_chunks(TRANSCRIPT_COLUMNS, rows)
    if fmt == "json":
        return _json_chunks(conversation, items)
    return _text_chunks(conversation, items)


def _json_chunks(conversation: Conversation, items: Iterator[TranscriptItem]) -> Iterator[str]:
    head = json.dumps({"conversation": _header(conversation)}, ensure_ascii=False)
    yield head[:-1] + ', "messages": ['
    first = True
    for item in items:
        yield ("" if first else ",") + json.dumps(item.as_json(), ensure_ascii=False)
        first = False
    yield "]}"


def _text_chunks(conversation: Conversation, items: Iterator[TranscriptItem]) -> Iterator[str]:
    client = conversation.client
    yield (
        f"Conversation #{conversation.pk} with {client.name or client.external_id} "
        f"({conversation.channel.provider}), {conversation.status}, "
        f"started {conversation.created_at.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S} UTC\n"
    )
    if conversation.csat_rating is not None:
        comment = f": {conversation.csat_comment}" if conversation.csat_comment else ""
        yield f"Satisfaction: {conversation.csat_rating}/5{comment}\n"
    yield "\n"
    for item in items:
        stamp = item.at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
        label = {"whisper": " (whisper)", "note": " (note)", "survey": " (survey)"}.get(
            item.kind, ""
        )
        text = item.text.replace("\r\n", "\n").replace("\n", "\n    ")
        line = f"[{stamp}] {item.author}{label}: {text}\n"
        for attachment in item.attachments:
            line += f"    [file] {attachment.get('name', '')} {attachment.get('url', '')}".rstrip()
            line += "\n"
        yield line


# --- company-wide CSV exports -----------------------------------------------------------------


def _holders() -> Subquery:
    return Subquery(
        ChatAssignment.objects.unscoped()
        .filter(conversation=OuterRef("pk"), status__in=ACTIVE_ASSIGNMENT_STATUSES)
        .values("agent__username")[:1]
    )


def conversation_rows(conversations: QuerySet[Conversation]) -> Iterator[list[str]]:
    """One formatted row per conversation, open or closed, with its current agent."""
    fields: Sequence[str] = (
        "pk",
        "status",
        "priority",
        "channel__name",
        "channel__provider",
        "client__external_id",
        "client__name",
        "holder",
        *CONVERSATION_COLUMNS[8:-1],
        "labels",
    )
    values = (
        conversations.annotate(holder=_holders())
        .values_list(*fields)
        .iterator(chunk_size=CHUNK_ROWS)
    )
    for *row, labels in values:
        yield [*(format_cell(value) for value in row), format_cell(labels_cell(labels))]


def message_rows(messages: QuerySet[Message]) -> Iterator[list[str]]:
    """One formatted row per message of the selected conversations."""
    extra = ("kind",) if _has_field(Message, "kind") else ()
    values = messages.values_list(
        "conversation_id",
        "pk",
        "direction",
        "sent_at",
        "sender__username",
        "conversation__client__external_id",
        "text",
        "delivery_status",
        "conversation__status",
        "metadata",
        *extra,
    ).iterator(chunk_size=CHUNK_ROWS)
    for (
        conv_id,
        pk,
        direction,
        sent_at,
        sender,
        client,
        text,
        delivery,
        status,
        meta,
        *kind,
    ) in values:
        survey = isinstance(meta, dict) and meta.get("csat_survey")
        author = sender or (CUSTOMER if direction == MessageDirection.INBOUND else SYSTEM)
        cells = (
            conv_id,
            pk,
            "survey" if survey else (kind[0] if kind else "message"),
            direction,
            sent_at,
            author,
            client,
            text,
            None if direction == MessageDirection.INBOUND else delivery,
            status,
        )
        yield [format_cell(cell) for cell in cells]


def conversation_csv(conversations: QuerySet[Conversation]) -> Iterator[str]:
    return csv_chunks(CONVERSATION_COLUMNS, conversation_rows(conversations))


def message_csv(messages: QuerySet[Message]) -> Iterator[str]:
    return csv_chunks(MESSAGE_COLUMNS, message_rows(messages))
