"""Exactly-once messages on a partitioned message table: the `MessageKey` side table.

`chats_message` is range-partitioned by month of `created_at` (retention drops whole months),
and PostgreSQL wants the partition key in every unique index: a unique (channel, provider
message id) on it would only catch a duplicate within one month. The key lives instead in
`chats_messagekey`, a plain table whose primary key is (channel_id, provider_message_id),
kept by triggers on the message table so that *every* write path (the router's bulk insert,
`Message.objects.create`, an UPDATE by `mark_sent`, the ORM's cascades) keeps it, in the same
statement and transaction, with no code of ours to forget:

* INSERT: one statement-level trigger (its transition table holds every row of the statement)
  inserts the keys of the rows that have a provider id; a key already taken — by an earlier
  message of any month, or twice in the same statement — raises a unique violation, so the
  INSERT fails exactly as it did on the unique index (`IntegrityError`);
* UPDATE: a row whose channel, provider id or `created_at` changes gets its key moved (the
  old key deleted, the new one inserted: a taken one raises), by a row-level trigger whose
  WHEN clause leaves every other UPDATE alone;
* DELETE: their keys go; a TRUNCATE (tests, benchmarks) empties the key table too.

Dropping or detaching a partition fires no trigger: `retention.partitions` deletes the month's
keys itself (`delete_keys_before`). On SQLite (the local demo) the same three triggers exist
row by row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db import connection

TABLE = "chats_messagekey"
# The SQL is spelled out in full (no formatting): what runs is what is read here.
POSTGRES_INSTALL = (
    """
CREATE OR REPLACE FUNCTION chats_message_keys_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO chats_messagekey (channel_id, provider_message_id, message_id, created_at)
    SELECT channel_id, provider_message_id, id, created_at FROM new_rows
    WHERE provider_message_id IS NOT NULL;
    RETURN NULL;
END $$""",
    """
CREATE OR REPLACE FUNCTION chats_message_keys_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.provider_message_id IS NOT NULL THEN
        DELETE FROM chats_messagekey WHERE channel_id = OLD.channel_id
            AND provider_message_id = OLD.provider_message_id AND message_id = OLD.id;
    END IF;
    IF NEW.provider_message_id IS NOT NULL THEN
        INSERT INTO chats_messagekey (channel_id, provider_message_id, message_id, created_at)
        VALUES (NEW.channel_id, NEW.provider_message_id, NEW.id, NEW.created_at);
    END IF;
    RETURN NEW;
END $$""",
    """
CREATE OR REPLACE FUNCTION chats_message_keys_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM chats_messagekey k USING old_rows o
    WHERE k.channel_id = o.channel_id AND k.provider_message_id = o.provider_message_id
        AND k.message_id = o.id;
    RETURN NULL;
END $$""",
    """
