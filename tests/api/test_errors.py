"""Every API failure is JSON, whatever part of the stack refuses the request; bodies are JSON
with the types the schema states."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.test import Client

from routing_service.tenancy.models import User
from tests.api.conftest import ApiFor

pytestmark = pytest.mark.django_db


def test_a_form_with_too_many_fields_is_a_json_400(api: ApiFor, admin_a: User) -> None:
    body = urlencode([("name", "x")] * 1_100)
    response = api(admin_a).post(
        "/api/v1/data-sources/", body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert "DATA_UPLOAD_MAX_NUMBER_FIELDS" in response.json()["detail"]


def test_form_fields_over_the_memory_limit_are_a_json_413(api: ApiFor, admin_a: User) -> None:
    body = urlencode({"name": "x" * (6 * 1024 * 1024)})
    response = api(admin_a).post(
        "/api/v1/data-sources/", body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 413
    assert response["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/users/", {"username": "form-user", "password": "pw-123456-long"}),
        ("/api/v1/sla-policies/", {"priority": "low", "work_intervals": "09:00"}),
        ("/api/v1/routing-policy/", {"urgent_keywords": "outage"}),
    ],
)
def test_json_resources_refuse_form_bodies_with_a_json_415(
    api: ApiFor, admin_a: User, path: str, body: dict[str, str]
) -> None:
    """Form encodings cannot carry lists and objects: `urgent_keywords=outage` must not be
    read as a list of the characters of "outage", nor anything else."""
    client = api(admin_a)
    method = client.patch if path.endswith("routing-policy/") else client.post
    response = method(path, urlencode(body), content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert response["Content-Type"] == "application/json"
    assert "detail" in response.json()


def test_the_token_endpoint_still_takes_a_login_form(admin_a: User) -> None:
    response = Client().post(
        "/api/v1/auth/token/", {"username": "admin-a", "password": "pw-123456"}
    )
    assert response.status_code == 200
    assert response.json()["token"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/routing-policy/", {"urgent_keywords": [5]}, "urgent_keywords"),
        ("/api/v1/routing-policy/", {"offer_timeout_seconds": "60"}, "offer_timeout_seconds"),
        ("/api/v1/users/me/", {"first_name": 7}, "first_name"),
        ("/api/v1/users/me/", {"is_active": "yes"}, "is_active"),
    ],
)
def test_json_values_of_the_wrong_type_are_refused_not_converted(
    api: ApiFor, admin_a: User, path: str, body: dict[str, object], field: str
) -> None:
    """DRF would store `5` as "5" and read "yes" as true: the schema says string, boolean."""
    if path.endswith("me/"):
        path = f"/api/v1/users/{admin_a.pk}/"
    response = api(admin_a).patch(path, body, format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json()


def test_an_unsupported_method_is_405_whatever_the_query_string(api: ApiFor, admin_a: User) -> None:
    response = api(admin_a).generic("TRACE", "/api/v1/routing-policy/?company=0")
    assert response.status_code == 405
    assert "PATCH" in response["Allow"]
