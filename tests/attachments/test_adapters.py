"""Every provider's media payload becomes `MediaRef`s on the normalised message (no download
at the webhook), and the generic `attachments` field is validated with field errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from routing_service.ingest.adapters import ADAPTERS, PayloadError, WebhookRequest
from routing_service.ingest.adapters.base import MediaRef

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "webhooks"


def parse(provider: str, body: bytes, content_type: str = "application/json") -> Any:
    request = WebhookRequest(
        method="POST",
        url="https://switchboard.example.com/webhooks/x/",
        headers={"content-type": content_type},
        body=body,
        content_type=content_type,
    )
    return ADAPTERS[provider].parse(request)


def fixture(provider: str, name: str) -> bytes:
    return (FIXTURES / provider / f"{name}.json").read_bytes()


def test_whatsapp_image_and_document_name_their_media_ids() -> None:
    (image,) = parse("whatsapp", fixture("whatsapp", "image_message")).messages
    assert image.attachments == [
        MediaRef(source="whatsapp", ref="1003383421387256", content_type="image/jpeg")
    ]
    (document,) = parse("whatsapp", fixture("whatsapp", "document_message")).messages
    assert document.attachments == [
        MediaRef(
            source="whatsapp",
            ref="1017409033436178",
            content_type="application/pdf",
            name="invoice-5531.pdf",
        )
    ]
    (text,) = parse("whatsapp", fixture("whatsapp", "text_message")).messages
    assert text.attachments == []


def test_telegram_photo_takes_the_largest_size_and_documents_keep_their_name() -> None:
    (photo,) = parse("telegram", fixture("telegram", "message_photo")).messages
    assert photo.attachments == [
        MediaRef(source="telegram", ref="AgACAgIAAxkBAAIBZ2Zx2", size=48216)
    ]
    assert photo.text == "[photo] Das Paket war beschädigt"
    (document,) = parse("telegram", fixture("telegram", "message_document")).messages
    assert document.attachments == [
        MediaRef(
            source="telegram",
            ref="BQACAgIAAxkBAAIBaGZx3",
            content_type="application/pdf",
            name="Rechnung.pdf",
            size=1234,
        )
    ]


def test_twilio_mms_names_its_media_urls() -> None:
    from urllib.parse import urlencode

    form = json.loads(fixture("twilio", "mms_inbound"))
    (message,) = parse(
        "twilio", urlencode(form).encode(), "application/x-www-form-urlencoded"
    ).messages
    assert message.attachments == [
        MediaRef(source="twilio", ref=form["MediaUrl0"], content_type="image/jpeg")
    ]


def test_generic_attachments_are_read() -> None:
    (message,) = parse("generic", fixture("generic", "attachments")).messages
    assert [(a.source, a.name, a.size) for a in message.attachments] == [
        ("url", "parcel.png", 68),
        ("url", "receipt.pdf", None),
    ]


def generic(**changes: Any) -> bytes:
    body = json.loads(fixture("generic", "attachments"))
    body.update(changes)
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"attachments": [{"url": "ftp://files.example.com/a.png"}]}, "attachments[0].url"),
        ({"attachments": [{"url": "https:///nohost"}]}, "attachments[0].url"),
        ({"attachments": [{"name": "a.png"}]}, "attachments[0].url"),
        ({"attachments": [{"url": "https://x.example/a", "size": -1}]}, "attachments[0].size"),
        ({"attachments": [{"url": "https://x.example/a"}] * 11}, "attachments"),
        ({"attachments": "https://x.example/a"}, "attachments"),
        ({"attachments": [], "text": ""}, "text"),
    ],
)
def test_generic_attachment_errors_name_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(PayloadError) as refused:
        parse("generic", generic(**changes))
    assert field in refused.value.errors, refused.value.errors


def test_generic_text_may_be_empty_with_files() -> None:
    (message,) = parse("generic", generic(text="")).messages
    assert message.text == "" and len(message.attachments) == 2