CREATE OR REPLACE FUNCTION chats_message_keys_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- DELETE, not TRUNCATE: a TRUNCATE naming both tables (Django's flush) holds this one.
    DELETE FROM chats_messagekey;
    RETURN NULL;
END $$""",
    "CREATE TRIGGER chats_message_keys_insert AFTER INSERT ON chats_message "
    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION chats_message_keys_insert()",
    # Row by row, but only for rows whose key columns change (the WHEN is checked without
    # calling the function): the many UPDATEs of delivery status, text or metadata cost
    # nothing. BEFORE, because a row that moves to another month's partition fires its
    # BEFORE UPDATE triggers (and no AFTER UPDATE one).
    "CREATE TRIGGER chats_message_keys_update BEFORE UPDATE ON chats_message FOR EACH ROW "
    "WHEN ((OLD.channel_id, OLD.provider_message_id, OLD.created_at) IS DISTINCT FROM "
    "(NEW.channel_id, NEW.provider_message_id, NEW.created_at)) "
    "EXECUTE FUNCTION chats_message_keys_update()",
    "CREATE TRIGGER chats_message_keys_delete AFTER DELETE ON chats_message "
    "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT "
    "EXECUTE FUNCTION chats_message_keys_delete()",
    "CREATE TRIGGER chats_message_keys_truncate AFTER TRUNCATE ON chats_message "
    "FOR EACH STATEMENT EXECUTE FUNCTION chats_message_keys_truncate()",
    "CREATE INDEX IF NOT EXISTS messagekey_created_brin ON chats_messagekey "
    "USING brin (created_at)",
)

POSTGRES_UNINSTALL = (
    *(
        f"DROP TRIGGER IF EXISTS chats_message_keys_{op} ON chats_message"
        for op in ("insert", "update", "delete", "truncate")
    ),
    *(
        f"DROP FUNCTION IF EXISTS chats_message_keys_{op}()"
        for op in ("insert", "update", "delete", "truncate")
    ),
    "DROP INDEX IF EXISTS messagekey_created_brin",
)

SQLITE_INSTALL = (
    """CREATE TRIGGER chats_message_keys_insert AFTER INSERT ON chats_message
    WHEN NEW.provider_message_id IS NOT NULL BEGIN
        INSERT INTO chats_messagekey (channel_id, provider_message_id, message_id, created_at)
        VALUES (NEW.channel_id, NEW.provider_message_id, NEW.id, NEW.created_at);
    END""",
    """CREATE TRIGGER chats_message_keys_update
    AFTER UPDATE OF channel_id, provider_message_id, created_at ON chats_message BEGIN
        DELETE FROM chats_messagekey WHERE channel_id = OLD.channel_id
            AND provider_message_id = OLD.provider_message_id AND message_id = OLD.id;
        INSERT INTO chats_messagekey (channel_id, provider_message_id, message_id, created_at)
        SELECT NEW.channel_id, NEW.provider_message_id, NEW.id, NEW.created_at
        WHERE NEW.provider_message_id IS NOT NULL;
    END""",
    """CREATE TRIGGER chats_message_keys_delete AFTER DELETE ON chats_message
    WHEN OLD.provider_message_id IS NOT NULL BEGIN
        DELETE FROM chats_messagekey WHERE channel_id = OLD.channel_id
            AND provider_message_id = OLD.provider_message_id AND message_id = OLD.id;
    END""",
)
SQLITE_UNINSTALL = tuple(
    f"DROP TRIGGER IF EXISTS chats_message_keys_{op}" for op in ("insert", "update", "delete")
)


def install_sql(vendor: str) -> tuple[str, ...]:
    return POSTGRES_INSTALL if vendor == "postgresql" else SQLITE_INSTALL


def uninstall_sql(vendor: str) -> tuple[str, ...]:
    return POSTGRES_UNINSTALL if vendor == "postgresql" else SQLITE_UNINSTALL


def fill_sql() -> str:
    """The keys of the messages already there (the migration, before the triggers exist)."""
    return (
        f"INSERT INTO {TABLE} (channel_id, provider_message_id, message_id, created_at) "  # noqa: S608
        "SELECT channel_id, provider_message_id, id, created_at FROM chats_message "
        "WHERE provider_message_id IS NOT NULL"
    )


def known_keys(keys: Iterable[tuple[int, str]]) -> set[tuple[int, str]]:
    """Which of the (channel id, provider message id) pairs belong to a stored message.

    One index look-up on the key table, whatever the number of monthly partitions.
    """
    wanted = set(keys)
    if not wanted:
        return set()
    channels = sorted({c for c, _ in wanted})
    provider_ids = sorted({p for _, p in wanted})
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Array parameters: the same statement text (cached by psycopg) for every batch.
            cursor.execute(
                f"SELECT channel_id, provider_message_id FROM {TABLE} "  # noqa: S608
                "WHERE channel_id = ANY(%s) AND provider_message_id = ANY(%s)",
                [channels, provider_ids],
            )
        else:
            cursor.execute(
                f"SELECT channel_id, provider_message_id FROM {TABLE} "  # noqa: S608
                f"WHERE channel_id IN ({', '.join(['%s'] * len(channels))}) "
                f"AND provider_message_id IN ({', '.join(['%s'] * len(provider_ids))})",
                [*channels, *provider_ids],
            )
        found = {(int(c), str(p)) for c, p in cursor.fetchall()}
    return found & wanted


def message_id_for(channel_id: int, provider_message_id: str) -> int | None:
    """The id of the channel's message with this provider id, if one is stored."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT message_id FROM {TABLE} "  # noqa: S608
            "WHERE channel_id = %s AND provider_message_id = %s",
            [channel_id, provider_message_id],
        )
        row = cursor.fetchone()
    return int(row[0]) if row else None


def delete_keys_before(end: dt.datetime, *, batch: int = 10_000) -> int:
    """Delete the keys of messages created before `end` (the months being dropped), `batch`
    rows per statement so no long transaction holds them; return the count."""
    total = 0
    while True:
        with connection.cursor() as cursor:
            cursor.execute(
                f"DELETE FROM {TABLE} WHERE ctid = ANY(ARRAY("  # noqa: S608
                f"SELECT ctid FROM {TABLE} WHERE created_at < %s LIMIT %s))",
                [end, batch],
            )
            deleted = int(cursor.rowcount)
        total += deleted
        if deleted < batch:
            return total
