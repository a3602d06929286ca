"""/api/v1/users/: company admins manage their own company's staff; everyone reads the roster."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from routing_service.tenancy.models import AgentStatus, Company, Role, User
from tests.api.conftest import ApiFor

pytestmark = pytest.mark.django_db

NEW_AGENT = {
    "username": "new-agent",
    "password": "a-long-enough-passphrase",
    "email": "new@acme.test",
    "role": "agent",
    "max_chats": 4,
    "skills": ["Billing", " refunds ", "billing"],
    "languages": ["EN", "de"],
}


def test_company_admin_creates_agent_in_own_company(
    api: ApiFor, admin_a: User, company_a: Company
) -> None:
    response = api(admin_a).post("/api/v1/users/", NEW_AGENT, format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["company"] == company_a.pk
    assert data["skills"] == ["billing", "refunds"]
    assert data["languages"] == ["de", "en"]
    assert data["status"] == AgentStatus.OFFLINE
    assert "password" not in data
    user = User.objects.get(username="new-agent")
    assert user.check_password("a-long-enough-passphrase")
    assert (user.company_id, user.role, user.max_chats) == (company_a.pk, Role.AGENT, 4)


def test_created_user_can_obtain_a_token(api: ApiFor, admin_a: User) -> None:
    api(admin_a).post("/api/v1/users/", NEW_AGENT, format="json")
    response = api(None).post(
        "/api/v1/auth/token/",
        {"username": "new-agent", "password": "a-long-enough-passphrase"},
        format="json",
    )
    assert response.status_code == 200


def test_status_is_read_only(api: ApiFor, admin_a: User, agent_a: User) -> None:
    response = api(admin_a).patch(
        f"/api/v1/users/{agent_a.pk}/", {"status": "available"}, format="json"
    )
    assert response.status_code == 200
    agent_a.refresh_from_db()
    assert agent_a.status == AgentStatus.OFFLINE


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"role": "overlord"}, "role"),
        ({"password": "short"}, "password"),
        ({"password": None}, "password"),
        ({"username": "bad name!"}, "username"),
        ({"max_chats": -1}, "max_chats"),
        ({"skills": "billing"}, "skills"),
        ({"email": "not-an-email"}, "email"),
    ],
)
def test_bad_user_input_is_a_field_error(
    api: ApiFor, admin_a: User, change: dict[str, object], field: str
) -> None:
    payload = {k: v for k, v in {**NEW_AGENT, **change}.items() if v is not None}
    response = api(admin_a).post("/api/v1/users/", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()


def test_password_similar_to_username_is_refused(api: ApiFor, admin_a: User) -> None:
    payload = {**NEW_AGENT, "username": "margaret.hamilton", "password": "margaret.hamilton"}
    response = api(admin_a).post("/api/v1/users/", payload, format="json")
    assert response.status_code == 400
    assert "password" in response.json()


def test_duplicate_username_is_a_field_error(api: ApiFor, admin_a: User, agent_a: User) -> None:
    response = api(admin_a).post(
        "/api/v1/users/", {**NEW_AGENT, "username": "agent-a"}, format="json"
    )
    assert response.status_code == 400
    assert "username" in response.json()


def test_company_admin_cannot_create_superadmin(api: ApiFor, admin_a: User) -> None:
    response = api(admin_a).post(
        "/api/v1/users/", {**NEW_AGENT, "role": "superadmin"}, format="json"
    )
    assert response.status_code == 400
    assert "role" in response.json()
    assert not User.objects.filter(username="new-agent").exists()


def test_company_admin_cannot_create_user_in_another_company(
    api: ApiFor, admin_a: User, company_b: Company
) -> None:
    response = api(admin_a).post(
        "/api/v1/users/", {**NEW_AGENT, "company": company_b.pk}, format="json"
    )
    assert response.status_code == 400
    assert "company" in response.json()
    assert not User.objects.filter(username="new-agent").exists()


def test_company_admin_cannot_move_user_to_another_company(
    api: ApiFor, admin_a: User, agent_a: User, company_a: Company, company_b: Company
) -> None:
    response = api(admin_a).patch(
        f"/api/v1/users/{agent_a.pk}/", {"company": company_b.pk}, format="json"
    )
    assert response.status_code == 400
    assert "company" in response.json()
    agent_a.refresh_from_db()
    assert agent_a.company_id == company_a.pk


def test_company_admin_cannot_promote_to_superadmin(
    api: ApiFor, admin_a: User, agent_a: User
) -> None:
    response = api(admin_a).patch(
        f"/api/v1/users/{agent_a.pk}/", {"role": "superadmin"}, format="json"
    )
    assert response.status_code == 400
    agent_a.refresh_from_db()
    assert agent_a.role == Role.AGENT


def test_company_admin_updates_user_and_password(api: ApiFor, admin_a: User, agent_a: User) -> None:
    response = api(admin_a).patch(
        f"/api/v1/users/{agent_a.pk}/",
        {"role": "supervisor", "password": "brand-new-secret-phrase", "languages": ["FR"]},
        format="json",
    )
    assert response.status_code == 200, response.json()
    agent_a.refresh_from_db()
    assert agent_a.role == Role.SUPERVISOR
    assert agent_a.languages == ["fr"]
    assert agent_a.check_password("brand-new-secret-phrase")


def test_admin_cannot_change_own_role_or_deactivate_self(api: ApiFor, admin_a: User) -> None:
    client = api(admin_a)
    response = client.patch(f"/api/v1/users/{admin_a.pk}/", {"role": "agent"}, format="json")
    assert response.status_code == 400
    assert "role" in response.json()
    assert client.delete(f"/api/v1/users/{admin_a.pk}/").status_code == 400
    admin_a.refresh_from_db()
    assert admin_a.is_active and admin_a.role == Role.COMPANY_ADMIN


def test_delete_deactivates_and_takes_user_offline(
    api: ApiFor, admin_a: User, agent_a: User
) -> None:
    agent_a.status = AgentStatus.AVAILABLE
    agent_a.save()
    assert api(admin_a).delete(f"/api/v1/users/{agent_a.pk}/").status_code == 204
    agent_a.refresh_from_db()
    assert not agent_a.is_active
    assert agent_a.status == AgentStatus.OFFLINE
    assert api(agent_a).get("/api/v1/users/me/").status_code == 401


def test_superadmin_creates_user_for_named_company(
    api: ApiFor, superadmin: User, company_b: Company
) -> None:
    response = api(superadmin).post(
        "/api/v1/users/", {**NEW_AGENT, "company": company_b.pk}, format="json"
    )
    assert response.status_code == 201
    assert User.objects.get(username="new-agent").company_id == company_b.pk


def test_superadmin_must_name_company_for_company_roles(api: ApiFor, superadmin: User) -> None:
    response = api(superadmin).post("/api/v1/users/", NEW_AGENT, format="json")
    assert response.status_code == 400
    assert "company" in response.json()


def test_superadmin_creates_superadmin_without_company(
    api: ApiFor, superadmin: User, company_a: Company
) -> None:
    response = api(superadmin).post(
        "/api/v1/users/", {**NEW_AGENT, "role": "superadmin"}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["company"] is None


def test_superadmin_moves_user_between_companies(
    api: ApiFor, superadmin: User, agent_a: User, company_b: Company
) -> None:
    response = api(superadmin).patch(
        f"/api/v1/users/{agent_a.pk}/", {"company": company_b.pk}, format="json"
    )
    assert response.status_code == 200
    agent_a.refresh_from_db()
    assert agent_a.company_id == company_b.pk


def test_superadmin_lists_everyone_or_one_company(
    api: ApiFor, superadmin: User, agent_a: User, agent_b: User, company_b: Company
) -> None:
    client = api(superadmin)
    everyone = {u["username"] for u in client.get("/api/v1/users/").json()["results"]}
    assert {"root", "agent-a", "agent-b"} <= everyone
    only_b = client.get(f"/api/v1/users/?company={company_b.pk}").json()["results"]
    assert [u["username"] for u in only_b] == ["agent-b"]


def test_superadmin_naming_unknown_company_gets_field_error(api: ApiFor, superadmin: User) -> None:
    for value in ("999999", "abc"):
        response = api(superadmin).get(f"/api/v1/users/?company={value}")
        assert response.status_code == 400
        assert "company" in response.json()


@pytest.mark.parametrize("role", [Role.SUPERVISOR, Role.AGENT, Role.VIEWER])
def test_company_roles_read_the_roster_but_cannot_write(
    api: ApiFor,
    make_user: Callable[..., User],
    company_a: Company,
    admin_a: User,
    agent_b: User,
    role: str,
) -> None:
    user = make_user(company_a, role)
    client = api(user)
    listed = {u["username"] for u in client.get("/api/v1/users/").json()["results"]}
    assert listed == {user.username, "admin-a"}
    assert client.get(f"/api/v1/users/{admin_a.pk}/").status_code == 200
    assert client.post("/api/v1/users/", NEW_AGENT, format="json").status_code == 403
    assert (
        client.patch(f"/api/v1/users/{admin_a.pk}/", {"max_chats": 9}, format="json").status_code
        == 403
    )
    assert client.delete(f"/api/v1/users/{admin_a.pk}/").status_code == 403


def test_me_returns_the_caller(api: ApiFor, viewer_a: User) -> None:
    data = api(viewer_a).get("/api/v1/users/me/").json()
    assert (data["username"], data["role"]) == ("viewer-a", "viewer")


def test_roster_filters_by_role_and_status(
    api: ApiFor, admin_a: User, agent_a: User, supervisor_a: User
) -> None:
    agent_a.status = AgentStatus.AVAILABLE
    agent_a.save()
    client = api(admin_a)
    agents = client.get("/api/v1/users/?role=agent").json()["results"]
    assert [u["username"] for u in agents] == ["agent-a"]
    available = client.get("/api/v1/users/?status=available").json()["results"]
    assert [u["username"] for u in available] == ["agent-a"]
    assert client.get("/api/v1/users/?role=overlord").status_code == 400
