"""Signed URLs: staff of the file's company only, for a short while; public links for
providers, expiring too; and the upload endpoint's checks."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
import time_machine
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework.test import APIClient

from routing_service.attachments import actions, signing
from routing_service.attachments.models import Attachment, AttachmentPolicy
from routing_service.tenancy.models import Company, Role, User
from tests.attachments import media


@pytest.fixture(autouse=True)
def _media_root(settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def upload(company: Company, user: User, data: bytes, name: str = "photo.png") -> Attachment:
    return actions.store_upload(company.pk, user.pk, name, "image/png", io.BytesIO(data))


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def agent_a(make_user: Callable[..., User], company_a: Company) -> User:
    return make_user(company_a, Role.AGENT)


@pytest.fixture
def agent_b(make_user: Callable[..., User], company_b: Company) -> User:
    return make_user(company_b, Role.AGENT)


def test_staff_of_the_company_get_the_file_inline_with_hardened_headers(
    company_a: Company, agent_a: User
) -> None:
    attachment = upload(company_a, agent_a, media.png())
    url = signing.agent_url(company_a.pk, attachment.pk)
    response = logged_in(agent_a).get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == media.png()  # type: ignore[attr-defined]
    assert response["Content-Type"] == "image/png"
    assert response["Content-Disposition"].startswith("inline")
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]


def test_a_company_a_url_is_refused_to_company_b_and_to_strangers(
    company_a: Company, agent_a: User, agent_b: User
) -> None:
    attachment = upload(company_a, agent_a, media.png())
    url = signing.agent_url(company_a.pk, attachment.pk)
    assert logged_in(agent_b).get(url).status_code == 404
    assert Client().get(url).status_code == 403


def test_a_url_signed_for_company_b_cannot_name_company_as_file(
    company_a: Company, company_b: Company, agent_a: User, agent_b: User
) -> None:
    attachment = upload(company_a, agent_a, media.png())
    # A token naming company B and A's attachment id: B's staff pass the company check, but
    # the file is not B's.
    forged = signing.agent_url(company_b.pk, attachment.pk)
    assert logged_in(agent_b).get(forged).status_code == 404


def test_a_url_expires(company_a: Company, agent_a: User) -> None:
    attachment = upload(company_a, agent_a, media.png())
    url = signing.agent_url(company_a.pk, attachment.pk)
    client = logged_in(agent_a)
    later = settings.ATTACHMENT_URL_TTL_SECONDS + 5
    with _shifted(later):
        response = client.get(url)
    assert response.status_code == 410
    assert response.json() == {"detail": "This link has expired."}


def _shifted(seconds: int) -> Any:
    import time

    return time_machine.travel(time.time() + seconds, tick=False)


def test_a_tampered_token_is_not_found(company_a: Company, agent_a: User) -> None:
    attachment = upload(company_a, agent_a, media.png())
    url = signing.agent_url(company_a.pk, attachment.pk)
    assert logged_in(agent_a).get(url.replace(":", ";", 1)).status_code == 404


def test_public_links_need_no_login_expire_and_are_not_agent_links(
    company_a: Company, agent_a: User
) -> None:
    attachment = upload(company_a, agent_a, media.pdf(), "receipt.pdf")
    public = signing.public_url(company_a.pk, attachment.pk)
    assert public.startswith(settings.PUBLIC_BASE_URL + "/attachments/public/")
    path = public.removeprefix(settings.PUBLIC_BASE_URL)
    response = Client().get(path)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    token = path.split("/")[-2]
    # The same token under the agents' path: another salt, so not valid there.
    assert logged_in(agent_a).get(f"/attachments/{token}/").status_code == 404
    with _shifted(settings.ATTACHMENT_PUBLIC_URL_TTL_SECONDS + 5):
        assert Client().get(path).status_code == 410


# --- the upload endpoint ----------------------------------------------------------------------


def post_file(client: APIClient, name: str, data: bytes, content_type: str) -> Any:
    return client.post(
        "/api/v1/attachments/",
        {"file": SimpleUploadedFile(name, data, content_type)},
        format="multipart",
    )


def test_upload_answers_id_name_sniffed_type_and_size(
    api: Callable[[User | None], APIClient], agent_a: User
) -> None:
    response = post_file(api(agent_a), "scan.jpg", media.png(), "image/jpeg")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body == {
        "id": body["id"],
        "name": "scan.jpg",
        "content_type": "image/png",
        "size": len(media.png()),
    }
    attachment = Attachment.objects.unscoped().get(pk=body["id"])
    assert attachment.uploaded_by == agent_a and attachment.message is None


def test_upload_refusals_name_the_file_field(
    api: Callable[[User | None], APIClient], agent_a: User, company_a: Company
) -> None:
    client = api(agent_a)
    bad_type = post_file(client, "invoice.pdf", media.exe(), "application/pdf")
    assert bad_type.status_code == 400
    assert bad_type.json()["file"] == ["Files of type application/x-msdownload are not accepted."]

    AttachmentPolicy.objects.create(
        company=company_a, max_bytes=100, quota_bytes=len(media.png()) + 10
    )
    too_big = post_file(client, "big.pdf", media.pdf() + b" " * 200, "application/pdf")
    assert too_big.status_code == 400
    assert too_big.json()["file"] == ["The file is larger than 100 bytes."]

    assert post_file(client, "a.png", media.png(), "image/png").status_code == 201
    over_quota = post_file(client, "b.png", media.png(), "image/png")
    assert over_quota.status_code == 400
    assert "quota" in over_quota.json()["file"][0]

    empty = post_file(client, "empty.png", b"", "image/png")
    assert empty.status_code == 400 and "file" in empty.json()


def test_viewers_and_anonymous_callers_cannot_upload(
    api: Callable[[User | None], APIClient], make_user: Callable[..., User], company_a: Company
) -> None:
    viewer = make_user(company_a, Role.VIEWER)
    assert post_file(api(viewer), "a.png", media.png(), "image/png").status_code == 403
    assert post_file(api(None), "a.png", media.png(), "image/png").status_code in (401, 403)
