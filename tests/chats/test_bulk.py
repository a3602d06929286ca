"""The router's set-based writes store exactly what the ORM would, value for value."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from routing_service.chats.bulk import _json_default, insert_rows, insert_values, new, update_rows
from routing_service.chats.models import (
    AssignmentEvent,
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


def test_new_builds_the_instance_the_constructor_would(conversation: Conversation) -> None:
    sent_at = timezone.now()
    values = {
        "company_id": conversation.company_id,
        "conversation_id": conversation.pk,
        "channel_id": conversation.channel_id,
        "direction": MessageDirection.INBOUND,
        "provider_message_id": "p-new",
        "text": "hello",
        "sent_at": sent_at,
        "delivery_status": DeliveryStatus.RECEIVED,
    }
    built = new(Message, values, related={"conversation": conversation})
    expected = Message(**values)

    fields = [f.attname for f in Message._meta.concrete_fields]
    assert [getattr(built, f) for f in fields] == [getattr(expected, f) for f in fields]
    assert built._state.adding and built.pk is None
    assert built.metadata == {} and built.metadata is not new(Message, values).metadata
    with CaptureQueriesContext(connection) as queries:
        assert built.conversation is conversation  # cached: no query
    assert not queries.captured_queries
    (saved,) = insert_rows([built])
    row = Message.objects.unscoped().get(pk=saved.pk)
    assert (row.text, row.sent_at, row.metadata) == ("hello", sent_at, {})


def test_insert_values_fills_defaults_and_one_timestamp_per_call(
    conversation: Conversation, company_a: Company
) -> None:
    before = timezone.now()
    ids = insert_values(
        AssignmentEvent,
        [
            {
                "company_id": conversation.company_id,
                "conversation_id": conversation.pk,
                "action": AssignmentEvent.Action.QUEUED,
                "reason": f"r{n}",
                "data": {"n": n, "text": TRICKY_TEXTS[n % len(TRICKY_TEXTS)]},
            }
            for n in range(3)
        ]
        + [{"company_id": conversation.company_id, "conversation_id": conversation.pk}],
    )

    found = {e.pk: e for e in AssignmentEvent.objects.unscoped().filter(pk__in=ids)}
    assert list(found) == sorted(found) and sorted(found) == ids
    events = [found[pk] for pk in ids]
    assert [e.reason for e in events] == ["r0", "r1", "r2", ""]
    assert events[1].data == {"n": 1, "text": TRICKY_TEXTS[1]}
    assert events[3].data == {} and events[3].assignment_id is None
    assert len({e.created_at for e in events}) == 1 and events[0].created_at >= before
    # A callable default is called for each row (a uuid default must not repeat).
    channel_ids = insert_values(
        Channel,
        [
            {"company_id": company_a.pk, "name": f"c{n}", "provider": Provider.GENERIC}
            for n in range(2)
        ],
    )
    assert len(set(Channel.objects.unscoped().filter(pk__in=channel_ids).values_list("uuid"))) == 2
