"""Uploads through the web process as deployed (uvicorn), sent the way HTTP clients send them:
with a Content-Length, or chunked without one. Either way a file within the limit is stored and
imported, and one past it is refused with 413 JSON — the CSV limit on uploads, the webhook
limit on webhooks."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.conf import LazySettings
from rest_framework.authtoken.models import Token

from analytics.importer import run_import
from analytics.models import ChatSession, DataSource
from routing_service.chats import provisioning
from routing_service.chats.models import Channel, Provider
from routing_service.tenancy.models import Company, User
from tests.analytics.conftest import csv_text, sessions
from tests.support.processes import child_env, serving_web, wait_for_other_sessions_to_end

pytestmark = pytest.mark.django_db(transaction=True)

CSV_LIMIT = 64 * 1024
WEBHOOK_LIMIT = 4 * 1024
BOUNDARY = "switchboard-test-boundary-7MA4YWxkTrZu0gW"


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("upload-media")


@pytest.fixture(scope="module")
def server(django_db_setup: Any, django_db_blocker: Any, media_dir: Path) -> Iterator[str]:
    """uvicorn (deploy/web.sh) with small limits, on the test database; its base URL."""
    with django_db_blocker.unblock():
        env = child_env(
            MEDIA_ROOT=str(media_dir),
            CSV_IMPORT_MAX_BYTES=str(CSV_LIMIT),
            WEBHOOK_MAX_BODY_BYTES=str(WEBHOOK_LIMIT),
        )
    try:
        with serving_web(env) as (port, _):
            yield f"http://127.0.0.1:{port}"
    finally:
        with django_db_blocker.unblock():
            wait_for_other_sessions_to_end()


@pytest.fixture
def shared_media(settings: LazySettings, media_dir: Path) -> Path:
    """The server stores uploads here; the in-process import reads them back."""
    settings.MEDIA_ROOT = media_dir
    return media_dir


@pytest.fixture
def token(admin_a: User) -> str:
    return Token.objects.create(user=admin_a).key


def multipart(content: bytes, name: str = "chunked.csv") -> bytes:
    """A `multipart/form-data` body (BOUNDARY) with a `name` field and the `file`."""
    return b"".join(
        [
            f"--{BOUNDARY}\r\nContent-Disposition: form-data; "
            f'name="name"\r\n\r\n{name}\r\n'.encode(),
            f"--{BOUNDARY}\r\nContent-Disposition: form-data; "
            f'name="file"; filename="{name}"\r\nContent-Type: text/csv\r\n\r\n'.encode(),
            content,
            f"\r\n--{BOUNDARY}--\r\n".encode(),
        ]
    )


def chunks(body: bytes, size: int = 8 * 1024) -> Iterator[bytes]:
    """A generator body: httpx sends it chunked, with no Content-Length."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


def upload(server: str, token: str, body: bytes, *, chunked: bool) -> httpx.Response:
    headers = {
        "Authorization": f"Token {token}",
        "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
    }
    content: bytes | Iterator[bytes] = chunks(body) if chunked else body
    with httpx.Client(timeout=30) as client:
        request = client.build_request(
            "POST", f"{server}/api/v1/data-sources/", content=content, headers=headers
        )
        assert ("content-length" in request.headers) is not chunked
        assert (request.headers.get("transfer-encoding") == "chunked") is chunked
        return client.send(request)


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content-length"])
def test_an_upload_is_stored_and_imported_with_or_without_content_length(
    server: str, token: str, shared_media: Path, company_a: Company, chunked: bool
) -> None:
    content = csv_text(sessions(*(f"S{n}" for n in range(200)))).encode()
    assert len(content) < CSV_LIMIT
    response = upload(server, token, multipart(content), chunked=chunked)
    assert response.status_code == 201, response.text
    assert response.json()["bytes_total"] == len(content)
    source = DataSource.objects.for_company(company_a).get(pk=response.json()["id"])
    with source.file.open("rb") as stored:
        assert stored.read() == content
    run_import(source.pk)
    assert ChatSession.objects.for_company(company_a).count() == 200


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content-length"])
@pytest.mark.parametrize("size", [CSV_LIMIT + 1, 4 * CSV_LIMIT], ids=["just-past", "far-past"])
def test_an_upload_past_the_limit_is_a_json_413_with_or_without_content_length(
    server: str, token: str, company_a: Company, chunked: bool, size: int
) -> None:
    """Just past the limit the multipart parser stops the file; far past it the body's length
    alone says so, before parsing (its form fields may be up to 64 KiB)."""
    response = upload(server, token, multipart(b"x" * size), chunked=chunked)
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/json"
    assert "file" in response.json()
    assert not DataSource.objects.for_company(company_a).exists()


def _signed(channel: Channel, body: bytes) -> dict[str, str]:
    stamp = str(int(time.time()))
    mac = hmac.new(channel.secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256)
    return {
        "Content-Type": "application/json",
        "X-Switchboard-Timestamp": stamp,
        "X-Switchboard-Signature": f"v1={mac.hexdigest()}",
    }


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content-length"])
def test_a_webhook_past_its_limit_is_413_with_or_without_content_length(
    server: str, company_a: Company, chunked: bool
) -> None:
    channel = provisioning.create_channel(
        company=company_a, name="Web", provider=Provider.GENERIC, secret="w" * 32
    )
    body = json.dumps(
        {
            "message_id": "big-1",
            "client": {"id": "c-1", "name": "Client"},
            "text": "x" * (2 * WEBHOOK_LIMIT),
            "sent_at": "2025-03-14T10:26:53+00:00",
        }
    ).encode()
    content: bytes | Iterator[bytes] = chunks(body, 1024) if chunked else body
    response = httpx.post(
        f"{server}/webhooks/generic/{channel.uuid}/",
        content=content,
        headers=_signed(channel, body),
        timeout=30,
    )
    assert response.status_code == 413
    assert str(WEBHOOK_LIMIT) in response.json()["detail"]


def test_a_chunked_json_body_is_read_like_any_other(server: str, token: str) -> None:
    """DRF parses only as much of a body as Content-Length says: a chunked one read as empty."""
    body = json.dumps({"strategy": "manual", "urgent_keywords": ["outage"]}).encode()
    response = httpx.patch(
        f"{server}/api/v1/routing-policy/",
        content=chunks(body, 16),
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    assert (response.json()["strategy"], response.json()["urgent_keywords"]) == (
        "manual",
        ["outage"],
    )
