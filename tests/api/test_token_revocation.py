"""API tokens die with the credentials they were obtained with: a password change rotates them,
and `POST /api/v1/auth/token/revoke/` lets a user revoke their own."""

from __future__ import annotations

import pytest
from django.test import Client as HttpClient
from rest_framework.test import APIClient

from routing_service.tenancy import actions
from routing_service.tenancy.models import User
from tests.api.conftest import ApiFor

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-brand-new-pass-42"


def obtain_token(username: str, password: str) -> str | None:
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": username, "password": password}, format="json"
    )
    return response.json()["token"] if response.status_code == 200 else None


def with_token(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def test_password_change_over_the_api_rotates_the_users_token(
    api: ApiFor, agent_a: User, admin_a: User
) -> None:
    old = obtain_token("agent-a", "pw-123456")
    assert old is not None and with_token(old).get("/api/v1/users/me/").status_code == 200

    response = api(admin_a).patch(
        f"/api/v1/users/{agent_a.pk}/", {"password": NEW_PASSWORD}, format="json"
    )
    assert response.status_code == 200

    assert with_token(old).get("/api/v1/users/me/").status_code == 401
    new = obtain_token("agent-a", NEW_PASSWORD)
    assert new is not None and new != old
    assert with_token(new).get("/api/v1/users/me/").status_code == 200


def test_password_change_in_code_rotates_the_token(agent_a: User) -> None:
    old = obtain_token("agent-a", "pw-123456")
    assert old is not None

    actions.change_password(agent_a, NEW_PASSWORD)

    assert with_token(old).get("/api/v1/users/me/").status_code == 401
    assert obtain_token("agent-a", "pw-123456") is None


def test_profile_change_keeps_the_token(api: ApiFor, agent_a: User, admin_a: User) -> None:
    old = obtain_token("agent-a", "pw-123456")
    assert old is not None

    response = api(admin_a).patch(
        f"/api/v1/users/{agent_a.pk}/", {"first_name": "Ada", "max_chats": 5}, format="json"
    )
    assert response.status_code == 200

    assert with_token(old).get("/api/v1/users/me/").status_code == 200


def test_revoking_my_tokens_ends_the_token_i_called_with(agent_a: User) -> None:
    token = obtain_token("agent-a", "pw-123456")
    assert token is not None
    client = with_token(token)

    response = client.post("/api/v1/auth/token/revoke/")

    assert response.status_code == 204
    assert client.get("/api/v1/users/me/").status_code == 401
    again = obtain_token("agent-a", "pw-123456")
    assert again is not None and again != token


def test_revoking_my_tokens_with_the_session_keeps_the_session(agent_a: User) -> None:
    token = obtain_token("agent-a", "pw-123456")
    assert token is not None
    browser = HttpClient(enforce_csrf_checks=False)
    browser.force_login(agent_a)

    response = browser.post("/api/v1/auth/token/revoke/")

    assert response.status_code == 204
    assert with_token(token).get("/api/v1/users/me/").status_code == 401
    assert browser.get("/api/v1/users/me/").status_code == 200


def test_revoking_tokens_needs_credentials(db: object) -> None:
    response = APIClient().post("/api/v1/auth/token/revoke/")
    assert response.status_code == 401
    assert response.json()["detail"]


def test_revoking_my_tokens_leaves_other_users_tokens(agent_a: User, admin_a: User) -> None:
    mine = obtain_token("agent-a", "pw-123456")
    theirs = obtain_token("admin-a", "pw-123456")
    assert mine is not None and theirs is not None

    with_token(mine).post("/api/v1/auth/token/revoke/")

    assert with_token(theirs).get("/api/v1/users/me/").status_code == 200
