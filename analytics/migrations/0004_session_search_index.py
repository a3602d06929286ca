"""Full-text search over chat sessions: a GIN index on the expression `analytics.search` queries.

PostgreSQL only (SQLite searches with LIKE, see `analytics.search`), so it is raw SQL run
only when the database is PostgreSQL; Django's model state does not know the index, which is
why it lives here and not in `Meta.indexes`. The expression must stay identical to
`analytics.search.SEARCH_VECTOR_SQL` or the planner will not use the index.
"""

from django.db import migrations

INDEX = "session_search_idx"
CREATE = (
    f"CREATE INDEX IF NOT EXISTS {INDEX} ON analytics_chatsession USING gin "
    "(to_tsvector('simple'::regconfig, "
    "coalesce(initial_msg, '') || ' ' || coalesce(full_transcript, '')))"
)
DROP = f"DROP INDEX IF EXISTS {INDEX}"


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("analytics", "0003_import_heartbeat_live_feed")]

    operations = [migrations.RunPython(create_index, drop_index, elidable=False)]
