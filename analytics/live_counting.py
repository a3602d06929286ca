"""What each chat event adds to the live metrics counters: the actions' one call each.

The chat actions call these next to their outbox publish, inside their transaction; the
counters are written after the commit (analytics.queue_counters.record). Each event counts
against the chat's queue (its company's default queue while it has none) with that queue's
threshold and abandon policy at the time, and against the company (``all``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Protocol

from analytics import queue_counters
from analytics.queue_targets import resolve_queue_id, targets_of

__all__ = ["count_abandoned", "count_answered", "count_arrivals", "count_handled"]


class _Chat(Protocol):
    company_id: int
    queue_id: int | None
    created_at: dt.datetime


def count_arrivals(company_id: int, chats: Iterable[_Chat]) -> None:
    """New chats: offered, in the minute of their first message."""
    increments: list[queue_counters.Increment] = []
    default: int | None = None
    looked_up = False
    for chat in chats:
        queue_id = chat.queue_id
        if queue_id is None:
            if not looked_up:
                default, looked_up = resolve_queue_id(company_id, None), True
            queue_id = default
        increments += queue_counters.arrived(queue_id, chat.created_at)
    queue_counters.record(company_id, increments)


def count_answered(chat: _Chat, at: dt.datetime) -> None:
    """The chat's first agent reply."""
    queue_id = resolve_queue_id(chat.company_id, chat.queue_id)
    threshold = targets_of(queue_id).threshold_seconds
    queue_counters.record(
        chat.company_id, queue_counters.answered(queue_id, chat.created_at, at, threshold)
    )


def count_abandoned(chat: _Chat, at: dt.datetime) -> None:
    """Closed as abandoned without an answer."""
    queue_id = resolve_queue_id(chat.company_id, chat.queue_id)
    counts = targets_of(queue_id).abandon_counts(chat.created_at, at)
    queue_counters.record(chat.company_id, queue_counters.abandoned(queue_id, at, counts=counts))


def count_handled(chat: _Chat, answered_at: dt.datetime, at: dt.datetime) -> None:
    """Resolved after an answer: its handle time."""
    queue_id = resolve_queue_id(chat.company_id, chat.queue_id)
    queue_counters.record(chat.company_id, queue_counters.handled(queue_id, answered_at, at))
