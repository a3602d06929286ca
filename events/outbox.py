"""④ The transactional outbox: an event is a row of the transaction that causes it.

An action calls `publish_on_commit(events)` inside its transaction. The events become rows of
`events_outbox` in that transaction — one COPY per call, or one per batch for the router and
the SLA timer (`batch()`) — so they commit or roll back with the change (a
rolled-back savepoint takes its rows along). After the commit the writer publishes its rows at
once and deletes them in one short transaction (the fast path: the same latency as publishing
directly). If it dies first, or Redis fails, the rows stay and `events.relay` publishes them a
moment later. Every committed event reaches the log exactly once, in commit order per company:

* **at least once**: a row is deleted in the transaction that published it, after Redis
  answered; a crash or a failure in between rolls the deletion back, and the relay retries;
* **at most once**: the log script skips a row id at or below the highest one of its company
  already logged (`events.log`), so publishing a row again after such a crash is a no-op;
* **commit order per company**: the INSERT first takes the company's *outbox lock* (a
  transaction-scoped advisory lock, held until commit), so a company's row ids follow the
  order its transactions commit in; and a publisher locks (`FOR UPDATE`, in id order) every
  row of the company up to its newest one, so it publishes older rows someone else left first
  and never overtakes a publisher still busy with them. The log's seq order is thus the commit
  order of the company's changes, and a row never turns up below an id already logged (which
  the script would take for a duplicate).

Lock order: the outbox lock comes last (after the routing lock, agents and conversations,
chats/locks.py). Batches insert just before their commit; actions publish once their writes
are done. A transaction that waited for a row lock *after* publishing could deadlock with a
writer of the same company that holds that row and waits for the outbox lock (PostgreSQL would
detect it and abort one of them).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import partial, reduce
from operator import or_
from typing import Any

from django.db import DatabaseError, connection, transaction
from django.db.models import Max, Q, QuerySet
from django.utils import timezone

from events.log import Entry, encode_data, entry_for, envelope_parts, publish_entries
from events.models import OutboxEvent
from events.redis_clients import REDIS_ERRORS
from events.schema import Event

__all__ = ["Batch", "Event", "batch", "publish_on_commit"]

logger = logging.getLogger(__name__)

# First key of the two-int advisory lock: "outbox" (arbitrary, fixed; chats' routing lock is
# 0x5B0A). Second key: the company id.
OUTBOX_LOCK_NAMESPACE = 0x5B0B

_TABLE = OutboxEvent._meta.db_table
_COLUMNS = "id, company_id, event_id, type, at, groups, data"

# The companies' outbox locks (ascending: two multi-company batches never wait on each other
# crosswise), then ids for the rows: the uncorrelated sub-select runs once, before the first
# id is taken. The rows then go in with COPY (a tenth of the time of a multi-row INSERT of
# the same rows: no statement to parse, no parameters to quote).
_RESERVE_SQL = f"""
WITH locked AS (
    SELECT pg_advisory_xact_lock(%s::int, company::int) FROM unnest(%s::bigint[]) AS company
)
SELECT nextval(pg_get_serial_sequence('{_TABLE}', 'id')) FROM generate_series(1, %s)
WHERE (SELECT count(*) FROM locked) > 0
"""  # noqa: S608
_COPY_SQL = f"COPY {_TABLE} ({_COLUMNS}) FROM STDIN"

# A publisher's transaction only deletes rows already in the log: it need not wait for its
# commit to reach the disk (if the server loses it, the rows come back and are published again,
# which the log script skips). Evaluated once, before the first row is locked.
_ASYNC_COMMIT = "async_commit AS (SELECT set_config('synchronous_commit', 'off', true))"

# The fast path's claim: the writer's rows and every older row of its companies (someone
# else's, left behind: rare), locked in id order — the older ones first (UNION ALL runs its
# branches in order), as the relay does, so two publishers never wait on each other
# crosswise — and deleted. Only
# the older rows' payload comes back: the writer has its own in memory. Under the outbox lock
# a company's rows of one transaction are consecutive, so nobody else's row of the company
# lies between the writer's lowest and newest.
_CLAIM_MINE_SQL = f"""
WITH {_ASYNC_COMMIT}, older AS (
    SELECT o.id FROM {_TABLE} o
    JOIN unnest(%s::bigint[], %s::bigint[]) AS mine (company_id, lowest)
        ON o.company_id = mine.company_id AND o.id < mine.lowest
    WHERE (SELECT count(*) FROM async_commit) > 0
    ORDER BY o.id
    FOR UPDATE OF o
)
DELETE FROM {_TABLE} o
USING (SELECT id, true AS older FROM older UNION ALL SELECT unnest(%s::bigint[]), false) c
WHERE o.id = c.id
RETURNING o.id, c.older,
    CASE WHEN c.older THEN o.company_id END, CASE WHEN c.older THEN o.event_id END,
    CASE WHEN c.older THEN o.type END, CASE WHEN c.older THEN o.at END,
    CASE WHEN c.older THEN o.groups END, CASE WHEN c.older THEN o.data END
