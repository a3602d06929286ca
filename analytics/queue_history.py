"""Live metrics counted again from the database: the interval history and the Redis rebuild.

The database is the record; the Redis counters (analytics.queue_counters) are a fast copy.
``increments`` reads the chats that arrived, were answered or ended in a range (three index
ranges: ``conv_company_created_idx``, ``conv_company_answered_idx``,
``conv_company_ended_idx``) and turns each into the *same* increments the chat actions write
live (the functions of analytics.queue_counters, the queue's targets of
analytics.queue_targets), so history, rebuild and live numbers cannot disagree on a
definition. Two uses:

* ``roll_up_intervals``: 15-minute ``QueueInterval`` rows per queue and for the company,
  recomputed and replaced (idempotent) by the periodic metrics roll-up
  (``sla_engine.tasks.roll_up_chat_metrics``); rows older than
  ``QueueInterval.RETENTION_DAYS`` are dropped there.
* ``rebuild_counters``: ``manage.py rebuild_live_metrics`` after Redis lost its data.

One difference, by design: a chat is counted against the queue it is in *now* (a transferred
chat moves its history with it), where the live counters used its queue at the moment.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any, Final

from django.db import transaction
from django.db.models import Q, Sum

from analytics import queue_counters
from analytics.models import QueueInterval
from analytics.queue_targets import DEFAULT, QueueTargets, company_queues
from routing_service.chats.models import Conversation, ConversationStatus
from routing_service.tenancy.models import Company

__all__ = [
    "INTERVAL",
    "increments",
    "interval_start",
    "queue_table",
    "rebuild_counters",
    "roll_up_intervals",
    "roll_up_recent_intervals",
]

INTERVAL: Final = dt.timedelta(minutes=15)
# Each periodic run recomputes this much before now: chats answered or ended late still land in
# the right interval, and a missed run or two is caught up.
LOOKBACK: Final = dt.timedelta(hours=2)
_ITERATOR_CHUNK: Final = 2000


def interval_start(at: dt.datetime) -> dt.datetime:
    """The start of the 15-minute interval ``at`` is in (UTC)."""
    seconds = int(at.timestamp()) // 900 * 900
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)


def increments(
    company_id: int, start: dt.datetime, end: dt.datetime
) -> Iterator[queue_counters.Increment]:
    """Every counter increment of the company's events in ``[start, end)``."""
    queues = {q.queue_id: q for q in company_queues(company_id)}
    default = next((q.queue_id for q in queues.values()), None)  # default queue first

    def targets(queue_id: int | None) -> tuple[int | None, QueueTargets]:
        queue_id = queue_id if queue_id in queues else default
        return queue_id, queues.get(queue_id, DEFAULT)

    chats = Conversation.objects.unscoped().filter(company_id=company_id).order_by()
    arrived = chats.filter(created_at__gte=start, created_at__lt=end)
    for queue_id, created in arrived.values_list("queue_id", "created_at").iterator(
        _ITERATOR_CHUNK
    ):
        yield from queue_counters.arrived(targets(queue_id)[0], created)
    answered = chats.filter(first_response_at__gte=start, first_response_at__lt=end)
    for queue_id, created, first in answered.values_list(
        "queue_id", "created_at", "first_response_at"
    ).iterator(_ITERATOR_CHUNK):
        assert first is not None  # the filter's range
        target_queue, queue = targets(queue_id)
        yield from queue_counters.answered(target_queue, created, first, queue.threshold_seconds)
    ended = chats.filter(
        Q(status=ConversationStatus.ABANDONED, first_response_at__isnull=True)
        | Q(status=ConversationStatus.RESOLVED, first_response_at__isnull=False),
        resolved_at__gte=start,
        resolved_at__lt=end,
    )
    for queue_id, status, created, first, resolved in ended.values_list(
        "queue_id", "status", "created_at", "first_response_at", "resolved_at"
    ).iterator(_ITERATOR_CHUNK):
        assert resolved is not None  # the filter's range
        target_queue, queue = targets(queue_id)
        if status == ConversationStatus.ABANDONED:
            counts = queue.abandon_counts(created, resolved)
            yield from queue_counters.abandoned(target_queue, resolved, counts=counts)
        elif first is not None:
            yield from queue_counters.handled(target_queue, first, resolved)


