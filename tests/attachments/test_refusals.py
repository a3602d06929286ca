"""What the download worker refuses, and how the refusal reads: `failed` with a reason in our
words — never the remote body — and nothing left in storage."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from django.core.files.storage import default_storage

from routing_service.attachments import rules, storage
from routing_service.attachments.models import AttachmentPolicy, AttachmentStatus
from routing_service.attachments.tasks import fetch_one
from tests.attachments import media
from tests.attachments.conftest import MediaChat, fixture_files
from tests.support.provider_server import ProviderServer, Reply

MakeChat = Callable[..., MediaChat]


def stored_files(company_id: int) -> list[str]:
    folder = f"attachments/{company_id}"
    return default_storage.listdir(folder)[1] if default_storage.exists(folder) else []


def test_a_file_over_the_companys_size_limit_is_refused(
    media_chat: MakeChat, provider_server: ProviderServer
) -> None:
    chat = media_chat("whatsapp")  # WhatsApp declares no size: the download decides
    AttachmentPolicy.objects.create(company=chat.company, max_bytes=40)
    attachment = chat.attachments[0]
    assert fetch_one(attachment.pk) == "failed"
    attachment.refresh_from_db()
    assert attachment.status == AttachmentStatus.FAILED
    assert attachment.failure_reason == "The file is larger than 40 bytes."
    assert stored_files(chat.company.pk) == []


def test_the_size_limit_holds_while_streaming_without_a_declared_length(db: object) -> None:
    limits = rules.Limits(100_000, rules.normalise_categories([]), 0)
    sent: list[int] = []

    def endless() -> Iterator[bytes]:
        yield media.png()
        while True:
            sent.append(1)
            yield b"\x00" * 10_000

    with pytest.raises(rules.Refused, match="larger than 97 KiB"):
        storage.save_stream(1, endless(), limits)
    # Stopped right after passing the limit, not at the end of the stream.
    assert len(sent) == 10


def test_a_declared_size_over_the_limit_is_refused_without_downloading(
    media_chat: MakeChat, provider_server: ProviderServer
) -> None:
    chat = media_chat("generic")  # the fixture declares parcel.png as 68 bytes
    AttachmentPolicy.objects.create(company=chat.company, max_bytes=60)
    assert fetch_one(chat.attachments[0].pk) == "failed"
    assert provider_server.requests == []


def test_an_executable_named_like_a_picture_is_refused_by_its_bytes(
    media_chat: MakeChat, provider_server: ProviderServer
) -> None:
    provider_server.serve(
        "/v21.0/1003383421387256", Reply(200, {"url": f"{provider_server.url}/x"})
    )
    provider_server.serve("/x", Reply(200, media.exe(), {"Content-Type": "image/jpeg"}))
    chat = media_chat("whatsapp", serve=False)
    assert fetch_one(chat.attachments[0].pk) == "failed"
    attachment = chat.attachments[0]
    assert attachment.failure_reason == "Files of type application/x-msdownload are not accepted."
    assert stored_files(chat.company.pk) == []


def test_a_category_the_company_does_not_accept_is_refused(media_chat: MakeChat) -> None:
    chat = media_chat("generic")
    AttachmentPolicy.objects.create(company=chat.company, allowed_categories=["image"])
    image, pdf = chat.attachments
    assert fetch_one(image.pk) == "ready"
    assert fetch_one(pdf.pk) == "failed"
    pdf.refresh_from_db()
    assert pdf.failure_reason == "This company does not accept pdf files."


def test_the_company_quota_is_enforced(media_chat: MakeChat) -> None:
    chat = media_chat("generic")
    png_size = len(media.png())
    AttachmentPolicy.objects.create(company=chat.company, quota_bytes=png_size + 10)
    image, pdf = chat.attachments
    assert fetch_one(image.pk) == "ready"
    assert fetch_one(pdf.pk) == "failed"
    pdf.refresh_from_db()
    assert "storage quota" in pdf.failure_reason
    image.refresh_from_db()
    assert stored_files(chat.company.pk) == [image.storage_name.rsplit("/", 1)[1]]


def test_a_remote_error_is_recorded_by_status_never_by_its_body(
    media_chat: MakeChat, provider_server: ProviderServer
) -> None:
    secret_body = "internal: db password is hunter2"
    for ref in fixture_files("generic"):
        provider_server.serve(ref, Reply(403, secret_body))
    chat = media_chat("generic", serve=False)
    assert fetch_one(chat.attachments[0].pk) == "failed"
    attachment = chat.attachments[0]
    assert attachment.failure_reason == "The file's server answered HTTP 403 (forbidden)."
    assert "hunter2" not in attachment.failure_reason


def test_a_server_error_is_retried_later_not_failed(
    media_chat: MakeChat, provider_server: ProviderServer
) -> None:
    chat = media_chat("generic")
    provider_server.fail_next(1, status=503)
    assert fetch_one(chat.attachments[0].pk) == "retry"
    attachment = chat.attachments[0]
    assert attachment.status == AttachmentStatus.PENDING
    assert attachment.attempts == 1
    assert fetch_one(attachment.pk) == "ready"


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.7/uploads/a.png",
        "http://169.254.169.254/latest/meta-data/",
        "http://localhost:6379/",
    ],
)
def test_a_sender_url_to_a_private_address_is_refused(
    media_chat: MakeChat, provider_server: ProviderServer, url: str
) -> None:
    chat = media_chat("generic")
    attachment = chat.attachments[0]
    attachment.source_ref = url
    attachment.save(update_fields=["source_ref"])
    assert fetch_one(attachment.pk) == "failed"
    attachment.refresh_from_db()
    assert attachment.failure_reason.startswith("Refused to connect to ")
    assert "public addresses only" in attachment.failure_reason


def test_rules_sniff_text_and_refuse_unknown_bytes() -> None:
    limits = rules.Limits(1000, rules.normalise_categories([]), 0)
    assert rules.sniff(b"order,total\n5531,129.5\n", "text/csv") == "text/csv"
    assert rules.sniff(b"plain words", "image/png") == "text/plain"
    assert rules.sniff(b"\x00\x01\x02binary") == ""
    with pytest.raises(rules.Refused, match="unknown type"):
        rules.check_type("", limits)
    assert rules.safe_name('../../etc/"passwd"\r\n') == "passwd"
