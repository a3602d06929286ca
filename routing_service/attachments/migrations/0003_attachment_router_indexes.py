"""Three indexes fewer to write per inbound file (the router records a pending row per file).

`message_id` had an index of its own beside `attachment_message_idx` (message, id), which
serves the same look-ups; `uploaded_by_id` is set on agents' uploads only, so its index is
partial; `key`, a random UUID with a unique index, was never read (storage names draw their
own), so it goes. The foreign keys themselves are untouched: only the indexes are dropped
(Django's own AlterField would drop and re-validate the constraints).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("attachments", "0002_attachment_message_no_db_fk"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="attachment",
                    name="message",
                    field=models.ForeignKey(
                        blank=True,
                        db_constraint=False,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="attachments",
                        to="chats.message",
                    ),
                ),
                migrations.AlterField(
                    model_name="attachment",
                    name="uploaded_by",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "attachments_attachment_message_id_b2c11547"',
                    'CREATE INDEX "attachments_attachment_message_id_b2c11547" '
                    'ON "attachments_attachment" ("message_id")',
                ),
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "attachments_attachment_uploaded_by_id_17a1c093"',
                    'CREATE INDEX "attachments_attachment_uploaded_by_id_17a1c093" '
                    'ON "attachments_attachment" ("uploaded_by_id")',
                ),
            ],
        ),
        migrations.AddIndex(
            model_name="attachment",
            index=models.Index(
                condition=models.Q(("uploaded_by__isnull", False)),
                fields=["uploaded_by"],
                name="attachment_uploader_idx",
            ),
        ),
        migrations.RemoveField(model_name="attachment", name="key"),
    ]
