"""④ The outbox relay (`manage.py run_outbox_relay`): publishes what writers left behind.

A writer publishes its own outbox rows right after its commit (events.outbox). When it cannot —
the process died between the commit and the publish (a `kill -9`, an OOM kill, a lost node),
or Redis failed — the rows stay, and this loop publishes every row older than
`OUTBOX_RELAY_AFTER_MS`, every `OUTBOX_RELAY_INTERVAL_MS`: with the older rows of the same
company first, in id order, under row locks, deleting them in the transaction that published
them. A relay that dies mid-way rolls its deletions back and the next turn (of this relay or
another) publishes them again, which the log script turns into no-ops: the log gets each row
once. Several relays may run (failover): they wait for each other's row locks, never publish a
row twice, and an idle turn is one index probe.

While Redis is down, turns fail and back off (up to 5 s) until it answers; the rows wait in
PostgreSQL meanwhile, so nothing committed is lost.
"""

from __future__ import annotations

import logging
import threading

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, transaction

from events.log import publish_entries
from events.outbox import claim_stale
from events.redis_clients import REDIS_ERRORS

logger = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 5.0


def relay_once(*, older_than_ms: int | None = None, limit: int | None = None) -> int:
    """Publish up to `limit` rows older than `older_than_ms`; returns how many were claimed."""
    age = settings.OUTBOX_RELAY_AFTER_MS if older_than_ms is None else older_than_ms
    with transaction.atomic():
        entries = claim_stale(age, limit or settings.OUTBOX_RELAY_BATCH)
        publish_entries(entries)
    return len(entries)


class Relay:
    """One relay loop; `run` returns when `stop` is set (SIGTERM)."""

    def __init__(self, stop: threading.Event | None = None) -> None:
        self.stop = stop or threading.Event()
        self.relayed = 0

    def run(self, *, once: bool = False) -> None:
        interval = settings.OUTBOX_RELAY_INTERVAL_MS / 1000
        delay = interval
        try:
            while not self.stop.is_set():
                try:
                    relayed = self.turn()
                except Exception as exc:  # the relay must outlive any turn: log, back off, go on
                    delay = min(max(delay, interval) * 2, MAX_BACKOFF_SECONDS)
                    if isinstance(exc, (*REDIS_ERRORS, DatabaseError)):
                        logger.warning("outbox relay: %s; retrying in %.1f s", exc, delay)
                    else:
                        logger.exception("outbox relay turn failed; retrying in %.1f s", delay)
                    connection.close()
                else:
                    delay = interval
                    self.relayed += relayed
                if once:
                    break
                self.stop.wait(delay)
        finally:
            connection.close()

    def turn(self) -> int:
        close_old_connections()
        relayed = 0
        while not self.stop.is_set():
            claimed = relay_once()
            relayed += claimed
            if claimed < settings.OUTBOX_RELAY_BATCH:
                break
        if relayed:
            # Not an error, but worth a line: a writer died after its commit or Redis failed.
            logger.warning("outbox relay published %d events their writers had not", relayed)
        return relayed
