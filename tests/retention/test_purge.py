"""Per-company retention: the purge deletes what is older than the company's own settings,
files included, and nothing of a company that keeps longer; the REST policy is validated and
company-scoped."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.utils import timezone

from analytics.models import ChatResponseTracking, ChatSession
from routing_service.attachments.models import Attachment, AttachmentSource, AttachmentStatus
from routing_service.chats.models import AssignmentEvent, Message
from routing_service.retention.models import RetentionPolicy
from routing_service.retention.purge import purge_company
from routing_service.tenancy.models import Company, User
from sla_engine.models import SlaTimer
from tests.tenancy.world import World, build_world


def _age(world: World, days: int) -> dict[str, Any]:
    """Make the world's message, event, session (and a fired timer) `days` old."""
    then = timezone.now() - dt.timedelta(days=days)
    Message.objects.unscoped().filter(pk=world.message.pk).update(sent_at=then)
    AssignmentEvent.objects.unscoped().filter(pk=world.event.pk).update(created_at=then)
    ChatSession.objects.unscoped().filter(pk=world.session.pk).update(start_time=then)
    timer = SlaTimer.objects.create(
        company=world.company,
        conversation=world.conversation,
        kind="breach",
        stage=1,
        due_at=then,
        fired_at=then,
    )
    pending = SlaTimer.objects.create(
        company=world.company,
        conversation=world.conversation,
        kind="warning",
        stage=0,
        due_at=then,
    )
    name = default_storage.save(f"attachments/{world.company.pk}/old", ContentFile(b"x"))
    Attachment.objects.create(
        company=world.company,
        message=world.message,
        source=AttachmentSource.URL,
        status=AttachmentStatus.READY,
        storage_name=name,
    )
    return {"timer": timer.pk, "pending": pending.pk, "file": name}


def test_purge_honours_each_companys_retention(
    company_a: Company,
    company_b: Company,
    make_user: Callable[..., User],
    django_capture_on_commit_callbacks: Any,
) -> None:
    a, b = build_world(company_a, "Acme", make_user), build_world(company_b, "Globex", make_user)
    old_a, old_b = _age(a, 45), _age(b, 45)
    young = Message.objects.create(
        company=company_a,
        conversation=a.conversation,
        channel=a.channel,
        direction="inbound",
        text="recent",
        sent_at=timezone.now() - dt.timedelta(days=5),
    )
    RetentionPolicy.objects.create(
        company=company_a, messages_days=30, events_days=30, sessions_days=30
    )
    tracking = list(ChatResponseTracking.objects.unscoped().values().order_by("id"))

    with django_capture_on_commit_callbacks(execute=True):
        counts = purge_company(company_a)
        assert purge_company(company_b) == {
            "messages": 0,
            "assignment_events": 0,
            "sla_timers": 0,
            "chat_sessions": 0,
        }

    assert counts == {"messages": 1, "assignment_events": 1, "sla_timers": 1, "chat_sessions": 1}
    assert not Message.objects.unscoped().filter(pk=a.message.pk).exists()
    assert Message.objects.unscoped().filter(pk=young.pk).exists()
    assert not default_storage.exists(old_a["file"])
    assert not SlaTimer.objects.unscoped().filter(pk=old_a["timer"]).exists()
    assert SlaTimer.objects.unscoped().filter(pk=old_a["pending"]).exists()  # still to fire
    assert not ChatSession.objects.unscoped().filter(pk=a.session.pk).exists()
    # Company B keeps the default (730 days): all of its 45-day-old rows are there.
    assert Message.objects.unscoped().filter(pk=b.message.pk).exists()
    assert AssignmentEvent.objects.unscoped().filter(pk=b.event.pk).exists()
    assert ChatSession.objects.unscoped().filter(pk=b.session.pk).exists()
    assert default_storage.exists(old_b["file"])
    # Roll-ups stay.
    assert list(ChatResponseTracking.objects.unscoped().values().order_by("id")) == tracking


def test_company_admin_reads_and_sets_retention_over_rest(
    api: Any, admin_a: User, admin_b: User, make_user: Callable[..., User]
) -> None:
    client = api(admin_a)
    response = client.get("/api/v1/retention-policy/")
    assert response.status_code == 200
    assert response.json()["messages_days"] == 730
    response = client.patch("/api/v1/retention-policy/", {"messages_days": 90}, format="json")
    assert response.status_code == 200, response.content
    assert RetentionPolicy.objects.get(company=admin_a.company).messages_days == 90
    bad = client.patch("/api/v1/retention-policy/", {"events_days": 0}, format="json")
    assert bad.status_code == 400 and "events_days" in bad.json()
    text = client.patch("/api/v1/retention-policy/", {"sessions_days": "many"}, format="json")
    assert text.status_code == 400 and "sessions_days" in text.json()
    # Company B's admin sees B's own (default) policy, not A's.
    assert api(admin_b).get("/api/v1/retention-policy/").json()["messages_days"] == 730
    agent = make_user(admin_a.company)
    assert api(agent).get("/api/v1/retention-policy/").status_code == 403
