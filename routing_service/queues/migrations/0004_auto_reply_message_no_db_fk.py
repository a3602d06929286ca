"""Auto-reply record → message without a database foreign key (messages become partitioned in
chats.0011; see attachments.0002). The ORM keeps SET_NULL; a dropped month clears it."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("queues", "0003_auto_reply_sent"),
    ]

    operations = [
        migrations.AlterField(
            model_name="autoreplysent",
            name="message",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="chats.message",
            ),
        ),
    ]