"""  # noqa: S608

# The relay's claim: for each company with a row older than the age (by the database's
# clock), its rows up to the newest such one — older ids of the company first, whatever their
# age — locked in id order, at most `limit`, and deleted. FOR UPDATE waits, not SKIP LOCKED:
# skipping a row a writer is publishing and taking a newer one of the same company could log
# the newer first, and the older one would then be taken for a duplicate.
_CLAIM_STALE_SQL = f"""
WITH {_ASYNC_COMMIT}, stale AS (
    SELECT company_id, max(id) AS newest FROM {_TABLE}
    WHERE created_at < statement_timestamp() - %s * interval '1 millisecond'
        AND (SELECT count(*) FROM async_commit) > 0
    GROUP BY company_id
), claimed AS (
    SELECT o.id FROM {_TABLE} o JOIN stale USING (company_id)
    WHERE o.id <= stale.newest
    ORDER BY o.id
    LIMIT %s
    FOR UPDATE OF o
)
DELETE FROM {_TABLE} o USING claimed WHERE o.id = claimed.id
RETURNING {", ".join(f"o.{c.strip()}" for c in _COLUMNS.split(","))}
"""  # noqa: S608


@dataclass(frozen=True)
class Row:
    """An outbox row this process wrote: enough to publish it without reading it back."""

    id: int
    event: Event
    entry: Entry


def _insert(events: Sequence[Event]) -> list[Row]:
    """Write `events` as outbox rows of the current transaction: the companies' outbox locks
    and the ids in one statement, the rows in one COPY."""
    data = [encode_data(event.data) for event in events]
    if connection.vendor == "postgresql":
        companies = sorted({event.company_id for event in events})
        with connection.cursor() as cursor:
            cursor.execute(_RESERVE_SQL, [OUTBOX_LOCK_NAMESPACE, companies, len(events)])
            ids = sorted(row[0] for row in cursor.fetchall())
            with cursor.cursor.copy(_COPY_SQL) as copy:
                for row_id, event, payload in zip(ids, events, data, strict=True):
                    groups = " ".join(event.groups)
                    copy.write_row(
                        (row_id, event.company_id, event.id, event.type, event.at, groups, payload)
                    )
    else:
        # SQLite: IMMEDIATE transactions hold the whole database, so commit order is id order.
        created = OutboxEvent.objects.bulk_create(
            [
                OutboxEvent(
                    company_id=event.company_id,
                    event_id=event.id,
                    type=event.type,
                    at=event.at,
                    groups=" ".join(event.groups),
                    data=payload,
                )
                for event, payload in zip(events, data, strict=True)
            ]
        )
        ids = [row.pk for row in created]
    return [
        Row(row_id, event, entry_for(event, row_id, payload))
        for row_id, event, payload in zip(ids, events, data, strict=True)
    ]


class Batch:
    """The events of one transaction opened by `batch()`: written together just before the
    commit (or before a savepoint opens), then published together by `publish()`."""

    def __init__(self, merge: Callable[[list[Event]], list[Event]] | None = None) -> None:
        self.pending: list[Event] = []
        # Applied to the held events before they are written (the router's: one
        # `queue.updated` per company and audience, events/coalesce.py).
        self.merge = merge
        self.rows: list[Row] = []
        # Savepoint depth of the batch's own block: events sent deeper than that may still be
        # rolled back on their own, so they are inserted at once instead of waiting here.
        self.depth = 0

    @property
    def events(self) -> list[Event]:
        """The batch's events in their order (after the commit: what was published)."""
        return [row.event for row in sorted(self.rows, key=lambda row: row.id)]

    def flush(self) -> None:
        if self.pending:
            events, self.pending = self.pending, []
            self.rows.extend(_insert(self.merge(events) if self.merge else events))

    def flush_before_savepoint(
        self, execute: Callable[..., Any], sql: str, *args: Any, **kwargs: Any
    ) -> Any:
        """An execute wrapper: write what the batch holds before a savepoint opens in the
        batch's own block. Its events then precede the savepoint's (ids keep the order events
        were sent in), and stand if the savepoint is rolled back."""
        opening = sql.startswith("SAVEPOINT") and _savepoints() == self.depth
        if opening and self.pending:
            self.flush()
        return execute(sql, *args, **kwargs)

    def publish(self) -> None:
        """After the block: publish and delete the batch's rows (see `publish_rows`)."""
        if connection.in_atomic_block:
            # The block was nested in an outer transaction: nothing is committed yet.
            transaction.on_commit(partial(publish_rows, self.rows), robust=True)
        else:
            publish_rows(self.rows)


_current: ContextVar[Batch | None] = ContextVar("outbox_batch", default=None)


def _savepoints() -> int:
    """Real savepoints open on the connection. An `atomic(savepoint=False)` block counts for
    nothing: its failure fails the whole transaction, so the batch may hold its events (Django
    records such a block as a None id — counted, the inbound action's events were written one
    call at a time instead of with the batch)."""
    return sum(1 for sid in connection.savepoint_ids if sid is not None)


