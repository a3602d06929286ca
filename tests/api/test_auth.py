"""Token and websocket-ticket endpoints, and what an anonymous caller gets."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from realtime.tickets import redeem_ticket
from routing_service.tenancy.models import User
from tests.api.conftest import ApiFor

pytestmark = pytest.mark.django_db


def test_token_for_good_credentials_authenticates_later_requests(agent_a: User) -> None:
    client = APIClient()
    response = client.post(
        "/api/v1/auth/token/", {"username": "agent-a", "password": "pw-123456"}, format="json"
    )
    assert response.status_code == 200
    token = response.json()["token"]
    again = client.post(
        "/api/v1/auth/token/", {"username": "agent-a", "password": "pw-123456"}, format="json"
    )
    assert again.json()["token"] == token
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/v1/users/me/").json()["username"] == "agent-a"


def test_token_with_bad_password_is_a_json_400(agent_a: User) -> None:
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": "agent-a", "password": "nope"}, format="json"
    )
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert "non_field_errors" in response.json()


def test_token_without_fields_names_each_missing_field(db: object) -> None:
    response = APIClient().post("/api/v1/auth/token/", {}, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"username", "password"}


def test_token_for_deactivated_user_is_refused(agent_a: User) -> None:
    agent_a.is_active = False
    agent_a.save()
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": "agent-a", "password": "pw-123456"}, format="json"
    )
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/v1/ws-ticket/"),
        ("get", "/api/v1/companies/"),
        ("get", "/api/v1/users/"),
        ("get", "/api/v1/users/me/"),
        ("get", "/api/v1/channels/"),
        ("get", "/api/v1/sla-policies/"),
        ("get", "/api/v1/routing-policy/"),
        ("patch", "/api/v1/routing-policy/"),
    ],
)
def test_anonymous_requests_get_401_json(
    company_a: object, api: ApiFor, method: str, path: str
) -> None:
    response = getattr(api(None), method)(path, {}, format="json")
    assert response.status_code == 401
    assert response.json()["detail"]
    assert response["WWW-Authenticate"] == "Token"


def test_bad_token_is_401(db: object) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert client.get("/api/v1/users/").status_code == 401


def test_ws_ticket_is_issued_to_the_caller_and_redeemable_once(
    api: ApiFor, agent_a: User, redis_client: object
) -> None:
    before = dt.datetime.now(dt.UTC)
    response = api(agent_a).post("/api/v1/ws-ticket/")
    assert response.status_code == 200
    data = response.json()
    expires_at = dt.datetime.fromisoformat(data["expires_at"].replace("Z", "+00:00"))
    assert before < expires_at <= before + dt.timedelta(seconds=61)
    assert redeem_ticket(data["ticket"]) == (agent_a.pk, agent_a.credentials_version)
    assert redeem_ticket(data["ticket"]) is None


@override_settings(WS_TICKET_TTL_SECONDS=120)
def test_ws_ticket_lifetime_follows_the_setting(api: ApiFor, agent_a: User) -> None:
    before = dt.datetime.now(dt.UTC)
    data = api(agent_a).post("/api/v1/ws-ticket/").json()
    expires_at = dt.datetime.fromisoformat(data["expires_at"].replace("Z", "+00:00"))
    assert expires_at - before >= dt.timedelta(seconds=119)


def test_session_authenticated_ws_ticket_needs_csrf(agent_a: User) -> None:
    """A session caller is checked for CSRF: a forged cross-site POST cannot mint tickets."""
    csrf_client = APIClient(enforce_csrf_checks=True)
    csrf_client.force_login(agent_a)
    assert csrf_client.post("/api/v1/ws-ticket/").status_code == 403
