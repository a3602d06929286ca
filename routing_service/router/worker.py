"""② The routing worker: inbound stream → database → events, exactly once in effect.

A member of one Redis consumer group over the inbound shards, reading only the shards it holds
a lease on (router/leases.py): one router per shard at a time, so batches of one shard — and so
of one conversation — commit in stream order. Each loop turn it reads a batch
(XREADGROUP), records it in PostgreSQL — split by shard between `ROUTER_DB_LANES` database
threads, one transaction per lane, falling back to one transaction per entry when it fails so a
bad entry never blocks the others; the batch's events are outbox rows of that transaction,
written with one INSERT just before its commit (events/outbox.py) — then publishes them with
one pipelined call and acknowledges (XACK) only what committed. Delivery is at-least-once; the
unique (channel, provider message id) constraint makes a replay a no-op. A router killed
between a commit and its publish leaves the events to the outbox relay: none is lost.

An entry that fails for a reason of its own is retried by this router after a short back-off
(0.1 s, 0.5 s, then every 2 s: router/retries.py) and moves to the dead-letter stream with its
error once it failed `max_attempts` times — seconds after it arrived, not minutes; the later
entries of its conversation wait behind it, so they still commit in stream order. An outage
(the database unreachable) counts no attempt: the batch stays pending and is read again first.

Housekeeping on the same loop: offers whose accept timeout passed are expired and re-offered
(`expire_offers`, about every 0.5 s — not a dramatiq delay), waiting chats overflow to the next
queue (`overflow_waiting_chats`, same tick), entries left pending by a dead router
are claimed (XAUTOCLAIM), and acknowledged entries older than the retention are trimmed — never
one that is still pending or not yet delivered.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import gc
import logging
import os
import signal
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from django.conf import settings
from django.db import (
    InterfaceError,
    OperationalError,
    close_old_connections,
    connections,
)
from redis.exceptions import ResponseError

from events import outbox
from events.coalesce import coalesce_queue_updates
from events.redis_clients import REDIS_ERRORS, async_client, cluster_enabled
from routing_service.chats.actions.inbound import InboundItem, receive_inbound_batch
from routing_service.chats.actions.receipts import record_status_event
from routing_service.chats.actions.routing import (
    abandon_stale_chats,
    end_decline_cooldowns,
    expire_offers,
)
from routing_service.chats.actions.typing import customer_typing
from routing_service.chats.models import Channel
from routing_service.chats.queries import rows
from routing_service.ingest import stream
from routing_service.ingest.stream import InboundEntry, StatusEntry, TypingEntry
from routing_service.observability import logging as obs_logging
from routing_service.observability import metrics
from routing_service.queues.actions import (
    overflow_waiting_chats,
)
from routing_service.router.leases import ShardLeases
from routing_service.router.models import DeadLetter
from routing_service.router.retries import RetryQueue, order_keys, retry_delay

logger = logging.getLogger(__name__)

# On a Redis Cluster an idle router polls its shards at most this far apart (`_read_per_shard`).
CLUSTER_POLL_MAX_SECONDS = 0.05

# Errors that say "the database is unreachable", not "this entry is bad": they never count
# towards an entry's attempts; the router backs off and retries.
INFRASTRUCTURE_ERRORS = (OperationalError, InterfaceError)


@dataclass
class StreamEntry:
    stream: str
    entry_id: str
    payload: bytes
    entry: InboundEntry | StatusEntry | TypingEntry | None = None
    decode_error: str | None = None


@dataclass
class BatchOutcome:
    acked: list[StreamEntry] = field(default_factory=list)
    failed: list[tuple[StreamEntry, str]] = field(default_factory=list)
    # Not tried: an earlier entry of the same conversation failed in this batch.
    deferred: list[StreamEntry] = field(default_factory=list)
    infrastructure_error: bool = False


# The garbage collector's young-generation threshold in a router: a batch of 500 first
# messages allocates some 100,000 container objects, nearly all freed by reference counting.
# At CPython's 700 they set off hundreds of collections a batch, and each tenth promotion
# pass a full one through the whole process (issue 16: about a sixth of a batch's time).
GC_YOUNG_THRESHOLD = 20_000


def tune_gc() -> None:
    """Once at start-up, after Django and the app are loaded: move every object alive now
    (modules, models, settings — never garbage) out of the collector's reach, and collect
    young objects less often. Cycles are still collected, only in bigger steps."""
    gc.collect()
    gc.freeze()
    _young, middle, old = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, middle, old)


def consumer_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def apply_entries(items: Sequence[StreamEntry], channels: dict[int, Channel]) -> None:
    """Record decoded entries: receipts one by one, messages as one set-based batch.

    Precondition: runs inside a transaction (a savepoint is fine).
    """
    missing = {
        item.entry.channel_id
        for item in items
        if isinstance(item.entry, InboundEntry) and item.entry.channel_id not in channels
    }
    if missing:
        channels.update((c.pk, c) for c in rows(Channel, {"id": missing}))
    messages: list[InboundItem] = []
    for item in items:
        entry = item.entry
        assert entry is not None
        if isinstance(entry, StatusEntry):
            record_status_event(entry.channel_id, entry.status)
            continue
        if isinstance(entry, TypingEntry):
            # Told after the batch commits, behind the messages recorded before it.
            customer_typing(
                entry.channel_id,
                entry.company_id,
                entry.typing.client_external_id,
                typing=entry.typing.typing,
            )
            continue
        channel = channels.get(entry.channel_id)
        if channel is None:
            raise Channel.DoesNotExist(f"channel {entry.channel_id} does not exist")
        messages.append(InboundItem(channel, entry.message, entry.received_at))
    if messages:
        receive_inbound_batch(messages)


def process_batch(items: Sequence[StreamEntry]) -> BatchOutcome:
    """Record a batch in the database and publish its events; say which entries to ack.

    Runs in the router's single database thread. The inbound action takes company locks in
    ascending id order, so concurrent routers never deadlock on them.
    """
    close_old_connections()
    outcome = BatchOutcome()
    good: list[StreamEntry] = []
    for item in items:
        if item.entry is None:
            outcome.failed.append((item, item.decode_error or "undecodable entry"))
        else:
            good.append(item)
    channels: dict[int, Channel] = {}
    obs_logging.bind_companies(item.entry for item in good)
    try:
        # A batch's queue changes reach each console as one `queue.updated` (issue 16).
        with outbox.batch(coalesce_queue_updates) as events:
            apply_entries(good, channels)
        metrics.observe_routed(item.entry for item in good)
        logger.debug("routed a batch of %d entries", len(good))
        events.publish()
        outcome.acked.extend(good)
        return outcome
    except INFRASTRUCTURE_ERRORS:
        logger.exception("database unavailable while routing a batch")
        outcome.infrastructure_error = True
        return outcome
    except Exception:
        if len(good) == 1:
            logger.warning("entry %s failed", good[0].entry_id, exc_info=True)
        else:
            logger.warning("batch of %d failed; retrying one by one", len(good), exc_info=True)
    failed_keys: set[Any] = set()
    for item in good:
        keys = order_keys(item.entry)
        if not failed_keys.isdisjoint(keys):
            # Recording it before the failed one would put the conversation out of order.
            outcome.deferred.append(item)
            failed_keys |= keys
            continue
        obs_logging.bind_companies([item.entry])
        try:
            with outbox.batch(coalesce_queue_updates) as events:
                apply_entries([item], channels)
            metrics.observe_routed([item.entry])
            events.publish()
            outcome.acked.append(item)
        except INFRASTRUCTURE_ERRORS:
            logger.exception("database unavailable while routing an entry")
            outcome.infrastructure_error = True
            return outcome
        except Exception as exc:  # a bad entry: counted, retried soon, dead-lettered at last
            logger.warning("entry %s failed: %r", item.entry_id, exc)
            outcome.failed.append((item, f"{type(exc).__name__}: {exc}"))
            failed_keys |= keys
    return outcome


def record_dead_letter(item: StreamEntry, error: str, attempts: int, dead_stream: str) -> None:
    company_id = item.entry.company_id if item.entry else None
    DeadLetter.objects.get_or_create(
        stream=item.stream,
        entry_id=item.entry_id,
        defaults={
            "company_id": company_id,
            "payload": item.payload.decode("utf-8", "replace"),
            "error": error[:10_000],
            "attempts": attempts,
        },
    )


class Router:
    """One router process. Several may run at once; they share the consumer group and split
    the shards between them by lease (`self.streams` is what this one holds right now)."""

    def __init__(
        self,
        *,
        name: str | None = None,
        batch_size: int | None = None,
        block_ms: int | None = None,
        claim_idle_ms: int | None = None,
        max_attempts: int | None = None,
        lanes: int | None = None,
    ) -> None:
        self.name = name or consumer_name()
        self.group = settings.ROUTER_GROUP
        self.batch_size = batch_size or settings.ROUTER_BATCH_SIZE
        self.block_ms = block_ms or settings.ROUTER_BLOCK_MS
        self.claim_idle_ms = claim_idle_ms or settings.ROUTER_CLAIM_IDLE_MS
        self.max_attempts = max_attempts or settings.ROUTER_MAX_ATTEMPTS
        self.all_streams = stream.all_stream_keys()
        self.streams: list[str] = []
        self.redis = async_client(settings.STREAM_REDIS_URL)
        # On a Redis Cluster each shard is its own slot and XREADGROUP takes one slot per call:
        # one read per shard, sent to its slot's owner (`_read_per_shard`).
        self.cluster = cluster_enabled()
        self.leases = ShardLeases(self.redis, self.name, self.all_streams)
        self.lease_renew_s = settings.ROUTER_LEASE_RENEW_MS / 1000
        self._next_lease = 0.0
        # After a database outage left entries pending: re-read our own pending entries (from
        # id 0, per shard from where the last re-read stopped) before any new one, so a later
        # message never commits before an earlier one.
        self._redeliver = False
        self._redeliver_from: dict[str, str] = {}
        # Entries that failed, waiting for their retry, and the entries waiting behind them.
        self.retries: RetryQueue[StreamEntry] = RetryQueue()
        # Django's ORM is synchronous and its connections are per thread: each lane is one
        # thread with its own connection. Shards are split between the lanes batch by batch, so
        # while one lane waits on PostgreSQL another builds its statements (companies never
        # span shards, so the lanes never wait on each other's locks).
        self.lanes = [
            concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=f"router-db-{n}")
            for n in range(lanes or settings.ROUTER_DB_LANES)
        ]
        self.db = self.lanes[0]  # housekeeping and dead letters
        self.stopping = asyncio.Event()
        self.processed = 0
        self._next_housekeeping = 0.0
        self._next_trim = 0.0

    # --- lifecycle -------------------------------------------------------------------------

    def request_stop(self) -> None:
        """SIGTERM: finish the batch in hand, acknowledge it, exit."""
        self.stopping.set()

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)

    async def ensure_groups(self) -> None:
        for key in self.all_streams:
            try:
                await self.redis.xgroup_create(key, self.group, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    async def run(self, *, max_idle_loops: int | None = None) -> None:
        metrics.start_metrics_server(settings.ROUTER_METRICS_PORT)
        idle = 0
        try:
            await self._until_redis_answers(self._start)
            while not self.stopping.is_set():
                got = await self._until_redis_answers(self.step)
                idle = 0 if got else idle + 1
                if max_idle_loops is not None and idle >= max_idle_loops:
                    break
        finally:
            try:
                await self.leases.release_all()
            except REDIS_ERRORS:
                logger.warning("releasing shard leases failed; they expire on their own")
            await self.redis.aclose()
            for lane in self.lanes:
                lane.submit(connections.close_all).result()
                lane.shutdown(wait=True)

    async def _start(self) -> int:
        await self.ensure_groups()
        logger.info("router %s sharing %d shard(s)", self.name, len(self.all_streams))
        # Lease shards (taking over their pending entries), then our own pending ones (a
        # restart under the same name), then new ones.
        await self.refresh_leases()
        await self._drain_own_pending()
        return 0

    async def _until_redis_answers(self, turn: Callable[[], Awaitable[int]]) -> int:
        """Run one turn; while Redis is unreachable, back off (up to 5 s) and try again.

        Nothing is lost meanwhile: unacknowledged entries stay pending (a committed batch whose
        XACK failed is redelivered and recorded as duplicates), and leases that expired during
        the outage are renegotiated by the next turn before anything is read.
        """
        delay = 0.1
        while True:
            try:
                return await turn()
            except REDIS_ERRORS as exc:
                if self.stopping.is_set():
                    return 0
                logger.warning("Redis unavailable (%s); retrying in %.1f s", exc, delay)
                self._next_lease = 0.0  # renegotiate shard leases first when it is back
                if self.cluster:
                    # A failover may have cut off a read whose entries are now pending for us
                    # unseen: re-read our own pending entries first, in order, when it is back.
                    self._redeliver = True
                    self._redeliver_from = {}
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.stopping.wait(), delay)
                delay = min(delay * 2, 5.0)

    async def step(self) -> int:
        """One loop turn: housekeeping when due, then one batch. Returns entries handled."""
        now = time.monotonic()
        if now >= self._next_lease:
            self._next_lease = now + self.lease_renew_s
            await self.refresh_leases()
        if not self.streams:  # a hot standby: wait for a shard to become free
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), self.lease_renew_s)
            return 0
        if now >= self._next_housekeeping:
            self._next_housekeeping = now + 0.5
            await self.housekeeping(trim=now >= self._next_trim)
            if now >= self._next_trim:
                self._next_trim = now + 30
        retried = await self._retry_due()
        redeliver = self._redeliver
        start: dict[Any, Any]
        if redeliver:
            start = {key: self._redeliver_from.get(key, "0") for key in self.streams}
        else:
            start = dict.fromkeys(self.streams, ">")
        block = None if redeliver or retried else self._block_ms()
        if self.cluster:
            items = await self._read_per_shard(start, block)
        else:
            response = await self.redis.xreadgroup(
                self.group, self.name, start, count=self.batch_size, block=block
            )
            items = self._items(response)
        if redeliver:
            # Held entries are pending too: go past them rather than re-read them forever.
            for item in items:
                self._redeliver_from[item.stream] = item.entry_id
            if len(items) < self.batch_size:
                self._redeliver = False
        if items:
            await self.handle(items)
        return len(items) + retried

    async def _xreadgroup(self, start: dict[Any, Any]) -> list[StreamEntry]:
        """A non-blocking read of several shards: one call, or one per shard on a cluster."""
        if not self.cluster:
            return self._items(
                await self.redis.xreadgroup(self.group, self.name, start, count=self.batch_size)
            )
        responses = await asyncio.gather(
            *(
                self.redis.xreadgroup(self.group, self.name, {key: at}, count=self.batch_size)
                for key, at in start.items()
            )
        )
        return [item for response in responses for item in self._items(response)]

    async def _read_per_shard(self, start: dict[Any, Any], block: int | None) -> list[StreamEntry]:
        """A turn's read on a cluster: a non-blocking read per shard, all at once; when all
        are empty and the turn may wait, polled again (2 ms, doubling to 50 ms) until entries
        come or `block` ms passed. A blocking read per shard would leave reads in flight when
        the first answers — entries a later read delivers to this router after a failover
        moved its lease would then be stranded in its pending list, behind the new owner."""
        deadline = time.monotonic() + (block or 0) / 1000
        delay = 0.002
        while True:
            items = await self._xreadgroup(start)
            remaining = deadline - time.monotonic()
            if items or remaining <= 0 or self.stopping.is_set():
                return items
            await asyncio.sleep(min(delay, remaining))
            delay = min(delay * 2, CLUSTER_POLL_MAX_SECONDS)

    def _block_ms(self) -> int:
        """How long XREADGROUP may wait for new entries: not past the next retry."""
        due = self.retries.next_due()
        if due is None:
            return self.block_ms
        return max(1, min(self.block_ms, int((due - time.monotonic()) * 1000)))

    async def _retry_due(self) -> int:
        """Record the held entries whose retry is due (and those that waited behind them)."""
        items = [i for i in self.retries.take_due(time.monotonic()) if i.stream in self.streams]
        if items:
            await self._record(items)
        return len(items)

    # --- shard leases ----------------------------------------------------------------------

    async def refresh_leases(self) -> None:
        """Renew, balance and take shards; a shard just taken has its previous owner's pending
        entries handled before anything new is read from it."""
        try:
            changes = await self.leases.refresh()
        except REDIS_ERRORS:
            logger.exception("refreshing shard leases failed")
            return
        for key in changes.lost:
            logger.warning("router %s lost the lease on %s", self.name, key)
        for key in changes.released:
            logger.info("router %s released %s", self.name, key)
        self.retries.drop_streams([*changes.lost, *changes.released])
        self.streams = sorted(self.leases.owned)
        for key in changes.gained:
            logger.info("router %s took %s", self.name, key)
            await self._take_over(key)

    async def _take_over(self, key: str) -> None:
        """Claim every entry pending on a shard we just leased, whoever read it, oldest first:
        its owner is gone (or gave the shard up between batches), so nothing is in flight."""
        start: bytes | str = "0-0"
        while not self.stopping.is_set():
            result = await self.redis.xautoclaim(
                key, self.group, self.name, 0, start, count=self.batch_size
            )
            start, entries = result[0], result[1]
            items = [_decode(key, entry_id, fields) for entry_id, fields in entries if fields]
            if items:
                await self.handle(items)
            if start in (b"0-0", "0-0") or not entries:
                break

    # --- batches ---------------------------------------------------------------------------

    @staticmethod
    def _items(response: Any) -> list[StreamEntry]:
        """Entries of an XREADGROUP answer (RESP2 shape: [[stream, [[id, fields]...]]...])."""
        items: list[StreamEntry] = []
        for key, entries in response or []:
            key = key.decode() if isinstance(key, bytes) else key
            for entry_id, fields in entries:
                if fields is None:  # deleted while pending
                    continue
                items.append(_decode(key, entry_id, fields))
        return items

    async def handle(self, items: list[StreamEntry]) -> None:
        """Record entries read from the stream, except those held for a retry and those that
        must wait behind a held entry of their conversation."""
        admitted: list[StreamEntry] = []
        for item in items:
            if item in self.retries:  # read again while pending (a re-read or a claim)
                continue
            keys = order_keys(item.entry)
            if self.retries.blocks(keys):
                self.retries.hold(item, keys)
            else:
                admitted.append(item)
        if admitted:
            await self._record(admitted)

    async def _record(self, items: list[StreamEntry]) -> None:
        loop = asyncio.get_running_loop()

        async def record(
            lane: concurrent.futures.Executor, part: list[StreamEntry]
        ) -> BatchOutcome:
            # A fresh logging context per batch (process_batch binds the company id into it).
            context = contextvars.copy_context()
            return await loop.run_in_executor(lane, context.run, process_batch, part)

        parts = split_by_stream(items, len(self.lanes))
        outcomes = await asyncio.gather(
            *(record(lane, part) for lane, part in zip(self.lanes, parts, strict=False))
        )
        outcome = BatchOutcome()
        for part_outcome in outcomes:
            outcome.acked += part_outcome.acked
            outcome.failed += part_outcome.failed
            outcome.deferred += part_outcome.deferred
            outcome.infrastructure_error |= part_outcome.infrastructure_error
        if outcome.acked:
            await self._ack(outcome.acked)
            self.processed += len(outcome.acked)
        for item, error in outcome.failed:
            await self._count_failure(item, error)
        for item in outcome.deferred:  # behind a failure of this batch (held by now)
            self.retries.hold(item, order_keys(item.entry))
        if outcome.infrastructure_error:
            self._redeliver = True
            self._redeliver_from = {}
            await asyncio.sleep(1)  # leave the rest pending; it is claimed again later

    async def _ack(self, items: Sequence[StreamEntry]) -> None:
        pipe = self.redis.pipeline(transaction=False)
        by_stream: dict[str, list[str]] = {}
        for item in items:
            by_stream.setdefault(item.stream, []).append(item.entry_id)
        for key, ids in by_stream.items():
            pipe.xack(key, self.group, *ids)
            pipe.hdel(_attempts_key(key), *ids)
        await pipe.execute()

    async def _count_failure(self, item: StreamEntry, error: str) -> None:
        """Count the attempt (in Redis: a router that takes the shard over goes on counting);
        dead-letter at the last, else retry soon."""
        attempts = await self.redis.hincrby(_attempts_key(item.stream), item.entry_id, 1)
        if item.entry is None or attempts >= self.max_attempts:
            await self._dead_letter(item, error, attempts)
        else:
            due = time.monotonic() + retry_delay(attempts)
            self.retries.retry_at(item, order_keys(item.entry), due)

    async def _dead_letter(self, item: StreamEntry, error: str, attempts: int) -> None:
        dead_stream = _dead_stream_for(item.stream)
        await self.redis.xadd(
            dead_stream,
            {
                "stream": item.stream,
                "id": item.entry_id,
                "e": item.payload,
                "error": error,
                "attempts": attempts,
                "consumer": self.name,
            },
        )
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self.db, record_dead_letter, item, error, attempts, dead_stream)
        await self._ack([item])
        logger.error(
            "entry %s moved to %s after %d attempts: %s",
            item.entry_id,
            dead_stream,
            attempts,
            error,
        )

    # --- housekeeping ----------------------------------------------------------------------

    async def housekeeping(self, *, trim: bool) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self.db, _expire_offers)
            if trim:  # every 30 s is plenty for a rule counted in minutes
                await loop.run_in_executor(self.db, _abandon_stale_chats)
        except INFRASTRUCTURE_ERRORS:
            logger.exception("expiring offers or abandoning chats failed")
        await self.claim_abandoned()
        if trim:
            await self.trim()

    async def _drain_own_pending(self) -> None:
        start: dict[Any, Any] = dict.fromkeys(self.streams, "0")
        while self.streams and not self.stopping.is_set():
            items = await self._xreadgroup(start)
            if not items:
                return
            for item in items:  # onwards: entries held for a retry stay pending
                start[item.stream] = item.entry_id
            await self.handle(items)
            if len(items) < self.batch_size:
                return

    async def claim_abandoned(self) -> int:
        """Take over entries another (dead or failing) consumer left pending too long."""
        claimed = 0
        for key in self.streams:
            start = "0-0"
            while True:
                result = await self.redis.xautoclaim(
                    key, self.group, self.name, self.claim_idle_ms, start, count=self.batch_size
                )
                start, entries = result[0], result[1]
                items = [_decode(key, entry_id, fields) for entry_id, fields in entries if fields]
                if items:
                    claimed += len(items)
                    await self.handle(items)
                if start in (b"0-0", "0-0") or not entries:
                    break
        return claimed

    async def trim(self) -> None:
        """Trim acknowledged entries older than the retention; never a pending or unread one."""
        cutoff_ms = int((time.time() - settings.INBOUND_RETENTION_SECONDS) * 1000)
        for key in self.streams:
            floor = await _safe_trim_floor(self.redis, key)
            if floor is None:
                continue
            min_id = min(floor, (cutoff_ms, 0))
            await self.redis.xtrim(key, minid=f"{min_id[0]}-{min_id[1]}", approximate=True)


def split_by_stream(items: Sequence[StreamEntry], parts: int) -> list[list[StreamEntry]]:
    """At most `parts` non-empty groups of whole streams, balanced by size, each in read order:
    a shard's entries never go to two lanes, so they still commit in stream order."""
    by_stream: dict[str, list[StreamEntry]] = {}
    for item in items:
        by_stream.setdefault(item.stream, []).append(item)
    groups: list[list[StreamEntry]] = [[] for _ in range(min(parts, len(by_stream)))]
    for entries in sorted(by_stream.values(), key=len, reverse=True):
        min(groups, key=len).extend(entries)
    return groups


