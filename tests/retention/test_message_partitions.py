"""Partitioned messages: the migration carries rows and keys over, exactly-once holds across
months through the key table (its triggers), and a month past every retention drops with its
attachments, files, auto-reply pointers and keys — nothing of the current month."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from io import StringIO

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from routing_service.attachments.models import Attachment, AttachmentSource, AttachmentStatus
from routing_service.chats.actions.inbound import (
    InboundItem,
    receive_inbound_batch,
    receive_inbound_message,
)
from routing_service.chats.actions.receipts import record_status_event
from routing_service.chats.models import Channel, Message, MessageDirection, MessageKey
from routing_service.ingest.adapters.base import InboundMessage, StatusEvent
from routing_service.queues.models import AutoReplySent
from routing_service.retention import partitions
from routing_service.retention.models import RetentionPolicy
from routing_service.tenancy.models import Company, User
from tests.tenancy.world import build_world

TABLE = "chats_message"
BEFORE = ("chats", "0010_queue_version_and_events")


def _migrate(target: tuple[str, str] | None) -> None:
    """Migrate to `target`, or (None) back to the latest state of every app."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([target] if target else executor.loader.graph.leaf_nodes())


def _inbound(provider_id: str, client: str = "cust-1", text: str = "hello") -> InboundMessage:
    return InboundMessage(
        provider="generic",
        provider_message_id=provider_id,
        client_external_id=client,
        client_name="Customer",
        text=text,
        sent_at=timezone.now(),
    )


def _move(message_id: int, when: dt.datetime) -> None:
    # An UPDATE of the partition key moves the row to that month's partition.
    Message.objects.unscoped().filter(pk=message_id).update(created_at=when)


def _at(month: dt.date, *, hour: int = 12) -> dt.datetime:
    return dt.datetime.combine(month, dt.time(hour), tzinfo=dt.UTC)


def _keys() -> dict[tuple[int, str], tuple[int, dt.datetime]]:
    return {
        (k.channel_id, k.provider_message_id): (k.message_id, k.created_at)
        for k in MessageKey.objects.all()
    }


@pytest.mark.django_db(transaction=True)
def test_migration_partitions_messages_and_carries_their_keys(
    company_a: Company, make_user: Callable[..., User]
) -> None:
    world = build_world(company_a, "Acme", make_user)
    old = timezone.now() - dt.timedelta(days=70)
    _migrate(BEFORE)
    try:
        assert not partitions.is_partitioned(TABLE)
        outbound = Message.objects.create(
            company=company_a,
            conversation=world.conversation,
            channel=world.channel,
            direction=MessageDirection.OUTBOUND,
            text="no provider id yet",
            sent_at=old,
        )
        Message.objects.unscoped().filter(pk=outbound.pk).update(created_at=old)
        before = {m["id"]: m for m in Message.objects.unscoped().values().order_by("id")}
    finally:
        _migrate(None)

    assert partitions.is_partitioned(TABLE)
    assert partitions.month_start(old.date()) in partitions.monthly_partitions(TABLE)
    after = {m["id"]: m for m in Message.objects.unscoped().values().order_by("id")}
    assert after == before
    # The existing provider ids became keys; the message without one has none.
    assert _keys() == {
        (world.channel.pk, "acme-m"): (world.message.pk, before[world.message.pk]["created_at"])
    }
    # Exactly-once holds on the new table: the same provider id on the channel is refused.
    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.create(
            company=company_a,
            conversation=world.conversation,
            channel=world.channel,
            direction=MessageDirection.INBOUND,
            provider_message_id="acme-m",
            text="again",
            sent_at=timezone.now(),
        )
    fresh = Message.objects.create(
        company=company_a,
        conversation=world.conversation,
        channel=world.other_channel,  # the same provider id on another channel is another key
        direction=MessageDirection.INBOUND,
        provider_message_id="acme-m",
        text="other channel",
        sent_at=timezone.now(),
    )
    assert fresh.pk > max(before)  # the id sequence continues after the copied rows
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = %s",
            [f"{TABLE}_pkey"],
        )
        assert cursor.fetchone()[0] == "PRIMARY KEY (id, created_at)"
        # Nothing references the partitioned table by a database foreign key.
        cursor.execute(
            "SELECT conname FROM pg_constraint WHERE contype = 'f' AND confrelid = %s::regclass",
            [TABLE],
        )
        assert cursor.fetchall() == []


