"""An agent's file reaches the customer through each provider's own API, in its documented
shape: WhatsApp media messages by link, Telegram sendPhoto/sendDocument uploads, Twilio
`MediaUrl`, generic callbacks with signed URLs. Uploaded over REST, sent with `attachment_ids`
over REST and over the websocket's `reply` action."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import dramatiq
import pytest
from django.conf import settings
from django.test import Client
from rest_framework.test import APIClient

from realtime.actions import HANDLERS
from realtime.protocol import parse_action
from routing_service.chats.models import DeliveryStatus, Message
from routing_service.outbound.tasks import deliver_message
from routing_service.tenancy.models import User
from tests.attachments import media
from tests.attachments.conftest import BOT_TOKEN, TWILIO_SID, WA_TOKEN, MediaChat
from tests.support.provider_server import ProviderServer

MakeChat = Callable[..., MediaChat]


def upload(api: APIClient, name: str, data: bytes, content_type: str) -> int:
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = api.post(
        "/api/v1/attachments/",
        {"file": SimpleUploadedFile(name, data, content_type)},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    return int(response.json()["id"])


def reply_with_files(
    chat: MediaChat, api_for: Callable[[User | None], APIClient], text: str, *files: bytes
) -> Message:
    client = api_for(chat.agent)
    kinds = {
        media.png(): ("photo.png", "image/png"),
        media.pdf(): ("receipt.pdf", "application/pdf"),
    }
    ids = [upload(client, *kinds[data][:1], data, kinds[data][1]) for data in files]
    response = client.post(
        f"/api/v1/conversations/{chat.conversation_id}/messages/",
        {"text": text, "attachment_ids": ids},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert [a["id"] for a in body["attachments"]] == ids
    assert all(a["status"] == "ready" and a["url"] for a in body["attachments"])
    return Message.objects.unscoped().get(pk=body["id"])


def sent_to(server: ProviderServer, suffix: str) -> list[Any]:
    return [r for r in server.requests if r.method == "POST" and r.route.endswith(suffix)]


def fetch_public(url: str) -> bytes:
    path = url.removeprefix(settings.PUBLIC_BASE_URL)
    response = Client().get(path)
    assert response.status_code == 200
    return b"".join(response.streaming_content)  # type: ignore[attr-defined]


def test_whatsapp_reply_with_an_image_is_a_media_message_by_link_with_the_caption(
    media_chat: MakeChat, api: Callable[[User | None], APIClient], provider_server: ProviderServer
) -> None:
    chat = media_chat("whatsapp")
    message = reply_with_files(chat, api, "Here is the label", media.png())
    deliver_message(message.pk)
    (request,) = sent_to(provider_server, "/106540352242922/messages")
    assert request.header("authorization") == f"Bearer {WA_TOKEN}"
    body = request.json()
    assert body["messaging_product"] == "whatsapp"
    assert body["to"] == "16505551234"
    assert body["type"] == "image"
    assert body["image"]["caption"] == "Here is the label"
    assert fetch_public(body["image"]["link"]) == media.png()
    message.refresh_from_db()
    assert message.delivery_status == DeliveryStatus.SENT


def test_whatsapp_sends_a_document_with_its_file_name(
    media_chat: MakeChat, api: Callable[[User | None], APIClient], provider_server: ProviderServer
) -> None:
    chat = media_chat("whatsapp")
    message = reply_with_files(chat, api, "", media.pdf())
    deliver_message(message.pk)
    (request,) = sent_to(provider_server, "/messages")
    body = request.json()
    assert body["type"] == "document"
    assert body["document"]["filename"] == "receipt.pdf"
    assert "caption" not in body["document"]


def test_telegram_reply_uploads_a_photo_and_a_document(
    media_chat: MakeChat, api: Callable[[User | None], APIClient], provider_server: ProviderServer
) -> None:
    chat = media_chat("telegram")
    message = reply_with_files(chat, api, "Label and receipt", media.png(), media.pdf())
    deliver_message(message.pk)
    (photo,) = sent_to(provider_server, f"/bot{BOT_TOKEN}/sendPhoto")
    (document,) = sent_to(provider_server, f"/bot{BOT_TOKEN}/sendDocument")
    assert photo.header("content-type").startswith("multipart/form-data; boundary=")
    assert b'name="chat_id"\r\n\r\n1111111\r\n' in photo.body
    assert b'name="caption"\r\n\r\nLabel and receipt\r\n' in photo.body
    assert b'name="photo"; filename="photo.png"' in photo.body
    assert media.png() in photo.body
    assert int(photo.header("content-length")) == len(photo.body)
    assert b'name="document"; filename="receipt.pdf"' in document.body
    assert b'name="caption"' not in document.body  # the text went once
    assert media.pdf() in document.body
    message.refresh_from_db()
    assert message.delivery_status == DeliveryStatus.SENT


def test_twilio_reply_names_signed_public_media_urls(
    media_chat: MakeChat, api: Callable[[User | None], APIClient], provider_server: ProviderServer
) -> None:
    chat = media_chat("twilio")
    message = reply_with_files(chat, api, "", media.png(), media.pdf())
    deliver_message(message.pk)
    (request,) = sent_to(provider_server, f"/Accounts/{TWILIO_SID}/Messages.json")
    fields = [tuple(pair.split("=", 1)) for pair in request.body.decode().split("&")]
    names = [name for name, _ in fields]
    assert names.count("MediaUrl") == 2
    form = request.form()
    assert form["To"] == "+12125550143" and form["From"] == "+15017250604"
    from urllib.parse import unquote

    urls = [unquote(value) for name, value in fields if name == "MediaUrl"]
    assert all(u.startswith(settings.PUBLIC_BASE_URL + "/attachments/public/") for u in urls)
    assert [fetch_public(u) for u in urls] == [media.png(), media.pdf()]


def test_generic_callback_lists_the_files_with_signed_urls(
    media_chat: MakeChat, api: Callable[[User | None], APIClient], provider_server: ProviderServer
) -> None:
    chat = media_chat("generic")
    message = reply_with_files(chat, api, "See attached", media.pdf())
    deliver_message(message.pk)
    (request,) = sent_to(provider_server, "/callback")
    body = request.json()
    assert body["text"] == "See attached"
    (file,) = body["attachments"]
    assert {k: file[k] for k in ("name", "content_type", "size")} == {
        "name": "receipt.pdf",
        "content_type": "application/pdf",
        "size": len(media.pdf()),
    }
    assert fetch_public(file["url"]) == media.pdf()


def test_a_retry_after_a_failed_part_sends_only_the_rest(
    media_chat: MakeChat, api: Callable[[User | None], APIClient], provider_server: ProviderServer
) -> None:
    chat = media_chat("whatsapp")
    message = reply_with_files(chat, api, "Two files", media.png(), media.pdf())
    provider_server.reset()
    provider_server.respond_with(None)
    # The first file is accepted, the second meets a 503.
    from tests.support.provider_server import Reply, provider_like

    calls = {"n": 0}

    def first_ok_then_503(request: Any) -> Reply:
        calls["n"] += 1
        return Reply(503, {"error": {}}) if calls["n"] == 2 else provider_like(request, calls["n"])

    provider_server.respond_with(first_ok_then_503)
    with pytest.raises(dramatiq.Retry):
        deliver_message(message.pk)
    deliver_message(message.pk)
    kinds = [r.json()["type"] for r in sent_to(provider_server, "/messages")]
    assert kinds == ["image", "document", "document"]  # the image went once
    message.refresh_from_db()
    assert message.delivery_status == DeliveryStatus.SENT


def test_reply_refuses_another_agents_or_another_companys_uploads(
    media_chat: MakeChat, api: Callable[[User | None], APIClient]
) -> None:
    chat = media_chat("generic")
    other = media_chat("generic")
    theirs = upload(api(other.agent), "x.png", media.png(), "image/png")
    response = api(chat.agent).post(
        f"/api/v1/conversations/{chat.conversation_id}/messages/",
        {"text": "", "attachment_ids": [theirs]},
        format="json",
    )
    assert response.status_code == 400
    assert "attachment_ids" in response.json()
    assert response.json()["attachment_ids"][0].startswith("Unknown or already sent")
    empty = api(chat.agent).post(
        f"/api/v1/conversations/{chat.conversation_id}/messages/", {"text": ""}, format="json"
    )
    assert empty.status_code == 400 and "text" in empty.json()


def test_websocket_reply_action_sends_files(
    media_chat: MakeChat, api: Callable[[User | None], APIClient]
) -> None:
    chat = media_chat("generic")
    attachment_id = upload(api(chat.agent), "a.png", media.png(), "image/png")
    frame = json.dumps(
        {
            "action": "reply",
            "request_id": "r1",
            "conversation_id": chat.conversation_id,
            "attachment_ids": [attachment_id],
        }
    )
    from realtime.protocol import AGENT_ACTIONS

    request = parse_action(frame, AGENT_ACTIONS)
    result = HANDLERS["reply"](chat.agent, request)
    assert [a["id"] for a in result["attachments"]] == [attachment_id]
    message = Message.objects.unscoped().get(pk=result["message_id"])
    assert message.text == ""
    assert message.attachments.count() == 1
