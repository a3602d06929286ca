"""Trigram (pg_trgm) GIN indexes for the conversations page's text search.

`realtime/monitoring.py` searches chats by words in the customer's name, external id and email
and in the chat's subject with Django's `icontains` — on PostgreSQL `UPPER(col::text) LIKE
UPPER('%words%')`, which no B-tree can serve: at 100,000 open chats the search walked every
chat (tests/perf/bench_conversations.py: ~360 ms). GIN indexes over the same `UPPER(col::text)`
expressions with `gin_trgm_ops` answer those LIKEs from the index.

PostgreSQL only: the embedded SQLite mode has no pg_trgm (and searches its small data by
scanning), so the operations do nothing there — which is also why the indexes are not in the
models' `Meta.indexes` (a `GinIndex` cannot be created on SQLite).
"""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations

# (index, table, column): the expressions must be exactly what `icontains` compiles to.
INDEXES = (
    ("client_name_trgm_idx", "chats_client", "name"),
    ("client_external_id_trgm_idx", "chats_client", "external_id"),
    ("client_email_trgm_idx", "chats_client", "email"),
    ("conversation_subject_trgm_idx", "chats_conversation", "subject"),
)


def create_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, table, column in INDEXES:
        schema_editor.execute(
            f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" '
            f'USING gin ((UPPER(("{column}")::text)) gin_trgm_ops)'
        )


def drop_indexes(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _table, _column in INDEXES:
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')


class Migration(migrations.Migration):
    dependencies = [
        ("chats", "0007_partition_assignment_events"),
    ]

    operations = [
        TrigramExtension(),  # does nothing on SQLite
        migrations.RunPython(create_indexes, drop_indexes, elidable=False),
    ]
