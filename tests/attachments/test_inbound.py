"""Inbound media from every provider: the router records the files pending, the worker fetches
them through the provider's own API from the local stand-in, stores them, sniffs them and
publishes the message again with the same id."""

from __future__ import annotations

from collections.abc import Callable

import msgspec
import pytest
import redis
from django.conf import settings
from django.core.files.storage import default_storage

from events.log import log_key
from events.schema import agent_group
from routing_service.attachments.models import AttachmentSource, AttachmentStatus
from routing_service.attachments.tasks import fetch_one
from routing_service.chats.payloads import message_data
from tests.attachments import media
from tests.attachments.conftest import BOT_TOKEN, WA_TOKEN, MediaChat, serve_provider_media
from tests.support.fixtures import RunningWorker
from tests.support.provider_server import ProviderServer

MakeChat = Callable[..., MediaChat]


def chat_message_updates(chat: MediaChat) -> list[dict[str, object]]:
    log = redis.Redis.from_url(settings.CHANNEL_LAYER_REDIS_URL)
    entries = log.xrange(log_key(chat.company.pk, agent_group(chat.agent.pk)))
    events = [msgspec.json.decode(fields[b"e"]) for _id, fields in entries]
    return [
        e["data"]
        for e in events
        if e["type"] == "chat.message" and e["data"]["message_id"] == chat.message.pk
    ]


@pytest.mark.parametrize("provider", ["generic", "twilio", "whatsapp", "telegram"])
def test_media_message_is_recorded_pending_then_fetched_stored_and_published(
    media_chat: MakeChat, provider_server: ProviderServer, provider: str
) -> None:
    chat = media_chat(provider)
    pending = chat.attachments
    assert pending and all(a.status == AttachmentStatus.PENDING for a in pending)
    # The router did not download: the stand-in has not been asked for anything yet.
    assert provider_server.requests == []
    # The message is in the chat at once (its offer), its files pending.
    assert [a["status"] for a in message_data(chat.message)["attachments"]] == ["pending"] * len(
        pending
    )

    for attachment in pending:
        assert fetch_one(attachment.pk) == "ready"

    stored = chat.attachments
    assert all(a.status == AttachmentStatus.READY for a in stored)
    image = stored[0]
    # Sniffed from the bytes: WhatsApp and Telegram call it a JPEG, it is a PNG.
    assert image.content_type == "image/png"
    assert image.size == len(media.png())
    with default_storage.open(image.storage_name) as handle:
        assert handle.read() == media.png()
    assert image.storage_name.startswith(f"attachments/{chat.company.pk}/")

    # A later chat.message with the same message id carries the ready files with signed URLs.
    last = chat_message_updates(chat)[-1]
    assert last["message_id"] == chat.message.pk
    assert {a["status"] for a in last["attachments"]} == {"ready"}
    assert all(a["url"].startswith("/attachments/") for a in last["attachments"])
    # The REST/snapshot view of the message reads the same files.
    assert [a["id"] for a in message_data(chat.message)["attachments"]] == [a.pk for a in stored]


def test_whatsapp_media_is_looked_up_then_downloaded_with_the_channel_token(
    media_chat: MakeChat, provider_server: ProviderServer
) -> None:
    chat = media_chat("whatsapp")
    assert chat.attachments[0].source == AttachmentSource.WHATSAPP
    fetch_one(chat.attachments[0].pk)
    lookup, download = provider_server.requests
    assert lookup.route == "/v21.0/1003383421387256"
    assert download.route == "/whatsapp-cdn/1003383421387256"
    for request in (lookup, download):
        assert request.method == "GET"
        assert request.header("authorization") == f"Bearer {WA_TOKEN}"


def test_telegram_file_is_found_with_get_file_then_downloaded(
    media_chat: MakeChat, provider_server: ProviderServer
) -> None:
    chat = media_chat("telegram")
    # The largest of the photo's sizes.
    assert chat.attachments[0].source_ref == "AgACAgIAAxkBAAIBZ2Zx2"
    fetch_one(chat.attachments[0].pk)
    lookup, download = provider_server.requests
    assert lookup.path == f"/bot{BOT_TOKEN}/getFile?file_id=AgACAgIAAxkBAAIBZ2Zx2"
    assert download.route == f"/file/bot{BOT_TOKEN}/photos/f.jpg"


def test_twilio_media_is_read_with_the_account_credentials_and_its_redirect_followed(
    media_chat: MakeChat, provider_server: ProviderServer
) -> None:
    chat = media_chat("twilio")
    fetch_one(chat.attachments[0].pk)
    first, cdn = provider_server.requests
    assert first.header("authorization").startswith("Basic ")
    assert cdn.route.startswith("/twilio-cdn/")
    assert chat.attachments[0].status == AttachmentStatus.READY


def test_generic_message_with_two_files_gets_both_in_order(
    media_chat: MakeChat,
) -> None:
    chat = media_chat("generic")
    names = [a.name for a in chat.attachments]
    assert names == ["parcel.png", "receipt.pdf"]
    for attachment in chat.attachments:
        fetch_one(attachment.pk)
    assert [a.content_type for a in chat.attachments] == ["image/png", "application/pdf"]


def test_the_dramatiq_worker_downloads_after_the_routers_commit(
    media_chat: MakeChat, provider_server: ProviderServer, dramatiq_worker: RunningWorker
) -> None:
    serve_provider_media("whatsapp", provider_server, {"1017409033436178": media.pdf()})
    chat = media_chat("whatsapp", "document_message", serve=False)
    dramatiq_worker.join("attachments")
    attachment = chat.attachments[0]
    assert attachment.status == AttachmentStatus.READY
    assert attachment.name == "invoice-5531.pdf"
    assert attachment.content_type == "application/pdf"


def test_a_repeated_task_does_nothing(
    media_chat: MakeChat, provider_server: ProviderServer
) -> None:
    chat = media_chat("generic")
    attachment = chat.attachments[0]
    assert fetch_one(attachment.pk) == "ready"
    asked = len(provider_server.requests)
    assert fetch_one(attachment.pk) == "skipped"
    assert len(provider_server.requests) == asked


def test_a_download_whose_task_was_lost_is_enqueued_again_by_the_sweep(
    media_chat: MakeChat, dramatiq_worker: RunningWorker
) -> None:
    import datetime as dt

    from django.utils import timezone

    from routing_service.attachments.actions import stale_pending
    from routing_service.attachments.models import Attachment
    from routing_service.attachments.tasks import retry_stale_attachments

    chat = media_chat("telegram")
    # The router's own task ran (or was lost): make the row look like a lost one.
    dramatiq_worker.join("attachments")
    attachment = chat.attachments[0]
    Attachment.objects.unscoped().filter(pk=attachment.pk).update(
        status=AttachmentStatus.PENDING, created_at=timezone.now() - dt.timedelta(hours=1)
    )
    assert stale_pending(dt.timedelta(minutes=5)) == [attachment.pk]
    assert stale_pending(dt.timedelta(hours=2)) == []
    retry_stale_attachments.send()
    dramatiq_worker.join("attachments")
    attachment.refresh_from_db()
    assert attachment.status == AttachmentStatus.READY