@contextmanager
def batch(merge: Callable[[list[Event]], list[Event]] | None = None) -> Iterator[Batch]:
    """`transaction.atomic()` whose events are written together at its end — the router's
    and the SLA timer's hot path. Call `.publish()` on it after the block. `merge` may combine
    the held events before they are written (they commit together: nobody sees them apart)."""
    current = Batch(merge)
    token = _current.set(current)
    try:
        with transaction.atomic():
            current.depth = _savepoints()
            with connection.execute_wrapper(current.flush_before_savepoint):
                yield current
            current.flush()
    finally:
        _current.reset(token)


def publish_on_commit(events: Iterable[Event]) -> None:
    """Record `events` in the current transaction; they are published once it commits (never
    for a rolled-back change). Call it after the action's writes (see the lock order above)."""
    new = list(events)
    if not new:
        return
    current = _current.get()
    if current is not None:
        if _savepoints() == current.depth:
            current.pending.extend(new)
            return
        # Inside a savepoint of the batch: written now, so that its rollback takes them along
        # (what the batch held was written before the savepoint opened).
        rows = _insert(new)
        transaction.on_commit(lambda: current.rows.extend(rows))
        return
    rows = _insert(new)
    transaction.on_commit(lambda: publish_rows(rows), robust=True)


_PUBLISH_FAILURES: tuple[type[Exception], ...] = (*REDIS_ERRORS, DatabaseError)


def publish_rows(rows: Sequence[Row]) -> None:
    """The fast path, right after the commit that wrote `rows`: lock them and any older row
    of their companies still waiting (in id order), log them, delete them, commit. A failure
    leaves them all to the relay; the database change stands either way."""
    if not rows:
        return
    try:
        with transaction.atomic():
            publish_entries(_claim_mine(rows))
    except _PUBLISH_FAILURES:
        logger.warning(
            "publishing %d events failed after commit; the outbox relay will publish them",
            len(rows),
            exc_info=True,
        )


def _claim_mine(rows: Sequence[Row]) -> list[Entry]:
    known = {row.id: row.entry for row in rows}
    lowest: dict[int, int] = {}
    newest: dict[int, int] = {}
    for row in rows:
        company = row.event.company_id
        lowest[company] = min(lowest.get(company, row.id), row.id)
        newest[company] = max(newest.get(company, row.id), row.id)
    companies = sorted(newest)
    if connection.vendor != "postgresql":
        wanted = [Q(company_id=c, id__lte=newest[c]) for c in companies]
        return _claim_portable(OutboxEvent.objects.filter(reduce(or_, wanted)), known)
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM_MINE_SQL, [companies, [lowest[c] for c in companies], sorted(known)])
        claimed = cursor.fetchall()
    entries: list[tuple[int, Entry]] = []
    for row_id, older, *payload in claimed:
        entry = _entry(row_id, *payload) if older else known[row_id]
        entries.append((row_id, entry))
    return [entry for _, entry in sorted(entries, key=lambda pair: pair[0])]


def claim_stale(older_than_ms: int, limit: int) -> list[Entry]:
    """The relay's claim (inside its transaction): rows nobody published within the age, with
    the older rows of their companies, in id order; deleted, pending the commit."""
    if connection.vendor != "postgresql":
        cutoff = timezone.now() - dt.timedelta(milliseconds=older_than_ms)
        stale = (
            OutboxEvent.objects.filter(created_at__lt=cutoff)
            .values_list("company_id")
            .annotate(newest=Max("id"))
        )
        wanted = [Q(company_id=company, id__lte=newest) for company, newest in stale]
        if not wanted:
            return []
        return _claim_portable(OutboxEvent.objects.filter(reduce(or_, wanted)), {}, limit)
    with connection.cursor() as cursor:
        cursor.execute(_CLAIM_STALE_SQL, [older_than_ms, limit])
        claimed = cursor.fetchall()
    return [_entry(*row) for row in sorted(claimed)]


def _claim_portable(
    rows: QuerySet[OutboxEvent], known: dict[int, Entry], limit: int | None = None
) -> list[Entry]:
    """SQLite (`scripts/start` without DATABASE_URL): its IMMEDIATE transactions hold the
    whole database, so reading and deleting in the publisher's transaction is a claim."""
    entries: list[Entry] = []
    for row in rows.order_by("id")[:limit]:
        entry = known.get(row.pk)
        if entry is None:
            entry = _entry(
                row.pk, row.company_id, row.event_id, row.type, row.at, row.groups, row.data
            )
        entries.append(entry)
    OutboxEvent.objects.filter(pk__in=[entry.row_id for entry in entries]).delete()
    return entries


def _entry(
    row_id: int, company: int, event_id: str, type_: str, at: str, groups: str, data: str
) -> Entry:
    head, tail = envelope_parts(type_, event_id, at, data)
    return Entry(company, tuple(groups.split()), head, tail, row_id)
