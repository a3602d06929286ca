"""Full-text search reads a stored tsvector column instead of re-parsing transcripts.

With the expression index of 0004, every row the planner checks outside the index — a walk of
the sessions newest first, the recheck of a phrase, a probe that stops early — ran
``to_tsvector`` over its transcript again (about 20 µs a row): a broad word took 100-550 ms at
a million sessions. A generated (``STORED``) column is parsed once, when a row is written, by
every writer alike (the importer's ``INSERT … SELECT``, the live feed's ORM saves, ``COPY``);
the GIN index covers the column, and checking a row costs a lookup in its stored vector.

PostgreSQL only, like 0004 (SQLite searches with ``LIKE``, see ``analytics.search``), so the
column is added in SQL and is not part of Django's model state: the ORM never selects it.
Adding it rewrites the table under an exclusive lock (about a minute per million sessions).
The expression must stay the one ``analytics.search`` documents.
"""

from django.db import migrations

INDEX = "session_search_idx"
VECTOR = (
    "to_tsvector('simple'::regconfig, "
    "coalesce(initial_msg, '') || ' ' || coalesce(full_transcript, ''))"
)
FORWARD = (
    f"DROP INDEX IF EXISTS {INDEX}",
    "ALTER TABLE analytics_chatsession ADD COLUMN IF NOT EXISTS search_vector tsvector "
    f"GENERATED ALWAYS AS ({VECTOR}) STORED",
    f"CREATE INDEX {INDEX} ON analytics_chatsession USING gin (search_vector)",
)
BACKWARD = (
    f"DROP INDEX IF EXISTS {INDEX}",
    "ALTER TABLE analytics_chatsession DROP COLUMN IF EXISTS search_vector",
    f"CREATE INDEX {INDEX} ON analytics_chatsession USING gin ({VECTOR})",
)


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in FORWARD:
            schema_editor.execute(statement)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in BACKWARD:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("analytics", "0005_session_rollups")]

    operations = [migrations.RunPython(forward, backward, elidable=False)]
