"""Dramatiq actor of retention (django_dramatiq discovers `tasks` modules).

`retention_housekeeping` is enqueued by `run_sla_timer`'s housekeeping (sla_engine/timer.py),
at most once per `RETENTION_EVERY` seconds across all timers; see `housekeeping.run_turn`.
"""

from __future__ import annotations

import logging

import dramatiq

logger = logging.getLogger(__name__)

QUEUE = "metrics"  # the slow, periodic queue the roll-ups use
TIME_LIMIT_MS = 60 * 60_000


@dramatiq.actor(queue_name=QUEUE, max_retries=3, time_limit=TIME_LIMIT_MS)
def retention_housekeeping() -> None:
    from routing_service.retention.housekeeping import run_turn

    result = run_turn()
    logger.info(
        "retention: partitions created %s, dropped %s, rows purged %s",
        result.created,
        result.dropped,
        dict(result.purged),
    )
