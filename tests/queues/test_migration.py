"""The data migration: an existing company keeps working with one default queue."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE = [("queues", "0001_initial"), ("chats", "0009_conversation_queue")]
AFTER = [("queues", "0002_default_queue_per_company")]


def _migrate(targets: list[tuple[str, str]]) -> Any:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return MigrationExecutor(connection).loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_existing_company_gets_default_queue_with_its_agents_and_chats() -> None:
    apps = _migrate(BEFORE)
    try:
        Company = apps.get_model("tenancy", "Company")
        User = apps.get_model("tenancy", "User")
        Channel = apps.get_model("chats", "Channel")
        Client = apps.get_model("chats", "Client")
        Conversation = apps.get_model("chats", "Conversation")
        acme = Company.objects.create(name="Acme", slug="acme-mig")
        other = Company.objects.create(name="Other", slug="other-mig")
        agent = User.objects.create(username="mig-agent", company=acme, role="agent")
        supervisor = User.objects.create(username="mig-sup", company=acme, role="supervisor")
        User.objects.create(username="mig-viewer", company=acme, role="viewer")
        User.objects.create(username="mig-admin", company=acme, role="company_admin")
        stranger = User.objects.create(username="mig-other", company=other, role="agent")
        channel = Channel.objects.create(company=acme, name="web", provider="generic", secret="s")
        now = timezone.now()
        chats = [
            Conversation.objects.create(
                company=acme,
                client=Client.objects.create(company=acme, external_id=f"c{i}"),
                channel=channel,
                status=status,
                created_at=now,
                queued_at=now,
                last_message_at=now,
            )
            for i, status in enumerate(["waiting", "assigned", "resolved"])
        ]

        apps = _migrate(AFTER)
        Queue = apps.get_model("queues", "Queue")
        Conversation = apps.get_model("chats", "Conversation")
        default = Queue.objects.get(company_id=acme.pk, is_default=True)
        members = set(default.memberships.values_list("user_id", flat=True))
        assert members == {agent.pk, supervisor.pk}
        assert set(
            Conversation.objects.filter(pk__in=[c.pk for c in chats]).values_list(
                "queue_id", flat=True
            )
        ) == {default.pk}
        assert Conversation.objects.get(pk=chats[0].pk).queue_entered_at == now
        other_default = Queue.objects.get(company_id=other.pk, is_default=True)
        assert set(other_default.memberships.values_list("user_id", flat=True)) == {stranger.pk}
    finally:
        executor = MigrationExecutor(connection)
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())
