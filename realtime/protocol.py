"""⑤ The websocket wire protocol: close codes, server frames, client frame parsing.

Pure functions of plain values (no ORM, no I/O), so the rules that clients rely on can be
tested on their own. The whole protocol is described in realtime/PROTOCOL.md.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import msgspec

from events.schema import EventType


class CloseCode(IntEnum):
    """Why the server closed a socket. 4xxx codes mirror the HTTP status of the same meaning."""

    GOING_AWAY = 1001  # the server is shutting down: reconnect (with ?last_seq=)
    MESSAGE_TOO_BIG = 1009  # a frame over WS_MAX_FRAME_BYTES
    INTERNAL_ERROR = 1011  # a server fault while connecting: reconnect later
    BAD_REQUEST = 4400  # malformed query string (?last_seq, ?company)
    UNAUTHENTICATED = 4401  # no session, or a bad, expired or already used ticket
    FORBIDDEN = 4403  # origin not allowed, role not allowed, another company, inactive
    NOT_FOUND = 4404  # unknown websocket path or company
    FLOOD = 4408  # more frames than the rate limit allows


class Refused(Exception):
    """A connection refused with a close code (raised while connecting)."""

    def __init__(self, code: CloseCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class FrameError(Exception):
    """A client frame that gets an `error` frame back (the socket stays open)."""

    def __init__(
        self, code: str, message: str, *, field: str | None = None, request_id: Any = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.request_id = request_id


# --- server → client ---------------------------------------------------------------------------

_encoder = msgspec.json.Encoder()


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def frame(type_: EventType, seq: int, data: dict[str, Any]) -> str:
    """A frame in the event envelope that is not in the log (snapshot, ack, error).

    Its `seq` is the stream position the client is at when it is sent (the last logged event it
    has been given), so "keep the highest seq you saw" stays a correct rule for `?last_seq=`.
    """
    envelope = {
        "type": str(type_),
        "id": uuid.uuid4().hex,
        "seq": seq,
        "at": now_iso(),
        "data": data,
    }
    return _encoder.encode(envelope).decode()


def ack_frame(seq: int, request_id: Any, result: dict[str, Any]) -> str:
    return frame(EventType.ACK, seq, {"request_id": request_id, **result})


def error_frame(
    seq: int, request_id: Any, code: str, message: str, field: str | None = None
) -> str:
    data = {"request_id": request_id, "code": code, "message": message, "field": field}
    return frame(EventType.ERROR, seq, data)


# --- client → server ---------------------------------------------------------------------------

# Actions and the fields each one needs (type checks below). `conversation_id` names the chat.
AGENT_ACTIONS = frozenset(
    {
        "accept",
        "decline",
        "reply",
        "resolve",
        "escalate",
        "transfer",
        "set_status",
        "mark_read",
        "note",
        "ping",
    }
)
CHAT_ACTIONS = frozenset(
    {"accept", "decline", "reply", "note", "resolve", "escalate", "transfer", "mark_read"}
)
MAX_REQUEST_ID_LENGTH = 100
MAX_REASON_LENGTH = 1000

_decoder = msgspec.json.Decoder()


@dataclass(frozen=True)
class ActionRequest:
    action: str
    request_id: str | int
    conversation_id: int | None = None
    fields: dict[str, Any] = field(default_factory=dict)


def _positive_int(value: Any, name: str, request_id: Any) -> int:
    if isinstance(value, bool):
        value = None
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if not isinstance(value, int) or value <= 0:
        raise FrameError(
            "invalid", f"{name} must be a positive integer.", field=name, request_id=request_id
        )
    return value


MAX_ATTACHMENT_IDS = 10


def _id_list(value: Any, name: str, request_id: Any) -> list[int]:
    """An optional list of at most MAX_ATTACHMENT_IDS positive ids."""
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > MAX_ATTACHMENT_IDS:
        raise FrameError(
            "invalid",
            f"{name} must be a list of at most {MAX_ATTACHMENT_IDS} ids.",
            field=name,
            request_id=request_id,
        )
    return [_positive_int(item, name, request_id) for item in value]


def _text(value: Any, name: str, request_id: Any, *, required: bool, limit: int) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise FrameError(
            "invalid", f"{name} must be a non-empty string.", field=name, request_id=request_id
        )
    if len(value) > limit:
        raise FrameError(
            "invalid",
            f"{name} is longer than {limit} characters.",
            field=name,
            request_id=request_id,
        )
    return value


def parse_action(text: str, allowed: frozenset[str]) -> ActionRequest:
    """Validate one client frame; raises FrameError with the request id when there is one."""
    try:
        payload = _decoder.decode(text)
    except msgspec.DecodeError:
        raise FrameError("bad_frame", "Frames must be JSON objects.") from None
    if not isinstance(payload, dict):
        raise FrameError("bad_frame", "Frames must be JSON objects.")
    request_id = payload.get("request_id")
    if isinstance(request_id, bool) or not isinstance(request_id, str | int):
        raise FrameError(
            "invalid", "request_id must be a string or an integer.", field="request_id"
        )
    if isinstance(request_id, str) and not 0 < len(request_id) <= MAX_REQUEST_ID_LENGTH:
        raise FrameError(
            "invalid",
            f"request_id must have 1 to {MAX_REQUEST_ID_LENGTH} characters.",
            field="request_id",
        )
    action = payload.get("action")
    if not isinstance(action, str) or action not in allowed:
        raise FrameError(
            "unknown_action",
            f"Unknown action {action!r}; this socket accepts: {', '.join(sorted(allowed))}.",
            field="action",
            request_id=request_id,
        )
    conversation_id = None
    if action in CHAT_ACTIONS:
        conversation_id = _positive_int(
            payload.get("conversation_id"), "conversation_id", request_id
        )
    fields: dict[str, Any] = {}
    if action == "reply":
        fields["attachment_ids"] = _id_list(
            payload.get("attachment_ids"), "attachment_ids", request_id
        )
        fields["text"] = _text(
            payload.get("text"),
            "text",
            request_id,
            required=not fields["attachment_ids"],  # files may go without words
            limit=10_000,
        )
    elif action == "note":
        fields["text"] = _text(payload.get("text"), "text", request_id, required=True, limit=10_000)
    elif action in {"decline", "resolve"}:
        fields["reason"] = _text(
            payload.get("reason"), "reason", request_id, required=False, limit=MAX_REASON_LENGTH
        )
    elif action == "escalate":
        fields["reason"] = _text(
            payload.get("reason"), "reason", request_id, required=True, limit=MAX_REASON_LENGTH
        )
    elif action == "transfer":
        to_agent = payload.get("to_agent_id")
        # `true`: back to the chat's own queue; a queue id: to that queue of the company.
        to_queue = payload.get("to_queue", False)
        if not isinstance(to_queue, bool):
            to_queue = _positive_int(to_queue, "to_queue", request_id)
        if (to_agent is None) == (to_queue is False):
            raise FrameError(
                "invalid",
                "Name either to_agent_id or to_queue.",
                field="to_agent_id",
                request_id=request_id,
            )
        fields["to_agent_id"] = (
            None if to_agent is None else _positive_int(to_agent, "to_agent_id", request_id)
        )
        fields["to_queue"] = to_queue
        fields["reason"] = _text(
            payload.get("reason"), "reason", request_id, required=False, limit=MAX_REASON_LENGTH
        )
    elif action == "set_status":
        status = payload.get("status")
        if not isinstance(status, str):
            raise FrameError(
                "invalid", "status must be a string.", field="status", request_id=request_id
            )
        fields["status"] = status
    return ActionRequest(action, request_id, conversation_id, fields)


def frame_too_big(text: str | None, data: bytes | None, limit: int) -> bool:
    """Whether the frame is over `limit` bytes (UTF-8 for text), encoding only when in doubt."""
    if data is not None:
        return len(data) > limit
    if text is None:
        return False
    if len(text) > limit:
        return True
    return len(text) * 4 > limit and len(text.encode()) > limit


class TokenBucket:
    """`rate` frames per second sustained, `burst` at once: a flood empties it."""

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = time.monotonic()

    def take(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True