def _by_interval(
    items: Iterable[queue_counters.Increment],
) -> dict[tuple[dt.datetime, str], dict[str, int]]:
    sums: dict[tuple[dt.datetime, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for minute, scope, field, amount in items:
        sums[(interval_start(dt.datetime.fromtimestamp(minute * 60, tz=dt.UTC)), scope)][field] += (
            amount
        )
    return sums


def roll_up_intervals(company_id: int, start: dt.datetime, end: dt.datetime) -> int:
    """Recompute the company's intervals in ``[start, end)`` (rounded out to whole intervals)
    and replace their rows; returns the rows written. Idempotent."""
    start = interval_start(start)
    if interval_start(end) != end:
        end = interval_start(end) + INTERVAL
    sums = _by_interval(increments(company_id, start, end))
    rows = [
        QueueInterval(
            company_id=company_id,
            queue_id=None if scope == queue_counters.ALL else int(scope),
            start=at,
            **{f: values.get(f, 0) for f in queue_counters.FIELDS},
        )
        for (at, scope), values in sorted(sums.items(), key=lambda kv: (kv[0][0], kv[0][1]))
    ]
    with transaction.atomic():
        QueueInterval.objects.unscoped().filter(
            company_id=company_id, start__gte=start, start__lt=end
        ).delete()
        QueueInterval.objects.bulk_create(rows, batch_size=1000)
    return len(rows)


def roll_up_recent_intervals(now: dt.datetime) -> int:
    """The periodic run: every company's last ``LOOKBACK``, and the retention cut."""
    written = 0
    for company_id in Company.objects.order_by("pk").values_list("pk", flat=True):
        written += roll_up_intervals(company_id, now - LOOKBACK, now)
    cutoff = now - dt.timedelta(days=QueueInterval.RETENTION_DAYS)
    QueueInterval.objects.unscoped().filter(start__lt=cutoff).delete()
    return written


def rebuild_counters(company_id: int, now: dt.datetime) -> int:
    """Write the company's Redis counters again from the database for the longest window
    (drops the buckets first, so a run is idempotent); returns the increments written."""
    first = queue_counters.minute_of(now) - queue_counters.KEEP_SECONDS // 60
    start = dt.datetime.fromtimestamp(first * 60, tz=dt.UTC)
    items = list(increments(company_id, start, now + dt.timedelta(minutes=1)))
    queue_counters.clear(company_id, range(first, queue_counters.minute_of(now) + 1))
    queue_counters.write(company_id, items)
    return len(items)


def queue_table(company_id: int, start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
    """The chat dashboard's "by queue" table: each queue's sums over ``[start, end)`` from its
    interval rows (one aggregate query, "WHERE company_id = ? AND start >= ? AND start < ?"),
    with the live metrics' ratios; every queue listed, default first, quiet ones as zeros."""
    sums = {
        row["queue_id"]: row
        for row in QueueInterval.objects.unscoped()
        .filter(company_id=company_id, queue__isnull=False, start__gte=start, start__lt=end)
        .values("queue_id")
        .annotate(**{f: Sum(f) for f in queue_counters.FIELDS})
        .order_by()
    }
    table = []
    for queue in company_queues(company_id):
        row = sums.get(queue.queue_id) or dict.fromkeys(queue_counters.FIELDS, 0)
        judged = row["answered"] + row["abandoned_counted"]
        table.append(
            {
                "id": queue.queue_id,
                "name": queue.name,
                **{f: row[f] for f in queue_counters.FIELDS},
                "service_level": row["answered_in_time"] / judged if judged else None,
                "service_level_seconds": queue.threshold_seconds,
                "asa_seconds": row["wait_ms"] / 1000 / row["answered"] if row["answered"] else None,
                "aht_seconds": row["handle_ms"] / 1000 / row["handled"] if row["handled"] else None,
            }
        )
    return table
