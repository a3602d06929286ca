"""Every existing company keeps working unchanged: one default queue with every agent and
supervisor in it, and every existing chat pointed at it."""

from django.db import migrations
from django.db.models import F

HANDLING_ROLES = ("agent", "supervisor")
DEFAULT_SKILL_LEVEL = 5


def create_default_queues(apps, schema_editor):
    Company = apps.get_model("tenancy", "Company")
    User = apps.get_model("tenancy", "User")
    Queue = apps.get_model("queues", "Queue")
    QueueMembership = apps.get_model("queues", "QueueMembership")
    Conversation = apps.get_model("chats", "Conversation")
    for company in Company.objects.all().iterator():
        queue = Queue.objects.filter(company=company, is_default=True).first()
        if queue is None:
            name = "Default"
            if Queue.objects.filter(company=company, name=name).exists():
                name = "Default queue"
            queue = Queue.objects.create(company=company, name=name, is_default=True)
        user_ids = User.objects.filter(
            company=company, role__in=HANDLING_ROLES
        ).values_list("id", flat=True)
        QueueMembership.objects.bulk_create(
            [
                QueueMembership(
                    company=company, queue=queue, user_id=uid, skill_level=DEFAULT_SKILL_LEVEL
                )
                for uid in user_ids
            ],
            ignore_conflicts=True,
        )
        Conversation.objects.filter(company=company, queue__isnull=True).update(
            queue=queue, queue_entered_at=F("queued_at")
        )


class Migration(migrations.Migration):
    dependencies = [
        ("queues", "0001_initial"),
        ("chats", "0009_conversation_queue"),
    ]

    operations = [
        migrations.RunPython(create_default_queues, migrations.RunPython.noop, elidable=False),
    ]
