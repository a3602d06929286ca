"""The router's set-based writes store exactly what the ORM would, value for value."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from routing_service.chats.bulk import _json_default, insert_rows, update_rows
from routing_service.chats.models import (
    Channel,
    Client,
    Conversation,
    DeliveryStatus,
    Message,
    MessageDirection,
    Provider,
)
from routing_service.tenancy.models import Company

pytestmark = pytest.mark.django_db

TRICKY_TEXTS = [
    'it\'s "quoted" and back\\slashed',
    "line one\nline two\ttabbed",
    "ünïcødé — 紧急 🚨",
    "",
    "{not: json}",
]


@pytest.fixture
def conversation(company_a: Company) -> Conversation:
    channel = Channel.objects.create(
        company=company_a, name="Web", provider=Provider.GENERIC, secret="s3cret"
    )
    client = Client.objects.create(company=company_a, external_id="c-1")
    now = timezone.now()
    return Conversation.objects.create(
        company=company_a,
        client=client,
        channel=channel,
        created_at=now,
        queued_at=now,
        last_message_at=now,
    )


def _message(conversation: Conversation, n: int, text: str, sent_at: dt.datetime) -> Message:
    return Message(
        company_id=conversation.company_id,
        conversation=conversation,
        channel=conversation.channel,
        direction=MessageDirection.INBOUND,
        provider_message_id=f"p-{n}",
        text=text,
        sent_at=sent_at,
        delivery_status=DeliveryStatus.RECEIVED,
        metadata={"n": n, "nested": {"list": [1, "two", None], "flag": True}, "text": text},
    )


def test_inserted_rows_read_back_equal_and_get_their_ids(conversation: Conversation) -> None:
    sent_at = dt.datetime(2026, 3, 2, 9, 30, 15, 123456, tzinfo=ZoneInfo("Europe/Berlin"))
    before = timezone.now()
    objs = [_message(conversation, n, text, sent_at) for n, text in enumerate(TRICKY_TEXTS)]

    inserted = insert_rows(objs)

    assert [o.pk for o in inserted] == sorted(o.pk for o in inserted)
    assert all(o.pk is not None and not o._state.adding for o in inserted)
    for obj in objs:
        row = Message.objects.unscoped().get(pk=obj.pk)
        assert row.provider_message_id == obj.provider_message_id
        assert row.text == obj.text
        assert row.sent_at == sent_at
        assert row.metadata == obj.metadata
        assert row.direction == MessageDirection.INBOUND
        assert row.delivery_attempts == 0
        assert row.sender_id is None
        assert row.created_at >= before  # auto_now_add is applied


def test_defaults_of_the_model_are_written(company_a: Company) -> None:
    (channel,) = insert_rows(
        [Channel(company=company_a, name="Bulk", provider=Provider.TELEGRAM, secret="x" * 24)]
    )

    row = Channel.objects.unscoped().get(pk=channel.pk)
    assert row.uuid == channel.uuid
    assert row.config == {}
    assert row.is_active is True


def test_updated_rows_take_new_values_including_nulls(conversation: Conversation) -> None:
    later = conversation.last_message_at + dt.timedelta(minutes=5)
    conversation.message_count = 7
    conversation.last_message_at = later
    conversation.subject = "it's a 'test' \\ 🚨"
    conversation.first_response_due_at = None

    update_rows([conversation], ["message_count", "last_message_at", "subject"])

    row = Conversation.objects.unscoped().get(pk=conversation.pk)
    assert (row.message_count, row.last_message_at, row.subject) == (7, later, conversation.subject)


def test_values_json_cannot_carry_are_converted_or_refused() -> None:
    assert _json_default(Decimal("12.3400")) == "12.3400"
    assert _json_default(dt.timedelta(minutes=2)) == "120.0 seconds"
    with pytest.raises(TypeError):
        _json_default(b"bytes")
