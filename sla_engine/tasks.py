"""Dramatiq actors of the SLA engine (django_dramatiq discovers `tasks` modules).

`roll_up_chat_metrics` refreshes the daily ChatResponseTracking rows and the 15-minute queue
intervals (analytics.queue_history). It is enqueued every few
minutes by `run_sla_timer` (one timer per interval, see sla_engine/timer.py) and is
idempotent: it recomputes whole days, so a duplicate or retried run changes nothing.
"""

from __future__ import annotations

import logging

import dramatiq

logger = logging.getLogger(__name__)

QUEUE = "metrics"
TIME_LIMIT_MS = 15 * 60_000


@dramatiq.actor(queue_name=QUEUE, max_retries=3, time_limit=TIME_LIMIT_MS)
def roll_up_chat_metrics() -> None:
    """Recompute the recent days (and any gap since the last run) for every company."""
    from analytics.metrics import roll_up_recent

    written = roll_up_recent()
    logger.info("daily chat metrics: %d rows written", written)
    from django.utils import timezone

    from analytics.queue_history import roll_up_recent_intervals

    intervals = roll_up_recent_intervals(timezone.now())
    logger.info("queue intervals: %d rows written", intervals)