def _expire_offers() -> int:
    close_old_connections()
    expired = expire_offers()
    end_decline_cooldowns()  # the other clock on offers: a declined chat may go back
    overflow_waiting_chats()  # the queues' clock: waited too long, or nobody there to answer
    return expired


def _abandon_stale_chats() -> int:
    close_old_connections()
    return abandon_stale_chats()


def _attempts_key(stream_key: str) -> str:
    return f"{stream_key}:attempts"


def _dead_stream_for(stream_key: str) -> str:
    shard = stream_key.rsplit("{s", 1)[-1].rstrip("}")
    return stream.dead_letter_key(int(shard)) if shard.isdigit() else f"{stream_key}:dead"


def _decode(key: str, entry_id: bytes | str, fields: dict) -> StreamEntry:
    entry_id = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    payload = fields.get(b"e") or fields.get("e") or b""
    if isinstance(payload, str):
        payload = payload.encode()
    item = StreamEntry(stream=key, entry_id=entry_id, payload=payload)
    try:
        item.entry = stream.decode(payload)
    except Exception as exc:  # malformed JSON or schema: poison, dead-lettered at once
        item.decode_error = f"undecodable entry: {exc}"
    return item


def _parse_id(value: bytes | str) -> tuple[int, int]:
    text = value.decode() if isinstance(value, bytes) else value
    ms, _, seq = text.partition("-")
    return int(ms), int(seq or 0)


async def _safe_trim_floor(client: aioredis.Redis, key: str) -> tuple[int, int] | None:
    """The smallest id that must survive: the oldest pending entry, or the first entry after
    the slowest group's last delivered one. None: nothing can be trimmed safely."""
    groups = await client.xinfo_groups(key)
    if not groups:
        return None
    floors: list[tuple[int, int]] = []
    for group in groups:
        last = _parse_id(group["last-delivered-id"])
        floors.append((last[0], last[1] + 1))
        name = group["name"]
        summary = await client.xpending(key, name)
        if summary and summary.get("pending"):
            floors.append(_parse_id(summary["min"]))
    return min(floors)
