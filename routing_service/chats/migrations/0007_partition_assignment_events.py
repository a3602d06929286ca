"""Partition the assignment event log by month of `created_at` (issue 15: retention).

Rows are copied into the new partitioned table (routing_service/retention/conversion.py); the
Django state does not change: `id` stays the model's primary key (the database's is
`(id, created_at)`, see routing_service/retention/partitions.py).
"""

from django.db import migrations
from django.utils import timezone

TABLE = "chats_assignmentevent"


def forwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    from routing_service.retention.conversion import partition_by_month
    from routing_service.retention.models import default_days
    from routing_service.retention.partitions import is_partitioned

    if schema_editor.connection.vendor != "postgresql" or is_partitioned(TABLE):
        return  # SQLite (local demo) keeps the plain table: no partitions there
    with schema_editor.connection.cursor() as cursor:
        # Months back to the default retention: rows written with an older time still fit.
        back = default_days("events")
        partition_by_month(cursor, TABLE, "created_at", timezone.now(), back_days=back)


def backwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    from routing_service.retention.conversion import unpartition
    from routing_service.retention.partitions import is_partitioned

    if schema_editor.connection.vendor != "postgresql" or not is_partitioned(TABLE):
        return
    with schema_editor.connection.cursor() as cursor:
        unpartition(cursor, TABLE)


class Migration(migrations.Migration):
    dependencies = [("chats", "0006_csat_whisper_activity_index")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
