"""/api/v1/companies/: superadmins only."""

from __future__ import annotations

import pytest

from routing_service.chats.models import RoutingPolicy
from routing_service.tenancy.models import Company, Role, User
from tests.api.conftest import ApiFor

pytestmark = pytest.mark.django_db


def test_superadmin_lists_companies_paginated(
    api: ApiFor, superadmin: User, company_a: Company, company_b: Company
) -> None:
    response = api(superadmin).get("/api/v1/companies/")
    assert response.status_code == 200
    data = response.json()
    assert set(data) == {"count", "next", "previous", "results"}
    assert data["count"] == 2
    assert {c["slug"] for c in data["results"]} == {"acme", "globex"}
    assert set(data["results"][0]) == {
        "id",
        "name",
        "slug",
        "is_active",
        "time_zone",
        "created_at",
    }


def test_superadmin_creates_company_with_its_routing_policy(api: ApiFor, superadmin: User) -> None:
    response = api(superadmin).post("/api/v1/companies/", {"name": "Initech Help"}, format="json")
    assert response.status_code == 201
    data = response.json()
    assert data["slug"] == "initech-help"
    assert RoutingPolicy.objects.unscoped().filter(company_id=data["id"]).exists()


def test_duplicate_slug_is_a_field_error(api: ApiFor, superadmin: User, company_a: Company) -> None:
    response = api(superadmin).post(
        "/api/v1/companies/", {"name": "Other", "slug": "acme"}, format="json"
    )
    assert response.status_code == 400
    assert "slug" in response.json()


def test_superadmin_renames_and_deactivates_company(
    api: ApiFor, superadmin: User, company_a: Company
) -> None:
    response = api(superadmin).patch(
        f"/api/v1/companies/{company_a.pk}/",
        {"name": "Acme Ltd", "is_active": False},
        format="json",
    )
    assert response.status_code == 200
    company_a.refresh_from_db()
    assert (company_a.name, company_a.is_active) == ("Acme Ltd", False)


def test_companies_are_not_deleted_over_the_api(
    api: ApiFor, superadmin: User, company_a: Company
) -> None:
    assert api(superadmin).delete(f"/api/v1/companies/{company_a.pk}/").status_code == 405
    assert Company.objects.filter(pk=company_a.pk).exists()


@pytest.mark.parametrize("role", [Role.COMPANY_ADMIN, Role.SUPERVISOR, Role.AGENT, Role.VIEWER])
def test_company_roles_cannot_use_companies_endpoint(
    api: ApiFor, make_user: object, company_a: Company, role: str
) -> None:
    user = make_user(company_a, role)  # type: ignore[operator]
    client = api(user)
    assert client.get("/api/v1/companies/").status_code == 403
    assert client.get(f"/api/v1/companies/{company_a.pk}/").status_code == 403
    assert client.post("/api/v1/companies/", {"name": "X"}, format="json").status_code == 403
