"""/api/v1/channels/: inboxes with generated webhook URLs; secrets never come back out."""

from __future__ import annotations

import json
import uuid

import pytest
from django.conf import settings

from routing_service.chats.models import Channel, Client, Conversation
from routing_service.tenancy.models import Company, Role, User
from tests.api.conftest import GENERIC_SECRET, TELEGRAM_BOT_TOKEN, WHATSAPP_TOKEN, ApiFor

pytestmark = pytest.mark.django_db

GENERIC = {
    "name": "Website widget",
    "provider": "generic",
    "secret": GENERIC_SECRET,
    "config": {"callback_url": "https://acme.test/hooks/switchboard"},
}
TELEGRAM = {
    "name": "Telegram bot",
    "provider": "telegram",
    "secret": "tg-secret_token-123",
    "config": {"bot_token": TELEGRAM_BOT_TOKEN, "api_base_url": "https://api.telegram.org"},
}


def test_admin_creates_channel_with_generated_uuid_and_webhook_url(
    api: ApiFor, admin_a: User, company_a: Company
) -> None:
    response = api(admin_a).post("/api/v1/channels/", GENERIC, format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    channel_uuid = uuid.UUID(data["uuid"])
    assert data["webhook_url"] == f"{settings.PUBLIC_BASE_URL}/webhooks/generic/{channel_uuid}/"
    assert data["company"] == company_a.pk
    assert "secret" not in data
    channel = Channel.objects.unscoped().get(pk=data["id"])
    assert channel.secret == GENERIC_SECRET
    assert channel.company_id == company_a.pk


def test_client_supplied_uuid_is_ignored(api: ApiFor, admin_a: User) -> None:
    chosen = "11111111-1111-1111-1111-111111111111"
    data = api(admin_a).post("/api/v1/channels/", {**GENERIC, "uuid": chosen}, format="json")
    assert data.json()["uuid"] != chosen


def test_sensitive_config_is_masked_in_every_answer(
    api: ApiFor, admin_a: User, supervisor_a: User
) -> None:
    created = api(admin_a).post("/api/v1/channels/", TELEGRAM, format="json")
    assert created.status_code == 201, created.json()
    answers = [
        created,
        api(admin_a).get("/api/v1/channels/"),
        api(admin_a).get(f"/api/v1/channels/{created.json()['id']}/"),
        api(supervisor_a).get("/api/v1/channels/"),
    ]
    for response in answers:
        raw = response.content.decode()
        assert TELEGRAM_BOT_TOKEN not in raw
        assert TELEGRAM["secret"] not in raw
    config = created.json()["config"]
    assert config["bot_token"] == "••••" + TELEGRAM_BOT_TOKEN[-4:]
    assert config["api_base_url"] == "https://api.telegram.org"


def test_saving_back_the_masked_config_keeps_the_stored_token(
    api: ApiFor, admin_a: User, channel_a: Channel
) -> None:
    client = api(admin_a)
    shown = client.get(f"/api/v1/channels/{channel_a.pk}/").json()
    response = client.put(
        f"/api/v1/channels/{channel_a.pk}/",
        {"name": "Renamed", "provider": "whatsapp", "config": shown["config"]},
        format="json",
    )
    assert response.status_code == 200, response.json()
    channel_a.refresh_from_db()
    assert channel_a.config["access_token"] == WHATSAPP_TOKEN
    assert channel_a.name == "Renamed"


def test_masked_value_for_a_new_key_is_refused(api: ApiFor, admin_a: User) -> None:
    payload = {**TELEGRAM, "config": {"bot_token": "••••abcd"}}
    response = api(admin_a).post("/api/v1/channels/", payload, format="json")
    assert response.status_code == 400
    assert "bot_token" in response.json()["config"]


def test_secret_rotation_keeps_previous_until_revoked(
    api: ApiFor, admin_a: User, channel_a: Channel
) -> None:
    client = api(admin_a)
    old = channel_a.secret
    response = client.patch(
        f"/api/v1/channels/{channel_a.pk}/", {"secret": "rotated-app-secret-0001"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["has_previous_secret"] is True
    assert "rotated-app-secret-0001" not in response.content.decode()
    channel_a.refresh_from_db()
    assert (channel_a.secret, channel_a.previous_secret) == ("rotated-app-secret-0001", old)
    response = client.patch(
        f"/api/v1/channels/{channel_a.pk}/", {"revoke_previous_secret": True}, format="json"
    )
    assert response.json()["has_previous_secret"] is False
    channel_a.refresh_from_db()
    assert channel_a.previous_secret == ""


@pytest.mark.parametrize(
    ("payload", "errors"),
    [
        (
            {**GENERIC, "config": {"callback_url": "not a url"}},
            {"config": {"callback_url": ["Enter a valid URL."]}},
        ),
        (
            {**GENERIC, "config": {"api_base_url": "ftp://acme.test"}},
            {"config": {"api_base_url": ["Enter a valid URL."]}},
        ),
        (
            {**TELEGRAM, "config": {}},
            {"config": {"bot_token": ["This setting is required for telegram channels."]}},
        ),
        ({"name": "t", "provider": "twilio", "secret": "x" * 32, "config": {}}, None),
        ({**GENERIC, "config": ["not", "an", "object"]}, None),
        ({**GENERIC, "provider": "carrier-pigeon"}, None),
        ({**GENERIC, "secret": "short"}, None),
        ({**TELEGRAM, "secret": "spaces are not allowed"}, None),
        ({key: v for key, v in GENERIC.items() if key != "secret"}, None),
        ({**GENERIC, "max_body_bytes": 10}, None),
        ({**GENERIC, "name": ""}, None),
    ],
)
def test_bad_channel_input_is_a_field_error(
    api: ApiFor, admin_a: User, payload: dict[str, object], errors: dict[str, object] | None
) -> None:
    response = api(admin_a).post("/api/v1/channels/", payload, format="json")
    assert response.status_code == 400
    if errors is not None:
        assert response.json() == errors
    assert not Channel.objects.unscoped().exists()


def test_whatsapp_config_requires_each_credential(api: ApiFor, admin_a: User) -> None:
    payload = {"name": "wa", "provider": "whatsapp", "secret": "app-secret", "config": {}}
    response = api(admin_a).post("/api/v1/channels/", payload, format="json")
    assert response.status_code == 400
    assert set(response.json()["config"]) == {"phone_number_id", "access_token", "verify_token"}


def test_provider_cannot_change(api: ApiFor, admin_a: User, channel_a: Channel) -> None:
    response = api(admin_a).patch(
        f"/api/v1/channels/{channel_a.pk}/", {"provider": "telegram"}, format="json"
    )
    assert response.status_code == 400
    assert "provider" in response.json()


def test_list_filters_by_provider(api: ApiFor, admin_a: User, channel_a: Channel) -> None:
    client = api(admin_a)
    client.post("/api/v1/channels/", GENERIC, format="json")
    generic = client.get("/api/v1/channels/?provider=generic").json()
    assert generic["count"] == 1
    assert generic["results"][0]["provider"] == "generic"
    assert client.get("/api/v1/channels/").json()["count"] == 2


def test_unused_channel_is_deleted(api: ApiFor, admin_a: User, channel_a: Channel) -> None:
    assert api(admin_a).delete(f"/api/v1/channels/{channel_a.pk}/").status_code == 204
    assert not Channel.objects.unscoped().filter(pk=channel_a.pk).exists()


def test_channel_with_conversations_is_not_deleted(
    api: ApiFor, admin_a: User, channel_a: Channel, company_a: Company
) -> None:
    from django.utils import timezone

    now = timezone.now()
    client = Client.objects.unscoped().create(company=company_a, external_id="c1")
    Conversation.objects.unscoped().create(
        company=company_a,
        client=client,
        channel=channel_a,
        created_at=now,
        queued_at=now,
        last_message_at=now,
    )
    response = api(admin_a).delete(f"/api/v1/channels/{channel_a.pk}/")
    assert response.status_code == 409
    assert "non_field_errors" in response.json()
    assert Channel.objects.unscoped().filter(pk=channel_a.pk).exists()


def test_supervisor_reads_channels_but_cannot_write(
    api: ApiFor, supervisor_a: User, channel_a: Channel
) -> None:
    client = api(supervisor_a)
    assert client.get("/api/v1/channels/").json()["count"] == 1
    assert client.get(f"/api/v1/channels/{channel_a.pk}/").status_code == 200
    assert client.post("/api/v1/channels/", GENERIC, format="json").status_code == 403
    assert (
        client.patch(f"/api/v1/channels/{channel_a.pk}/", {"name": "x"}, format="json").status_code
        == 403
    )
    assert client.delete(f"/api/v1/channels/{channel_a.pk}/").status_code == 403


@pytest.mark.parametrize("role", [Role.AGENT, Role.VIEWER])
def test_agents_and_viewers_cannot_see_channels(
    api: ApiFor, make_user: object, company_a: Company, channel_a: Channel, role: str
) -> None:
    client = api(make_user(company_a, role))  # type: ignore[operator]
    assert client.get("/api/v1/channels/").status_code == 403
    assert client.get(f"/api/v1/channels/{channel_a.pk}/").status_code == 403


def test_superadmin_creates_channel_for_named_company(
    api: ApiFor, superadmin: User, company_b: Company
) -> None:
    client = api(superadmin)
    missing = client.post("/api/v1/channels/", GENERIC, format="json")
    assert missing.status_code == 400
    assert missing.json() == {"company": ["This field is required."]}
    response = client.post("/api/v1/channels/", {**GENERIC, "company": company_b.pk}, format="json")
    assert response.status_code == 201
    assert Channel.objects.unscoped().get(pk=response.json()["id"]).company_id == company_b.pk


def test_superadmin_creates_channel_for_company_named_in_query(
    api: ApiFor, superadmin: User, company_b: Company
) -> None:
    response = api(superadmin).post(
        f"/api/v1/channels/?company={company_b.pk}", GENERIC, format="json"
    )
    assert response.status_code == 201
    assert response.json()["company"] == company_b.pk


def test_channel_cannot_move_company(
    api: ApiFor, superadmin: User, channel_a: Channel, company_b: Company
) -> None:
    response = api(superadmin).patch(
        f"/api/v1/channels/{channel_a.pk}/", {"company": company_b.pk}, format="json"
    )
    assert response.status_code == 400
    assert "company" in response.json()


def test_no_secret_in_any_channel_answer(
    api: ApiFor, admin_a: User, superadmin: User, channel_a: Channel
) -> None:
    stored = Channel.objects.unscoped().get(pk=channel_a.pk)
    secrets = [stored.secret, *[str(v) for k, v in stored.config.items() if "token" in k]]
    for client in (api(admin_a), api(superadmin)):
        for path in ("/api/v1/channels/", f"/api/v1/channels/{channel_a.pk}/"):
            text = json.dumps(client.get(path).json())
            assert not any(secret in text for secret in secrets)
