"""Monthly range partitions of the history tables, kept by a timer.

Which tables (DESIGN choice, docs/operations.md "Retention"):

* `chats_assignmentevent` (by `created_at`): append-only, no unique constraint, nothing points
  at it. Its primary key in the database is `(id, created_at)` (PostgreSQL wants the partition
  key in every unique index); Django keeps `id` as the model's primary key, which stays true
  because `id` only ever comes from the table's sequence.
* `chats_message` (by `created_at`, the insert time), the same way. Its exactly-once key,
  unique (channel, provider message id) across all months, is the primary key of the plain
  table `chats_messagekey`, kept by triggers (routing_service/chats/message_keys.py).
  Attachments and auto-reply records point at messages without a database foreign key: before
  a month goes, `_release_messages` deletes its attachments (and their files), clears the
  auto-replies' pointers and deletes its keys.
* Not partitioned, purged per company by `purge` instead: `sla_engine_slatimer` (unique
  (conversation, kind, stage) is what stops a stage firing twice); `analytics_chatsession`
  (unique (company, session_id) is the import de-duplication).

No DEFAULT partition: PostgreSQL refuses `DETACH PARTITION … CONCURRENTLY` on a table that has
one. Instead `ensure_partitions` keeps every month to `MONTHS_AHEAD` months ahead (and, for a
table whose rows may be written with an older time, from the longest retention ago; the
migrations do too), so inserts fail only after that many months without a timer, or for a
row older than any company keeps. `drop_expired` detaches a month with `DETACH PARTITION …
CONCURRENTLY` (SHARE UPDATE EXCLUSIVE on the parent: inserts and reads carry on; it must run
outside a transaction, so callers run in autocommit), finalises a detach left pending by a
crash, and drops the month.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from django.db import connection, transaction
from django.utils import timezone

logger = logging.getLogger(__name__)

MONTHS_AHEAD = 3
_SUFFIX = re.compile(r"_p(\d{4})(\d{2})$")


@dataclass(frozen=True)
class PartitionedTable:
    table: str
    key: str  # the partition key column
    retention: str  # RetentionPolicy field that bounds it ("events")
    # Whether rows may carry an older key than now (a backfill, an update of the key): then the
    # months back to the longest retention are kept ready. A message's `created_at` is always
    # its insert time: no empty months back (each one costs every unpruned query a probe).
    backdated: bool = True


PARTITIONED: tuple[PartitionedTable, ...] = (
    PartitionedTable("chats_assignmentevent", "created_at", "events"),
    PartitionedTable("chats_message", "created_at", "messages", backdated=False),
)


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def partition_name(table: str, month: dt.date) -> str:
    return f"{table}_p{month:%Y%m}"


def bound(month: dt.date) -> str:
    # Partition bounds in UTC: a timestamptz literal with its zone, whatever the session's.
    return f"{month:%Y-%m-%d} 00:00:00+00"


def monthly_partitions(table: str) -> dict[dt.date, str]:
    """The table's monthly partitions (not the default one), by first day of month."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s",
            [table],
        )
        names = [row[0] for row in cursor.fetchall()]
    months: dict[dt.date, str] = {}
    for name in names:
        match = _SUFFIX.search(name)
        if match:
            months[dt.date(int(match[1]), int(match[2]), 1)] = name
    return months


def _pending_detach(table: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = %s AND i.inhdetachpending",
            [table],
        )
        return {row[0] for row in cursor.fetchall()}


def is_partitioned(table: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_partitioned_table t JOIN pg_class c ON c.oid = t.partrelid "
            "WHERE c.relname = %s",
            [table],
        )
        return cursor.fetchone() is not None


def create_partition(table: str, month: dt.date) -> str:
    name = partition_name(table, month)
    with connection.cursor() as cursor:
        cursor.execute(
            f'CREATE TABLE IF NOT EXISTS "{name}" PARTITION OF "{table}" '
            f"FOR VALUES FROM ('{bound(month)}') TO ('{bound(add_months(month, 1))}')"
        )
    return name


