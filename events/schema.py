"""④ The event schema: every real-time event type and who receives it.

One module names every event and its recipients so that the outbox, the durable replay log,
the consumers and the browser all speak one schema (DESIGN.md, "Websockets"). Payload builders
take plain values; the actions that cause an event build it and hand it to
`events.outbox.publish_on_commit`. Like the rest of `events/`, it imports nothing of the
domain: the chat actions, the SLA engine and the websocket consumers all sit above it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from enum import StrEnum
from typing import Any

import msgspec


class EventType(StrEnum):
    SNAPSHOT = "snapshot"
    QUEUE_UPDATED = "queue.updated"
    CHAT_OFFERED = "chat.offered"
    CHAT_ASSIGNED = "chat.assigned"
    CHAT_MESSAGE = "chat.message"
    CHAT_RESOLVED = "chat.resolved"
    CHAT_TRANSFERRED = "chat.transferred"
    # A chat's own fields changed outside routing (its labels): the whole conversation record.
    CHAT_UPDATED = "chat.updated"
    CHAT_WHISPER = "chat.whisper"
    # Someone is typing in a chat: ephemeral (events/ephemeral.py), never logged or replayed.
    CHAT_TYPING = "chat.typing"
    ALERT_URGENT = "alert.urgent"
    SLA_WARNING = "sla.warning"
    SLA_BREACHED = "sla.breached"
    NOTIFICATION = "notification"
    # An internal note named the recipient with @username.
    MENTION = "mention"
    AGENT_STATUS = "agent.status"
    WALLBOARD_STATS = "wallboard.stats"
    ACK = "ack"
    ERROR = "error"


def queue_group(company_id: int) -> str:
    """Everyone in the company who watches the queue (agent consoles, wallboards)."""
    return f"company.{company_id}.queue"


def supervisors_group(company_id: int) -> str:
    return f"company.{company_id}.supervisors"


def agent_group(user_id: int) -> str:
    return f"agent.{user_id}"


class Event(msgspec.Struct, frozen=True, kw_only=True):
    """An event before publication: the log gives it its `seq` per company."""

    type: str
    company_id: int
    data: dict[str, Any]
    groups: tuple[str, ...]
    id: str = msgspec.field(default_factory=lambda: uuid.uuid4().hex)
    at: str = msgspec.field(
        default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
    )


def make_event(
    type_: EventType,
    company_id: int,
    data: dict[str, Any],
    *,
    queue: bool = False,
    supervisors: bool = False,
    agents: Iterable[int | None] = (),
) -> Event:
    """Build an event addressed to the company queue, its supervisors and/or some agents."""
    groups: list[str] = []
    if queue:
        groups.append(queue_group(company_id))
    if supervisors:
        groups.append(supervisors_group(company_id))
    groups.extend(agent_group(a) for a in dict.fromkeys(agents) if a is not None)
    return Event(type=str(type_), company_id=company_id, data=data, groups=tuple(groups))
