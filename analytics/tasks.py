"""Analytics workers (dramatiq): CSV imports and live chats turned into sessions.

Both actors are thin: they take an id and call one domain function that re-fetches and does
nothing when the state has moved on, so redelivery and retries are harmless. They run on the
"analytics" queue, so a long import never delays the outbound replies of the "outbound" queue.
"""

from __future__ import annotations

import logging
from typing import Final

import dramatiq

from analytics import importer, live, rollups
from analytics.models import DataSource
from routing_service.db.replica import pin_to_primary

logger = logging.getLogger(__name__)

QUEUE: Final = "analytics"
# A 512 MB file at a slow 5 MB/s is under two minutes; an hour leaves room for a busy database.
IMPORT_TIME_LIMIT_MS: Final = 60 * 60 * 1000
# Retries serve two cases: the database was unreachable before the import could start, and
# "another run holds it" (see importer.run_import), checked again when that run would be stale.
IMPORT_MAX_RETRIES: Final = 5


@dramatiq.actor(
    queue_name=QUEUE,
    max_retries=IMPORT_MAX_RETRIES,
    min_backoff=5_000,
    max_backoff=10 * 60_000,
    time_limit=IMPORT_TIME_LIMIT_MS,
)
def import_data_source(data_source_id: int) -> None:
    """Import an uploaded CSV data source (a no-op unless it is pending or abandoned), then
    build its daily roll-up so the first dashboard does not have to."""
    result = importer.run_import(data_source_id)
    if result.outcome is importer.Outcome.BUSY and result.retry_after is not None:
        delay_ms = int(result.retry_after.total_seconds() * 1000) + 1_000
        raise dramatiq.Retry(f"data source {data_source_id} is being imported", delay=delay_ms)
    logger.info("data source %s: import %s", data_source_id, result.outcome)
    if result.outcome in (importer.Outcome.DONE, importer.Outcome.FAILED):
        # Its owner reads the primary for a while: their dashboards show the import at once.
        pin_to_primary(
            DataSource.objects.unscoped()
            .filter(pk=data_source_id)
            .values_list("created_by_id", flat=True)
            .first()
        )
        try:
            rollups.roll_up_data_source(data_source_id)
        except Exception:  # the import stands; dashboards build the roll-up when they need it
            logger.exception("data source %s: roll-up failed", data_source_id)


@dramatiq.actor(queue_name=QUEUE, max_retries=10, time_limit=60_000)
def record_live_session(conversation_id: int) -> None:
    """Record a resolved conversation as a ChatSession (refreshes it if already recorded)."""
    live.session_from_conversation(conversation_id)
