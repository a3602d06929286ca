"""The company-scoped manager: explicit `for_company`, the active company, and `unscoped`."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import models

from analytics.models import ChatResponseTracking, ChatSession, Dashboard, DataSource
from routing_service.chats.models import (
    AssignmentEvent,
    Channel,
    ChatAssignment,
    ChatNotification,
    Client,
    Conversation,
    Message,
    RoutingPolicy,
)
from routing_service.tenancy.context import active_company, get_active_company
from sla_engine.models import ChatSLA
from tests.tenancy.world import World, pks

pytestmark = pytest.mark.django_db

TENANT_MODELS: list[tuple[type[models.Model], str]] = [
    (Channel, "channel"),
    (Client, "client"),
    (Conversation, "conversation"),
    (Message, "message"),
    (ChatAssignment, "assignment"),
    (AssignmentEvent, "event"),
    (ChatNotification, "notification"),
    (RoutingPolicy, "routing_policy"),
    (ChatSLA, "sla"),
    (DataSource, "data_source"),
    (ChatSession, "session"),
    (Dashboard, "dashboard"),
    (ChatResponseTracking, "tracking"),
]
MODEL_IDS = [model.__name__ for model, _ in TENANT_MODELS]


def companies(queryset: models.QuerySet[Any]) -> set[int]:
    return set(queryset.values_list("company_id", flat=True))


@pytest.mark.parametrize(("model", "row"), TENANT_MODELS, ids=MODEL_IDS)
def test_for_company_excludes_other_companies(
    worlds: tuple[World, World], model: type[models.Model], row: str
) -> None:
    a, b = worlds
    rows = pks(model.objects.for_company(a.company))  # type: ignore[attr-defined]
    assert a.row(row).pk in rows
    assert b.row(row).pk not in rows
    assert companies(model.objects.for_company(b.company.pk)) == {b.company.pk}  # type: ignore[attr-defined]


@pytest.mark.parametrize(("model", "row"), TENANT_MODELS, ids=MODEL_IDS)
def test_without_an_active_company_the_default_manager_sees_every_company(
    worlds: tuple[World, World], model: type[models.Model], row: str
) -> None:
    a, b = worlds
    assert get_active_company() is None
    assert {a.row(row).pk, b.row(row).pk} <= pks(model._default_manager.all())


@pytest.mark.parametrize(("model", "row"), TENANT_MODELS, ids=MODEL_IDS)
def test_active_company_scopes_the_default_manager(
    worlds: tuple[World, World], model: type[models.Model], row: str
) -> None:
    a, b = worlds
    with active_company(a.company):
        assert a.row(row).pk in pks(model._default_manager.all())
        assert companies(model._default_manager.all()) == {a.company.pk}
        assert not model._default_manager.filter(pk=b.row(row).pk).exists()
        with pytest.raises(model.DoesNotExist):  # type: ignore[attr-defined]
            model._default_manager.get(pk=b.row(row).pk)
    # Leaving the block restores the unscoped view.
    assert b.row(row).pk in pks(model._default_manager.all())


@pytest.mark.parametrize(("model", "row"), TENANT_MODELS, ids=MODEL_IDS)
def test_unscoped_sees_every_company_even_with_an_active_company(
    worlds: tuple[World, World], model: type[models.Model], row: str
) -> None:
    a, b = worlds
    with active_company(a.company):
        assert {a.row(row).pk, b.row(row).pk} <= pks(model.objects.unscoped())  # type: ignore[attr-defined]


def test_for_company_inside_another_active_company_finds_nothing(
    worlds: tuple[World, World],
) -> None:
    """The active company is never widened by naming another one."""
    a, b = worlds
    with active_company(a.company):
        assert not Conversation.objects.for_company(b.company).exists()


def test_active_company_scopes_reverse_related_managers(worlds: tuple[World, World]) -> None:
    a, b = worlds
    with active_company(a.company):
        # Another company's parent row, reached without the manager (e.g. from an old id)...
        b_client = Client.objects.unscoped().get(pk=b.client.pk)
        b_channel = Channel.objects.unscoped().get(pk=b.channel.pk)
        # ...still yields none of that company's rows through its related managers.
        assert not b_client.conversations.exists()
        assert not b_client.notifications.exists()
        assert not b_channel.messages.exists()
        assert not b.conversation.assignments.exists()
        assert not b.conversation.events.exists()
        assert not b.data_source.sessions.exists()
        # The active company's own related rows are all there.
        assert pks(a.client.conversations.all()) == {a.conversation.pk}
        assert pks(a.channel.messages.all()) == {a.message.pk}
    assert pks(b_client.conversations.all()) == {b.conversation.pk}


def test_active_company_scopes_many_to_many_managers(worlds: tuple[World, World]) -> None:
    a, b = worlds
    with active_company(a.company):
        assert not b.dashboard.data_sources.exists()
        assert pks(a.dashboard.data_sources.all()) == {a.data_source.pk}
    assert pks(b.dashboard.data_sources.all()) == {b.data_source.pk}


def test_active_company_is_reset_after_an_exception(worlds: tuple[World, World]) -> None:
    a, _ = worlds
    with pytest.raises(RuntimeError), active_company(a.company):
        raise RuntimeError("boom")
    assert get_active_company() is None