def ensure_partitions(
    now: dt.datetime | None = None,
    *,
    ahead: int = MONTHS_AHEAD,
    back_days: int | dict[str, int] = 0,
) -> list[str]:
    """Create the months from `back_days` ago to `ahead` months on; return the names created.

    Months back matter because a row may be written with an older time (a backfill, an
    update of `created_at`): without a partition it would be refused. Callers pass the
    longest retention (per retention kind, or one figure for all), so exactly the months
    `drop_expired` keeps exist; tables that are never backdated get no months back.
    """
    now = now or timezone.now()
    this_month = month_start(timezone.localdate(now, dt.UTC))
    created: list[str] = []
    for spec in PARTITIONED:
        if not is_partitioned(spec.table):
            continue
        back = back_days if isinstance(back_days, int) else back_days.get(spec.retention, 0)
        back = back if spec.backdated else 0
        first = month_start(timezone.localdate(now - dt.timedelta(days=back), dt.UTC))
        existing = monthly_partitions(spec.table)
        month = first
        while month <= add_months(this_month, ahead):
            if month not in existing:
                created.append(create_partition(spec.table, month))
            month = add_months(month, 1)
    if created:
        logger.info("partitions created: %s", ", ".join(created))
    return created


def drop_expired(
    keep_days: dict[str, int], now: dt.datetime | None = None, *, concurrently: bool = True
) -> list[str]:
    """Detach and drop the monthly partitions whose every row is older than `keep_days[kind]`.

    A month goes only when its *end* is past the cutoff, so no row younger than the longest
    retention of any company is ever dropped. `concurrently` needs autocommit (no transaction
    block): `DETACH … CONCURRENTLY` takes only a SHARE UPDATE EXCLUSIVE lock on the parent, so
    inserts and reads carry on meanwhile.
    """
    now = now or timezone.now()
    dropped: list[str] = []
    for spec in PARTITIONED:
        # Only the kinds given: a kind without a retention here is left alone.
        if spec.retention not in keep_days or not is_partitioned(spec.table):
            continue
        cutoff = now - dt.timedelta(days=keep_days[spec.retention])
        for month, name in sorted(monthly_partitions(spec.table).items()):
            end = dt.datetime.combine(add_months(month, 1), dt.time(), tzinfo=dt.UTC)
            if end > cutoff:
                break
            mode = " CONCURRENTLY" if concurrently else ""
            release = _RELEASE.get(spec.table)
            if release is not None:
                # Before the detach (or its FINALIZE, after a crash half-way): a crash before
                # the drop leaves the month listed, so the next turn releases it again.
                release(name, end)
            with connection.cursor() as cursor:
                if name in _pending_detach(spec.table):
                    # A concurrent detach interrupted half-way (crash, cancel): finish it.
                    cursor.execute(f'ALTER TABLE "{spec.table}" DETACH PARTITION "{name}" FINALIZE')
                else:
                    cursor.execute(f'ALTER TABLE "{spec.table}" DETACH PARTITION "{name}"{mode}')
                cursor.execute(f'DROP TABLE "{name}"')
            dropped.append(name)
    if dropped:
        logger.info("partitions dropped: %s", ", ".join(dropped))
    return dropped


_WINDOW = 20_000  # message ids per statement when releasing a month: short transactions


def _release_messages(partition: str, end: dt.datetime) -> None:
    """What points at a month of messages, gone before the month: attachments (rows, and
    their files once deleted), auto-replies' pointers (set null, as the ORM would) and the
    messages' de-duplication keys. Idempotent; id windows keep each statement short."""
    from routing_service.chats.message_keys import delete_keys_before
    from routing_service.retention.purge import _delete_files

    with connection.cursor() as cursor:
        cursor.execute(f'SELECT MIN(id), MAX(id) FROM "{partition}"')  # noqa: S608 - ours
        low, high = cursor.fetchone()
    if low is not None:
        # The month's ids, a window at a time (the attachments' and auto-replies' indexes on
        # message_id serve the range; the IN keeps ids of other months out).
        ids = f'SELECT id FROM "{partition}" WHERE id >= %s AND id < %s'  # noqa: S608 - ours
        in_window = f"message_id >= %s AND message_id < %s AND message_id IN ({ids})"
        for start in range(int(low), int(high) + 1, _WINDOW):
            params = [start, start + _WINDOW] * 2
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    f"DELETE FROM attachments_attachment WHERE {in_window} "  # noqa: S608
                    "RETURNING storage_name",
                    params,
                )
                names = [row[0] for row in cursor.fetchall() if row[0]]
                cursor.execute(
                    f"UPDATE queues_autoreplysent SET message_id = NULL WHERE {in_window}",  # noqa: S608
                    params,
                )
                # The files go after the commit: a rolled-back window keeps its files.
                transaction.on_commit(partial(_delete_files, names))
    deleted = delete_keys_before(end)
    logger.info("partition %s released: %s message keys deleted", partition, deleted)


_RELEASE: dict[str, Callable[[str, dt.datetime], None]] = {"chats_message": _release_messages}
