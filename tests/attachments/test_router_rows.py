"""The router's part of inbound files: pending rows written in one statement per company, the
batch's `chat.message` events built from the written values (no read back), one download task
per company at commit, and nothing again when the stream delivers an entry twice."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
import pytest
import redis
from django.conf import settings
from django.utils import timezone

from events.log import log_key
from events.schema import supervisors_group
from routing_service.attachments.models import Attachment, AttachmentSource, AttachmentStatus
from routing_service.attachments.payloads import attachment_data
from routing_service.chats.actions.inbound import InboundItem, receive_inbound_batch
from routing_service.chats.models import Channel, Message
from routing_service.chats.payloads import ATTACHMENT_COUNT_KEY, message_data
from routing_service.ingest.adapters.base import InboundMessage, MediaRef
from routing_service.tenancy import actions as tenancy_actions
from routing_service.tenancy.models import Company

SECRET = "router-rows-channel-secret-0123456789"


def media(n: int, name: str = "photo.jpg", content_type: str = "image/jpeg") -> MediaRef:
    return MediaRef(
        source="url",
        ref=f"https://files.example.com/{n}/{name or 'x'}",
        content_type=content_type,
        name=name,
        size=1000 + n if n % 2 else None,
    )


def inbound(channel: Channel, mid: str, client: str, files: list[MediaRef]) -> InboundItem:
    message = InboundMessage(
        provider="generic",
        provider_message_id=mid,
        client_external_id=client,
        client_name=client,
        text="" if files else "hello",
        sent_at=timezone.now(),
        attachments=files,
    )
    return InboundItem(channel, message, timezone.now())


def channel_of(company: Company) -> Channel:
    return Channel.objects.create(
        company=company, name="generic", provider="generic", secret=SECRET, config={}
    )


def supervisor_messages(company: Company) -> dict[int, dict[str, Any]]:
    """The `chat.message` events the company's supervisors got, by message id (the last)."""
    log = redis.Redis.from_url(settings.CHANNEL_LAYER_REDIS_URL)
    entries = log.xrange(log_key(company.pk, supervisors_group(company.pk)))
    events = [msgspec.json.decode(fields[b"e"]) for _id, fields in entries]
    return {e["data"]["message_id"]: e["data"] for e in events if e["type"] == "chat.message"}


@pytest.fixture
def companies(transactional_db: Any) -> tuple[Company, Company]:
    return (
        tenancy_actions.create_company("Rows A", "rows-a"),
        tenancy_actions.create_company("Rows B", "rows-b"),
    )


def test_a_batch_of_two_companies_records_each_file_pending_and_its_event_says_what_the_row_says(
    companies: tuple[Company, Company],
) -> None:
    a, b = companies
    channel_a, channel_b = channel_of(a), channel_of(b)
    items = [
        inbound(channel_a, "a-1", "alice", [media(1), media(2, "scan.pdf", "application/pdf")]),
        inbound(channel_b, "b-1", "bob", [media(3, '../../etc/"pass<wd>"\r\n.png', "image/png")]),
        inbound(channel_a, "a-2", "alice", []),
        inbound(channel_b, "b-2", "carol", [media(4, "", "audio/ogg")]),
        inbound(channel_a, "a-3", "dave", [media(5)]),
    ]
    results = receive_inbound_batch(items)
    assert not any(r.duplicate for r in results)
    ids = [r.message_id for r in results]
    assert all(ids)

    rows: dict[int, list[Attachment]] = {}
    for attachment in Attachment.objects.unscoped().order_by("pk"):
        assert attachment.message_id is not None
        rows.setdefault(attachment.message_id, []).append(attachment)
    # Each message has its own files, in the order the provider named them, in its company.
    for item, message_id in zip(items, ids, strict=True):
        assert message_id is not None
        files = rows.get(message_id, [])
        assert [f.source_ref for f in files] == [ref.ref for ref in item.message.attachments]
        assert {f.company_id for f in files} <= {item.channel.company_id}
        for attachment, ref in zip(files, item.message.attachments, strict=True):
            assert attachment.status == AttachmentStatus.PENDING
            assert attachment.source == AttachmentSource.URL
            assert attachment.declared_type == ref.content_type
            assert attachment.size == ref.size
            assert attachment.content_type == attachment.storage_name == ""
            assert attachment.attempts == 0 and attachment.uploaded_by_id is None
            assert attachment.created_at is not None and attachment.updated_at is not None
        message = Message.objects.unscoped().get(pk=message_id)
        expected_count = len(item.message.attachments) or None
        assert (message.metadata or {}).get(ATTACHMENT_COUNT_KEY) == expected_count
    # The name as `safe_name` makes it; none given: the payload's fallback.
    (odd,) = rows[ids[1]]  # type: ignore[index]
    assert odd.name == "passwd.png"
    (nameless,) = rows[ids[3]]  # type: ignore[index]
    assert nameless.name == ""
    assert sum(len(files) for files in rows.values()) == 5

    # The router's event of each message carries exactly what the stored rows say.
    for company in (a, b):
        events = supervisor_messages(company)
        for item, message_id in zip(items, ids, strict=True):
            if item.channel.company_id != company.pk:
                assert message_id not in events  # tenant isolation: never the other company's
                continue
            assert message_id is not None
            stored = [attachment_data(x) for x in rows.get(message_id, [])]
            assert events[message_id]["attachments"] == stored
            message = Message.objects.unscoped().get(pk=message_id)
            assert message_data(message)["attachments"] == stored
    assert supervisor_messages(b)[ids[3]]["attachments"][0]["name"] == (  # type: ignore[index]
        f"audio-{nameless.pk}"
    )


def test_a_redelivered_entry_records_no_second_file_and_enqueues_no_second_download(
    companies: tuple[Company, Company], monkeypatch: pytest.MonkeyPatch
) -> None:
    from routing_service.attachments import actions

    a, b = companies
    channel_a, channel_b = channel_of(a), channel_of(b)
    batch = [
        inbound(channel_a, "m-1", "alice", [media(1), media(2)]),
        inbound(channel_b, "m-1", "bob", [media(3)]),
        # The same entry twice in one batch (a redelivery racing the first read).
        inbound(channel_a, "m-1", "alice", [media(1), media(2)]),
    ]
    sent: list[list[int]] = []
    # What the commit hands to the broker (the download task's arguments).
    monkeypatch.setattr(actions, "enqueue_fetch", sent.append)

    first = receive_inbound_batch(batch)
    assert [r.duplicate for r in first] == [False, False, True]
    recorded = list(Attachment.objects.unscoped().order_by("pk").values_list("pk", flat=True))
    assert len(recorded) == 3
    # One task per company of the batch, together every file exactly once.
    assert len(sent) == 2
    assert sorted(pk for ids in sent for pk in ids) == recorded

    sent.clear()
    # The stream delivers the entries again (a router died before its ack), read later.
    later = timezone.now() + dt.timedelta(seconds=5)
    second = receive_inbound_batch([InboundItem(i.channel, i.message, later) for i in batch])
    assert all(r.duplicate for r in second)
    assert list(Attachment.objects.unscoped().order_by("pk").values_list("pk", flat=True)) == (
        recorded
    )
    assert sent == []
