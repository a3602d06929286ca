"""Resolved live chats become ChatSessions, so analytics cover live and imported chats alike.

``resolve_assignment`` enqueues ``analytics.tasks.record_live_session(conversation_id)`` once the
resolution commits; the actor calls ``session_from_conversation``, which (re)builds the session
``live-<conversation id>`` in the company's "Live conversations" data source (created on
demand, one per company by a unique constraint). Rebuilding is idempotent, so a retried actor,
or a chat reopened and resolved again, just refreshes the same row.

The figures are computed by pure functions of plain values (``LiveMessage``):

* ``average_response_seconds``: for every customer message that an agent answered later, the
  wait until the *next* agent message; the mean of those waits (None when nothing was answered).
  Three customer lines at 0, 10 and 20 s answered at 30 s are waits of 30, 20 and 10 s.
* ``transcript``: one line per message, ``[HH:MM:SS] Customer: …`` or ``[HH:MM:SS] <agent>: …``
  in UTC, continuation lines of a multi-line message indented; capped at
  ``MAX_TRANSCRIPT_CHARS`` (the CSV importer's field limit), which also keeps the full-text
  index's vector far below PostgreSQL's 1 MB limit.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from django.db import IntegrityError, transaction
from django.db.models import F

from analytics.models import ChatSession, DataSource
from routing_service.chats.models import (
    Conversation,
    ConversationStatus,
    Message,
    MessageDirection,
    MessageKind,
)

__all__ = [
    "LIVE_FEED_NAME",
    "MAX_TRANSCRIPT_CHARS",
    "LiveMessage",
    "average_response_seconds",
    "live_feed",
    "live_session_id",
    "session_from_conversation",
    "transcript",
]

logger = logging.getLogger(__name__)

LIVE_FEED_NAME: Final = "Live conversations"
MAX_TRANSCRIPT_CHARS: Final = 131_072
CUSTOMER: Final = "Customer"
_TRUNCATED: Final = "\n[… transcript truncated]"
_COUNTRY_KEYS: Final = ("country", "country_code", "from_country")
_IP_KEYS: Final = ("ip", "ip_address", "client_ip")


@dataclass(frozen=True, slots=True)
class LiveMessage:
    inbound: bool
    sent_at: dt.datetime
    text: str
    speaker: str  # "Customer", or the agent's name


def live_session_id(conversation_id: int) -> str:
    return f"live-{conversation_id}"


def average_response_seconds(messages: Sequence[LiveMessage]) -> float | None:
    """Mean wait from each customer message to the next agent message (see module docstring).

    ``messages`` are in the order they were sent.
    """
    waits: list[float] = []
    unanswered: list[dt.datetime] = []
    for message in messages:
        if message.inbound:
            unanswered.append(message.sent_at)
        elif unanswered:
            waits.extend(
                max((message.sent_at - asked).total_seconds(), 0.0) for asked in unanswered
            )
            unanswered = []
    return sum(waits) / len(waits) if waits else None


def transcript(messages: Iterable[LiveMessage], *, limit: int = MAX_TRANSCRIPT_CHARS) -> str:
    """The chat as text; past ``limit`` characters it is cut and marked as truncated."""
    lines: list[str] = []
    remaining = limit
    for message in messages:
        stamp = message.sent_at.astimezone(dt.UTC).strftime("%H:%M:%S")
        text = message.text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\n    ")
        line = f"[{stamp}] {message.speaker}: {text}"
        needed = len(line) + (1 if lines else 0)
        if needed > remaining:
            room = remaining - (1 if lines else 0)
            if room > 0:
                lines.append(line[:room])
            return "\n".join(lines) + _TRUNCATED
        remaining -= needed
        lines.append(line)
    return "\n".join(lines)


def _first(metadata: Iterable[Mapping[str, Any]], keys: Sequence[str]) -> str:
    for mapping in metadata:
        for key in keys:
            value = mapping.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
    return ""


def _ip(value: str) -> str | None:
    try:
        return str(ipaddress.ip_address(value)) if value else None
    except ValueError:
        return None


def live_feed(company_id: int) -> DataSource:
    """The company's "Live conversations" data source, created on first use."""
    feed, _ = DataSource.objects.unscoped().get_or_create(
        company_id=company_id,
        kind=DataSource.Kind.LIVE,
        defaults={"name": LIVE_FEED_NAME, "status": DataSource.Status.DONE},
    )
    return feed


def _speaker(first_name: str, last_name: str, username: str | None) -> str:
    return f"{first_name} {last_name}".strip() or username or "Agent"


def session_from_conversation(conversation_id: int) -> ChatSession | None:
    """Build or refresh the ChatSession of a resolved conversation; None if it is not resolved
    (or is gone)."""
    conversation = (
        Conversation.objects.unscoped().select_related("client").filter(pk=conversation_id).first()
    )
    if (
        conversation is None
        or conversation.status != ConversationStatus.RESOLVED
        or conversation.resolved_at is None
    ):
        return None
    rows = (
        Message.objects.unscoped()
        .filter(conversation_id=conversation.pk)
        # Internal notes are staff talk, not part of the customer's conversation.
        .exclude(kind=MessageKind.NOTE)
        .order_by("sent_at", "id")
        .values_list(
            "direction",
            "sent_at",
            "text",
            "sender__first_name",
            "sender__last_name",
            "sender__username",
            "metadata",
        )
    )
    messages: list[LiveMessage] = []
    metadata: list[Mapping[str, Any]] = [conversation.client.metadata or {}]
    for direction, sent_at, text, first_name, last_name, username, meta in rows:
        inbound = direction == MessageDirection.INBOUND
        speaker = CUSTOMER if inbound else _speaker(first_name or "", last_name or "", username)
        messages.append(LiveMessage(inbound, sent_at, text, speaker))
        if inbound and isinstance(meta, dict):
            metadata.append(meta)
    first_inbound = next((m.text for m in messages if m.inbound), "")
    rating = conversation.csat_rating if conversation.csat_rating in range(1, 6) else None
    values = {
        "conversation": conversation,
        "start_time": conversation.created_at,
        "end_time": max(conversation.resolved_at, conversation.created_at),
        "ip_address": _ip(_first(metadata, _IP_KEYS)),
        "country": _first(metadata, _COUNTRY_KEYS)[:64],
        "language": (conversation.language or conversation.client.language or "")[:16],
        "messages_sent": len(messages),
        "escalated": conversation.escalation_level > 0,
        "full_transcript": transcript(messages),
        "avg_response_time": average_response_seconds(messages),
        "category": conversation.category[:64],
        "initial_msg": first_inbound,
        "user_rating": rating,
    }
    with transaction.atomic():
        feed = live_feed(conversation.company_id)
        try:
            with transaction.atomic():
                session, created = ChatSession.objects.unscoped().update_or_create(
                    company_id=conversation.company_id,
                    session_id=live_session_id(conversation.pk),
                    data_source=feed,
                    defaults=values,
                )
        except IntegrityError:
            # An imported session already uses this id: the import's row is left alone.
            logger.warning(
                "session id %s is taken by an imported session; conversation %s not recorded",
                live_session_id(conversation.pk),
                conversation.pk,
            )
            return None
        if created:
            DataSource.objects.unscoped().filter(pk=feed.pk).update(
                rows_imported=F("rows_imported") + 1
            )
    return session
