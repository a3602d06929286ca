"""Turn a plain table into a monthly range-partitioned one in place (and back), rows kept.

Used by the migration that partitions `chats_assignmentevent` and by its reverse. Run inside
the migration's transaction: the table is locked ACCESS EXCLUSIVE for the copy, so writers
wait instead of writing into the old table — on a large table that is a maintenance window
(docs/operations.md says how long per million rows).

Steps: remember the indexes and foreign keys, rename the old table, create the new one with
the same columns (`LIKE … INCLUDING DEFAULTS INCLUDING CONSTRAINTS`), one partition per month
from the oldest row to `MONTHS_AHEAD` ahead, copy, drop the old table, then re-create the
primary key (with the partition key: PostgreSQL requires it), the indexes under their own
names, the foreign keys, and an `id` sequence continuing after the highest id.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from routing_service.retention.partitions import (
    MONTHS_AHEAD,
    add_months,
    bound,
    month_start,
    partition_name,
)

# A DB-API cursor of the migration's connection. Table and column names below are this
# project's own constants, never input: they are formatted into the SQL.
Cursor = Any


def _indexes(cursor: Cursor, table: str) -> list[str]:
    """CREATE INDEX statements of the table's plain indexes (not the primary key's)."""
    cursor.execute(
        "SELECT i.indexdef FROM pg_indexes i WHERE i.tablename = %s AND i.indexname NOT IN "
        "(SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass AND contype IN "
        "('p', 'u'))",
        [table, table],
    )
    return [row[0] for row in cursor.fetchall()]


def _foreign_keys(cursor: Cursor, table: str) -> list[tuple[str, str]]:
    cursor.execute(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = %s::regclass AND contype = 'f' ORDER BY conname",
        [table],
    )
    return [(row[0], row[1]) for row in cursor.fetchall()]


def _max_id(cursor: Cursor, table: str) -> int:
    cursor.execute(f'SELECT COALESCE(MAX(id), 0) FROM "{table}"')  # noqa: S608 - our table names
    return int(cursor.fetchone()[0])


def _restore(cursor: Cursor, table: str, indexes: list[str], fks: list[tuple[str, str]]) -> None:
    for statement in indexes:
        cursor.execute(statement)
    for name, definition in fks:
        cursor.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}')


def _sequence(cursor: Cursor, table: str, last_id: int) -> None:
    seq = f"{table}_id_seq"
    cursor.execute(f'CREATE SEQUENCE "{seq}" OWNED BY "{table}".id')
    cursor.execute(f'ALTER TABLE "{table}" ALTER COLUMN id SET DEFAULT nextval(\'"{seq}"\')')
    if last_id:
        cursor.execute("SELECT setval(%s, %s)", [seq, last_id])


def partition_by_month(
    cursor: Cursor, table: str, key: str, now: dt.datetime, *, back_days: int = 0
) -> int:
    """Make `table` partitioned by month on `key`; return the number of rows carried over.

    Months exist from the oldest row (or `back_days` ago, if earlier) to `MONTHS_AHEAD` ahead.
    """
    old = f"{table}_unpartitioned"
    cursor.execute(f'LOCK TABLE "{table}" IN ACCESS EXCLUSIVE MODE')
    indexes, fks = _indexes(cursor, table), _foreign_keys(cursor, table)
    last_id = _max_id(cursor, table)
    cursor.execute(f'SELECT MIN("{key}") FROM "{table}"')  # noqa: S608 - our table names
    oldest: dt.datetime | None = cursor.fetchone()[0]
    cursor.execute(f'ALTER TABLE "{table}" RENAME TO "{old}"')
    # The identity goes with its sequence; the new table gets a sequence of its own.
    cursor.execute(f'ALTER TABLE "{old}" ALTER COLUMN id DROP IDENTITY IF EXISTS')
    cursor.execute(f'ALTER TABLE "{old}" ALTER COLUMN id DROP DEFAULT')
    cursor.execute(f'DROP SEQUENCE IF EXISTS "{table}_id_seq"')
    cursor.execute(
        f'CREATE TABLE "{table}" (LIKE "{old}" INCLUDING DEFAULTS INCLUDING CONSTRAINTS) '
        f'PARTITION BY RANGE ("{key}")'
    )
    earliest = now - dt.timedelta(days=back_days)
    first = month_start(min(oldest or now, earliest).astimezone(dt.UTC).date())
    last = add_months(month_start(now.astimezone(dt.UTC).date()), MONTHS_AHEAD)
    month = first
    while month <= last:
        name = partition_name(table, month)
        cursor.execute(
            f'CREATE TABLE "{name}" PARTITION OF "{table}" '
            f"FOR VALUES FROM ('{bound(month)}') TO ('{bound(add_months(month, 1))}')"
        )
        month = add_months(month, 1)
    cursor.execute(f'INSERT INTO "{table}" SELECT * FROM "{old}"')  # noqa: S608 - our table names
    copied = int(cursor.rowcount)
    cursor.execute(f'DROP TABLE "{old}"')
    cursor.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{table}_pkey" PRIMARY KEY (id, "{key}")')
    _restore(cursor, table, indexes, fks)
    _sequence(cursor, table, last_id)
    return copied


def unpartition(cursor: Cursor, table: str) -> int:
    """The reverse: one plain table with `id` as its primary key; return the rows carried."""
    old = f"{table}_partitioned"
    cursor.execute(f'LOCK TABLE "{table}" IN ACCESS EXCLUSIVE MODE')
    indexes, fks = _indexes(cursor, table), _foreign_keys(cursor, table)
    last_id = _max_id(cursor, table)
    cursor.execute(f'ALTER TABLE "{table}" RENAME TO "{old}"')
    cursor.execute(f'ALTER TABLE "{old}" ALTER COLUMN id DROP DEFAULT')
    cursor.execute(f'DROP SEQUENCE IF EXISTS "{table}_id_seq"')
    cursor.execute(
        f'CREATE TABLE "{table}" (LIKE "{old}" INCLUDING DEFAULTS INCLUDING CONSTRAINTS)'
    )
    cursor.execute(f'INSERT INTO "{table}" SELECT * FROM "{old}"')  # noqa: S608 - our table names
    copied = int(cursor.rowcount)
    cursor.execute(f'DROP TABLE "{old}" CASCADE')
    cursor.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{table}_pkey" PRIMARY KEY (id)')
    _restore(cursor, table, indexes, fks)
    _sequence(cursor, table, last_id)
    return copied
