"""Monthly range partitions of the append-only history tables, kept by a timer.

Which tables (DESIGN choice, docs/operations.md "Retention"): only those whose constraints
allow a time partition key without weakening a guarantee.

* `chats_assignmentevent` (by `created_at`): append-only, no unique constraint, nothing points
  at it. Its primary key in the database is `(id, created_at)` (PostgreSQL wants the partition
  key in every unique index); Django keeps `id` as the model's primary key, which stays true
  because `id` only ever comes from the table's sequence.
* Not partitioned, purged per company by `purge` instead: `chats_message` (the exactly-once
  guarantee is the unique (channel, provider message id), which must hold across all months,
  and attachments point at messages); `sla_engine_slatimer` (unique (conversation, kind,
  stage) is what stops a stage firing twice); `analytics_chatsession` (unique (company,
  session_id) is the import de-duplication).

No DEFAULT partition: PostgreSQL refuses `DETACH PARTITION … CONCURRENTLY` on a table that has
one. Instead `ensure_partitions` keeps every month from the longest retention ago to
`MONTHS_AHEAD` months ahead (the migration does too), so inserts fail only after that many
months without a timer, or for a row older than any company keeps. `drop_expired` detaches
a month with `DETACH PARTITION … CONCURRENTLY` (SHARE UPDATE EXCLUSIVE on the parent: inserts
and reads carry on; it must run outside a transaction, so callers run in autocommit), finalises
a detach left pending by a crash, and drops the month.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass

from django.db import connection
from django.utils import timezone

logger = logging.getLogger(__name__)

MONTHS_AHEAD = 3
_SUFFIX = re.compile(r"_p(\d{4})(\d{2})$")


@dataclass(frozen=True)
class PartitionedTable:
    table: str
    key: str  # the partition key column
    retention: str  # RetentionPolicy field that bounds it ("events")


PARTITIONED: tuple[PartitionedTable, ...] = (
    PartitionedTable("chats_assignmentevent", "created_at", "events"),
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
    now: dt.datetime | None = None, *, ahead: int = MONTHS_AHEAD, back_days: int = 0
) -> list[str]:
    """Create the months from `back_days` ago to `ahead` months on; return the names created.

    Months back matter because a row may be written with an older time (a backfill, an
    update of `created_at`): without a partition it would be refused. Callers pass the
    longest retention, so exactly the months `drop_expired` keeps exist.
    """
    now = now or timezone.now()
    this_month = month_start(timezone.localdate(now, dt.UTC))
    first = month_start(timezone.localdate(now - dt.timedelta(days=back_days), dt.UTC))
    created: list[str] = []
    for spec in PARTITIONED:
        if not is_partitioned(spec.table):
            continue
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
        if not is_partitioned(spec.table):
            continue
        cutoff = now - dt.timedelta(days=keep_days[spec.retention])
        for month, name in sorted(monthly_partitions(spec.table).items()):
            end = dt.datetime.combine(add_months(month, 1), dt.time(), tzinfo=dt.UTC)
            if end > cutoff:
                break
            mode = " CONCURRENTLY" if concurrently else ""
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