@pytest.mark.django_db(transaction=True)
def test_a_redelivery_in_the_next_month_is_still_a_duplicate(company_a: Company) -> None:
    channel = Channel.objects.create(company=company_a, name="Web", provider="generic")
    this_month = partitions.month_start(timezone.now().date())
    last_month = partitions.add_months(this_month, -1)
    partitions.create_partition(TABLE, last_month)
    first = receive_inbound_message(channel, _inbound("edge-1"))
    assert not first.duplicate and first.message_id is not None
    # Recorded at the very end of last month: its row (and key) live in last month's partition.
    edge = _at(this_month, hour=0) - dt.timedelta(microseconds=1)
    _move(first.message_id, edge)
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT count(*) FROM "{partitions.partition_name(TABLE, last_month)}" WHERE id = %s',  # noqa: S608
            [first.message_id],
        )
        assert cursor.fetchone()[0] == 1
    assert _keys()[(channel.pk, "edge-1")] == (first.message_id, edge)

    # The provider redelivers it now (this month's partition): recorded once, as before.
    again = receive_inbound_message(channel, _inbound("edge-1"))
    assert again.duplicate
    # Twice in one router batch, beside a duplicate of the old one: one new row, no more.
    pids = ("edge-2", "edge-2", "edge-1")
    items = [InboundItem(channel, _inbound(pid), timezone.now()) for pid in pids]
    results = receive_inbound_batch(items)
    assert [r.duplicate for r in results] == [False, True, True]
    assert Message.objects.unscoped().filter(provider_message_id="edge-1").count() == 1
    assert Message.objects.unscoped().filter(provider_message_id="edge-2").count() == 1
    # A write that skips the router's look-up is refused by the key, whatever the month.
    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.create(
            company=company_a,
            conversation_id=first.conversation_id,
            channel=channel,
            direction=MessageDirection.INBOUND,
            provider_message_id="edge-1",
            text="bypass",
            sent_at=timezone.now(),
        )
    # Receipts find the message through the key, in last month's partition.
    assert record_status_event(
        channel.pk, StatusEvent(provider="generic", provider_message_id="edge-1", status="read")
    )
    assert Message.objects.unscoped().get(pk=first.message_id).delivery_status == "read"


@pytest.mark.django_db(transaction=True)
def test_keys_follow_updates_and_deletes(company_a: Company) -> None:
    channel = Channel.objects.create(company=company_a, name="Web", provider="generic")
    result = receive_inbound_message(channel, _inbound("k-1"))
    message = Message.objects.unscoped().get(pk=result.message_id)
    outbound = Message.objects.create(
        company=company_a,
        conversation=message.conversation,
        channel=channel,
        direction=MessageDirection.OUTBOUND,
        text="reply",
        sent_at=timezone.now(),
    )
    assert (channel.pk, "k-1") in _keys() and len(_keys()) == 1
    # The provider's id arrives on delivery (mark_sent's UPDATE): the key appears; a taken one
    # is refused.
    Message.objects.unscoped().filter(pk=outbound.pk).update(provider_message_id="k-2")
    assert _keys()[(channel.pk, "k-2")][0] == outbound.pk
    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.unscoped().filter(pk=outbound.pk).update(provider_message_id="k-1")
    # An update that leaves the key alone leaves it alone.
    Message.objects.unscoped().filter(pk=outbound.pk).update(text="edited")
    assert _keys()[(channel.pk, "k-2")][0] == outbound.pk
    # A deleted message frees its key: the provider id may be recorded again.
    Message.objects.unscoped().filter(pk=message.pk).delete()
    assert (channel.pk, "k-1") not in _keys()
    assert not receive_inbound_message(channel, _inbound("k-1")).duplicate


@pytest.mark.django_db(transaction=True)
def test_an_expired_month_of_messages_drops_with_what_points_at_it(
    company_a: Company, company_b: Company, make_user: Callable[..., User]
) -> None:
    world_a = build_world(company_a, "Acme", make_user)
    world_b = build_world(company_b, "Globex", make_user)
    this_month = partitions.month_start(timezone.now().date())
    ancient, recent = partitions.add_months(this_month, -30), partitions.add_months(this_month, -14)
    for month in (ancient, recent):
        partitions.create_partition(TABLE, month)
    old = receive_inbound_message(world_a.channel, _inbound("old-1", client="acme-old"))
    kept = receive_inbound_message(world_b.channel, _inbound("kept-1", client="globex-kept"))
    assert old.message_id is not None and kept.message_id is not None
    _move(old.message_id, _at(ancient))
    _move(kept.message_id, _at(recent))
    name = default_storage.save(f"attachments/{company_a.pk}/old", ContentFile(b"x"))
    old_file = Attachment.objects.create(
        company=company_a,
        message_id=old.message_id,
        source=AttachmentSource.URL,
        status=AttachmentStatus.READY,
        storage_name=name,
    )
    current_file = Attachment.objects.create(
        company=company_a, message=world_a.message, source=AttachmentSource.URL
    )
    reply = AutoReplySent.objects.create(
        company=company_a,
        conversation_id=old.conversation_id,
        kind="on_arrival",
        message_id=old.message_id,
    )
    # Company B keeps messages 800 days (A: the default 730): only the 30-month-old month goes.
    RetentionPolicy.objects.create(company=company_b, messages_days=800)

    out = StringIO()
    call_command("manage_partitions", "--no-purge", stdout=out)

    assert f"dropped {partitions.partition_name(TABLE, ancient)}" in out.getvalue()
    months = partitions.monthly_partitions(TABLE)
    assert ancient not in months and recent in months and this_month in months
    messages = Message.objects.unscoped()
    assert not messages.filter(pk=old.message_id).exists()
    assert messages.filter(pk=kept.message_id).exists()
    assert messages.filter(pk__in=[world_a.message.pk, world_b.message.pk]).count() == 2
    assert not Attachment.objects.unscoped().filter(pk=old_file.pk).exists()
    assert not default_storage.exists(name)
    assert Attachment.objects.unscoped().filter(pk=current_file.pk).exists()
    reply.refresh_from_db()
    assert reply.message_id is None
    keys = _keys()
    assert (world_a.channel.pk, "old-1") not in keys
    assert (world_b.channel.pk, "kept-1") in keys and (world_a.channel.pk, "acme-m") in keys
    assert partitions.add_months(this_month, partitions.MONTHS_AHEAD) in months  # ahead too
