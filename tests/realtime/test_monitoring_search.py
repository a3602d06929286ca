"""The conversations page's text search (realtime/monitoring.py): the customer's name,
external id and email (words with an "@"), the subject and `#id` — from the trigram indexes
of chats migration 0007 — and never another company's chats."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from django.db import connection
from django.utils import timezone

from realtime import monitoring
from routing_service.chats.models import Channel, Client, Conversation

pytestmark = pytest.mark.django_db(transaction=True)


def found(company_id: int, q: str) -> set[int]:
    now = timezone.now() + dt.timedelta(seconds=1)
    chats = monitoring.filtered(company_id, monitoring.Filters(q=q), now=now)
    return set(chats.values_list("pk", flat=True))


def test_search_by_name_id_email_subject_and_number(
    channel_a: Channel, channel_b: Channel, inbound: Callable[..., int]
) -> None:
    grace = inbound(channel_a, "ext-grace-7", "hi", name="Grace Hopper")
    alan = inbound(channel_a, "ext-alan-3", "hi", name="Alan Turing")
    theirs = inbound(channel_b, "ext-grace-9", "hi", name="Grace Other")
    Client.objects.unscoped().filter(conversations=alan).update(email="alan@bletchley.example")
    Conversation.objects.unscoped().filter(pk=grace).update(subject="Broken compiler")
    a = channel_a.company_id

    assert found(a, "grace") == {grace}
    assert found(a, "ALAN-3") == {alan}
    assert found(a, "@bletchley") == {alan}
    assert found(a, "compiler") == {grace}
    assert found(a, f"#{alan}") == {alan}
    assert found(a, "nobody") == set()
    assert found(channel_b.company_id, "grace") == {theirs}


def test_the_search_has_its_trigram_indexes() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE indexname LIKE %s",
            ["%_trgm_idx"],
        )
        indexes = dict(cursor.fetchall())
    assert set(indexes) >= {
        "client_name_trgm_idx",
        "client_external_id_trgm_idx",
        "client_email_trgm_idx",
        "conversation_subject_trgm_idx",
    }
    assert all("gin_trgm_ops" in definition for definition in indexes.values())
