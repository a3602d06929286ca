"""Attachment → message without a database foreign key: messages become a partitioned table
(chats.0011), whose database primary key (id, created_at) a key on `message_id` alone cannot
reference. The ORM keeps the CASCADE; dropping a month of messages deletes its attachments."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("attachments", "0001_attachments_and_policies"),
        ("chats", "0010_queue_version_and_events"),
    ]

    operations = [
        migrations.AlterField(
            model_name="attachment",
            name="message",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="attachments",
                to="chats.message",
            ),
        ),
    ]
