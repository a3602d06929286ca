"""⑥ The SLA timer worker (`manage.py run_sla_timer`): the process that owns time.

Each turn it fires everything due (batches of `fire_due`, see firing.py), does its
housekeeping, then sleeps until the next deadline — read from the partial index in one step —
but never longer than `max_sleep`, so a deadline scheduled while it sleeps is seen within that
bound. Deadlines are minutes away when they are scheduled (targets are whole business
minutes), so polling the index a few times a second costs a fraction of a millisecond each and
needs no wake-up channel; the timer wakes for the first deadline it already knows about to the
millisecond (figures in tests/perf/bench_sla_timer.py).

Several timers may run at once (failover, or throughput in a burst): they claim disjoint rows
with SKIP LOCKED and each row fires once. Nothing lives in memory: a restarted timer continues
from the table. Housekeeping: every `metrics_every` seconds one timer (a Redis SET NX decides
which) enqueues the daily metrics roll-up (`sla_engine.tasks.roll_up_chat_metrics`) and the
sweep of attachment downloads whose task was lost (`retry_stale_attachments`); every
`RETENTION_EVERY` seconds (hourly) one timer enqueues `retention_housekeeping` (partitions
ahead, per-company purge, expired months dropped: routing_service/retention).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import socket
import threading
import time

import redis
from django.conf import settings
from django.db import connection
from django.utils import timezone

from events.redis_clients import sync_client
from routing_service.observability import metrics
from sla_engine.firing import (
    DEFAULT_BATCH,
    INFRASTRUCTURE_ERRORS,
    BatchResult,
    fire_due,
    next_due_at,
)

logger = logging.getLogger(__name__)
DEFAULT_MAX_SLEEP = 0.2
DEFAULT_METRICS_EVERY = 300.0
# When a company's routing lock was busy, look again this soon (an action takes milliseconds).
BUSY_RETRY = 0.005


def timer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def metrics_lock_key() -> str:
    return f"{settings.REDIS_KEY_PREFIX}:sla:metrics-rollup"


def retention_lock_key() -> str:
    return f"{settings.REDIS_KEY_PREFIX}:sla:retention"


class SlaTimerWorker:
    """One timer process: fire due deadlines, sleep until the next one, repeat."""

    def __init__(
        self,
        *,
        name: str | None = None,
        batch_size: int = DEFAULT_BATCH,
        max_sleep: float = DEFAULT_MAX_SLEEP,
        metrics_every: float = DEFAULT_METRICS_EVERY,
    ) -> None:
        self.name = name or timer_name()
        self.batch_size = batch_size
        self.max_sleep = max_sleep
        self.metrics_every = metrics_every
        self.fired = 0
        self.dropped = 0
        self._stop = threading.Event()
        self._busy = False
        self._claimed = 0
        self._next_metrics = time.monotonic() + min(metrics_every, 30.0)
        self._redis: redis.Redis | None = None

    # --- lifecycle -----------------------------------------------------------------------------

    def request_stop(self) -> None:
        """SIGTERM: finish the batch in hand (it commits or rolls back as a whole), exit."""
        self._stop.set()

    def install_signal_handlers(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.request_stop())

    def run(self, *, max_idle_turns: int | None = None) -> None:
        metrics.start_metrics_server(settings.SLA_TIMER_METRICS_PORT)
        logger.info("sla timer %s started", self.name)
        idle = 0
        try:
            while not self._stop.is_set():
                try:
                    fired, delay = self.turn()
                except INFRASTRUCTURE_ERRORS:
                    logger.exception("database unavailable; sla timer retries in 1 s")
                    connection.close()
                    fired, delay = 0, 1.0
                idle = 0 if fired else idle + 1
                if max_idle_turns is not None and idle >= max_idle_turns:
                    break
                if delay > 0:
                    self._stop.wait(delay)
        finally:
            connection.close()
            if self._redis is not None:
                self._redis.close()
        logger.info("sla timer %s stopped after %d firings", self.name, self.fired)

    # --- one turn ------------------------------------------------------------------------------

    def turn(self) -> tuple[int, float]:
        """Fire what is due; returns (firings, seconds to sleep before the next turn).

        An idle turn is one index probe (`next_due_at`). A deadline that is due but could not
        be claimed — another timer holds it, or its company's routing lock is busy — is looked
        at again after `BUSY_RETRY` rather than in a busy loop.
        """
        due = next_due_at()
        now = timezone.now()
        if due is not None and due <= now:
            fired = self.drain()
            if self._claimed == 0 or self._busy:
                return fired, BUSY_RETRY
            return fired, 0.0
        self.housekeeping()
        if due is None:
            return 0, self.max_sleep
        return 0, min(self.max_sleep, (due - now).total_seconds())

    def drain(self, now: dt.datetime | None = None) -> int:
        """Fire batches until nothing more is due (or stop is requested); returns firings."""
        fired = 0
        self._busy = False
        self._claimed = 0
        while not self._stop.is_set():
            try:
                result = fire_due(now=now or timezone.now(), limit=self.batch_size)
            except INFRASTRUCTURE_ERRORS:
                raise
            except Exception:
                logger.exception("an SLA batch failed; firing its rows one at a time")
                result = self._one_by_one(now)
            fired += result.fired
            self._claimed += result.claimed
            self.dropped += result.dropped
            self._busy = self._busy or result.busy_companies > 0
            if result.candidates < self.batch_size:
                break  # every due row was in this batch
        self.fired += fired
        return fired

    def _one_by_one(self, now: dt.datetime | None) -> BatchResult:
        """Fire the next batch's worth of rows singly: a bad row is dropped on its own."""
        total = BatchResult()
        for _ in range(self.batch_size):
            result = fire_due(now=now or timezone.now(), limit=1)
            total.fired += result.fired
            total.dropped += result.dropped
            total.claimed += result.claimed
            total.busy_companies += result.busy_companies
            if result.candidates == 0:
                break
        total.candidates = total.claimed  # more may be due: the next turn looks again
        return total

    def housekeeping(self) -> None:
        if self.metrics_every <= 0 or time.monotonic() < self._next_metrics:
            return
        self._next_metrics = time.monotonic() + self.metrics_every
        try:
            if self._redis is None:
                self._redis = sync_client(settings.REDIS_URL)
            # One enqueue per interval, whichever timer gets here first.
            ttl = max(1, int(self.metrics_every) - 1)
            if self._redis.set(metrics_lock_key(), self.name, nx=True, ex=ttl):
                from routing_service.attachments.tasks import retry_stale_attachments
                from sla_engine.tasks import roll_up_chat_metrics

                roll_up_chat_metrics.send()
                # Downloads whose task was lost (a router died between commit and enqueue).
                retry_stale_attachments.send()
            # Partitions ahead, retention purge, expired months dropped: hourly by default.
            retention_every = int(getattr(settings, "RETENTION_EVERY", 3600))
            if retention_every > 0 and self._redis.set(
                retention_lock_key(), self.name, nx=True, ex=retention_every
            ):
                from routing_service.retention.tasks import retention_housekeeping

                retention_housekeeping.send()
        except redis.RedisError:
            logger.exception("could not enqueue the metrics roll-up")
