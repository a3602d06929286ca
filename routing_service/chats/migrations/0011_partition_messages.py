"""Partition messages by month of `created_at`; their de-duplication key moves to `MessageKey`.

A partitioned unique index must include the partition key, so the unique (channel, provider
message id) cannot stay on `chats_message`: it becomes the primary key of the plain table
`chats_messagekey`, kept by triggers on the message table (routing_service/chats/message_keys.py).
Steps: drop the unique index, create the key table, turn the message table into a partitioned
one with its rows (routing_service/retention/conversion.py, as for assignment events: months
from the oldest row to three ahead), copy the existing keys, then create the triggers. The
foreign keys that pointed at messages were removed just before (attachments.0002, queues.0004).
Reversible: the reverse turns the table back into a plain one and re-creates the unique index.
"""

from django.db import migrations, models
from django.utils import timezone

TABLE = "chats_message"


def forwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    from routing_service.chats import message_keys
    from routing_service.retention.conversion import partition_by_month
    from routing_service.retention.partitions import is_partitioned

    vendor = schema_editor.connection.vendor
    with schema_editor.connection.cursor() as cursor:
        if vendor == "postgresql" and not is_partitioned(TABLE):
            # No months back: `created_at` is always the insert time; older rows have theirs.
            partition_by_month(cursor, TABLE, "created_at", timezone.now())
        cursor.execute(message_keys.fill_sql())
        for statement in message_keys.install_sql(vendor):
            cursor.execute(statement)


def backwards(apps, schema_editor):  # type: ignore[no-untyped-def]
    from routing_service.chats import message_keys
    from routing_service.retention.conversion import unpartition
    from routing_service.retention.partitions import is_partitioned

    vendor = schema_editor.connection.vendor
    with schema_editor.connection.cursor() as cursor:
        for statement in message_keys.uninstall_sql(vendor):
            cursor.execute(statement)
        if vendor == "postgresql" and is_partitioned(TABLE):
            unpartition(cursor, TABLE)


class Migration(migrations.Migration):
    dependencies = [
        ("chats", "0010_queue_version_and_events"),
        ("attachments", "0002_attachment_message_no_db_fk"),
        ("queues", "0004_auto_reply_message_no_db_fk"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="message", name="message_unique_provider_id"),
        migrations.CreateModel(
            name="MessageKey",
            fields=[
                (
                    "pk",
                    models.CompositePrimaryKey(
                        "channel_id",
                        "provider_message_id",
                        blank=True,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                ("channel_id", models.BigIntegerField()),
                ("provider_message_id", models.CharField(max_length=255)),
                ("message_id", models.BigIntegerField()),
                ("created_at", models.DateTimeField()),
            ],
        ),
        migrations.RunPython(forwards, backwards, elidable=False),
    ]
