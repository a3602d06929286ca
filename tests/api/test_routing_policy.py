"""/api/v1/routing-policy/: the company's one routing policy, no id in the URL."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from routing_service.chats.models import RoutingPolicy
from routing_service.tenancy.models import Company, Role, User
from tests.api.conftest import ApiFor

pytestmark = pytest.mark.django_db

POLICY = {
    "strategy": "least_busy",
    "offer_timeout_seconds": 45,
    "urgent_keywords": ["Outage", " data  breach ", "outage"],
    "vip_priority": "urgent",
    "skill_fallback_seconds": 60,
    "abandon_after_minutes": 30,
}


def _policy(company: Company) -> RoutingPolicy:
    return RoutingPolicy.objects.for_company(company).get()


@pytest.mark.parametrize("role", [Role.COMPANY_ADMIN, Role.SUPERVISOR, Role.AGENT, Role.VIEWER])
def test_everyone_in_the_company_reads_the_policy(
    api: ApiFor, make_user: Callable[..., User], company_a: Company, role: str
) -> None:
    response = api(make_user(company_a, role)).get("/api/v1/routing-policy/")
    assert response.status_code == 200
    data = response.json()
    assert data["company"] == company_a.pk
    assert data["strategy"] == "round_robin"
    assert set(POLICY) <= set(data)


def test_admin_replaces_the_policy(api: ApiFor, admin_a: User, company_a: Company) -> None:
    response = api(admin_a).put("/api/v1/routing-policy/", POLICY, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["urgent_keywords"] == ["outage", "data breach"]
    policy = _policy(company_a)
    assert (policy.strategy, policy.offer_timeout_seconds, policy.vip_priority) == (
        "least_busy",
        45,
        "urgent",
    )


def test_admin_patches_one_field(api: ApiFor, admin_a: User, company_a: Company) -> None:
    response = api(admin_a).patch("/api/v1/routing-policy/", {"strategy": "manual"}, format="json")
    assert response.status_code == 200
    assert _policy(company_a).strategy == "manual"
    assert _policy(company_a).offer_timeout_seconds == 30


def test_admin_of_one_company_leaves_the_other_alone(
    api: ApiFor, admin_a: User, company_b: Company
) -> None:
    api(admin_a).patch(
        f"/api/v1/routing-policy/?company={company_b.pk}", {"strategy": "manual"}, format="json"
    )
    assert _policy(company_b).strategy == "round_robin"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"strategy": "random"}, "strategy"),
        ({"offer_timeout_seconds": 4}, "offer_timeout_seconds"),
        ({"offer_timeout_seconds": 3601}, "offer_timeout_seconds"),
        ({"urgent_keywords": "outage"}, "urgent_keywords"),
        ({"vip_priority": "critical"}, "vip_priority"),
        ({"skill_fallback_seconds": -1}, "skill_fallback_seconds"),
        ({"decline_cooldown_seconds": -1}, "decline_cooldown_seconds"),
        ({"decline_cooldown_seconds": 86_401}, "decline_cooldown_seconds"),
    ],
)
def test_bad_policy_input_is_a_field_error(
    api: ApiFor, admin_a: User, company_a: Company, change: dict[str, object], field: str
) -> None:
    response = api(admin_a).patch("/api/v1/routing-policy/", change, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert _policy(company_a).strategy == "round_robin"


def test_the_decline_cooldown_defaults_to_a_minute_and_can_be_changed(
    api: ApiFor, admin_a: User, company_a: Company
) -> None:
    client = api(admin_a)
    assert client.get("/api/v1/routing-policy/").json()["decline_cooldown_seconds"] == 60

    response = client.patch(
        "/api/v1/routing-policy/", {"decline_cooldown_seconds": 300}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["decline_cooldown_seconds"] == 300
    assert _policy(company_a).decline_cooldown_seconds == 300
    # A PUT that leaves it out (written before the field existed) keeps it.
    assert client.put("/api/v1/routing-policy/", POLICY, format="json").status_code == 200
    assert _policy(company_a).decline_cooldown_seconds == 300


def test_put_needs_every_field(api: ApiFor, admin_a: User) -> None:
    response = api(admin_a).put("/api/v1/routing-policy/", {"strategy": "manual"}, format="json")
    assert response.status_code == 400
    assert "offer_timeout_seconds" in response.json()


@pytest.mark.parametrize("role", [Role.SUPERVISOR, Role.AGENT, Role.VIEWER])
def test_non_admins_cannot_change_the_policy(
    api: ApiFor, make_user: Callable[..., User], company_a: Company, role: str
) -> None:
    client = api(make_user(company_a, role))
    assert client.patch("/api/v1/routing-policy/", {"strategy": "manual"}).status_code == 403
    assert client.put("/api/v1/routing-policy/", POLICY, format="json").status_code == 403


def test_superadmin_names_the_company(
    api: ApiFor, superadmin: User, company_a: Company, company_b: Company
) -> None:
    client = api(superadmin)
    missing = client.get("/api/v1/routing-policy/")
    assert missing.status_code == 400
    assert "company" in missing.json()
    assert client.get(f"/api/v1/routing-policy/?company={company_b.pk}").json()["company"] == (
        company_b.pk
    )
    response = client.patch(
        "/api/v1/routing-policy/", {"company": company_b.pk, "strategy": "manual"}, format="json"
    )
    assert response.status_code == 200
    assert _policy(company_b).strategy == "manual"
    assert _policy(company_a).strategy == "round_robin"
