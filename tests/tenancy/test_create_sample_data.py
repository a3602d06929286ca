"""`create_sample_data` builds a usable demo and is idempotent."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from analytics.models import ChatSession
from routing_service.chats.models import (
    Channel,
    ChatAssignment,
    Client,
    Conversation,
    Message,
    RoutingPolicy,
)
from routing_service.tenancy.models import Company, Role, User
from sla_engine.models import ChatSLA

pytestmark = pytest.mark.django_db

MODELS = [
    Company,
    User,
    Channel,
    Client,
    Conversation,
    Message,
    ChatAssignment,
    ChatSLA,
    RoutingPolicy,
    ChatSession,
]


def counts() -> dict[str, int]:
    return {
        m.__name__: m.objects.unscoped().count()
        if hasattr(m.objects, "unscoped")
        else m.objects.count()
        for m in MODELS
    }


def test_sample_data_is_complete_and_idempotent(redis_client: object) -> None:
    out = StringIO()
    call_command("create_sample_data", stdout=out)
    first = counts()

    assert User.objects.get(username="admin").role == Role.SUPERADMIN
    assert User.objects.get(username="admin").check_password("admin123")
    assert first["Company"] == 3
    for company in Company.objects.all():
        roles = set(User.objects.filter(company=company).values_list("role", flat=True))
        assert {Role.COMPANY_ADMIN, Role.SUPERVISOR, Role.AGENT} <= roles
        providers = set(Channel.objects.for_company(company).values_list("provider", flat=True))
        assert providers == {"generic", "twilio", "whatsapp", "telegram"}
        assert ChatSLA.objects.for_company(company).count() == 4
        assert Conversation.objects.for_company(company).count() >= 5
    for channel in Channel.objects.unscoped():
        assert f"secret={channel.secret}" in out.getvalue()
    # The sample chats went through routing: available agents got offers.
    assert first["ChatAssignment"] > 0

    call_command("create_sample_data", stdout=StringIO())
    assert counts() == first
