"""The data source foreign key loses its own index: ``session_source_start_idx`` serves it.

On PostgreSQL, migration 0005 already made ``session_source_start_idx`` (``data_source_id,
start_time``, covering the dashboards' columns), so the foreign key's single-column index was
a second copy of its leading column that every imported row had to be written into (about
1 µs a row of a 1,000,000-row import). The model now declares the index by that name for
every database; only where 0005 did not create it (SQLite) is a plain one created here.
"""

from django.db import migrations, models

INDEX = "session_source_start_idx"


def create_elsewhere(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        model = apps.get_model("analytics", "ChatSession")
        schema_editor.add_index(
            model, models.Index(fields=["data_source", "start_time"], name=INDEX)
        )


def drop_elsewhere(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        model = apps.get_model("analytics", "ChatSession")
        schema_editor.remove_index(
            model, models.Index(fields=["data_source", "start_time"], name=INDEX)
        )


class Migration(migrations.Migration):
    dependencies = [("analytics", "0006_session_search_vector")]

    operations = [
        migrations.AlterField(
            model_name="chatsession",
            name="data_source",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=models.deletion.CASCADE,
                related_name="sessions",
                to="analytics.datasource",
            ),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddIndex(
                    model_name="chatsession",
                    index=models.Index(fields=["data_source", "start_time"], name=INDEX),
                ),
            ],
            database_operations=[
                migrations.RunPython(create_elsewhere, drop_elsewhere, elidable=False),
            ],
        ),
    ]
