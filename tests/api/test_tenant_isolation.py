"""A company's people never see or touch another company's rows: lists leave them out and
every detail route answers 404 (not 403), so not even their existence leaks."""

from __future__ import annotations

from typing import Any

import pytest

from routing_service.chats.models import Channel
from routing_service.tenancy.models import User
from sla_engine.models import ChatSLA
from tests.api.conftest import ApiFor

pytestmark = pytest.mark.django_db

RESOURCES = [
    pytest.param("users", "agent_b", {"max_chats": 9}, id="users"),
    pytest.param("channels", "channel_b", {"name": "Hijacked"}, id="channels"),
    pytest.param("sla-policies", "sla_b", {"first_response_minutes": 1}, id="sla-policies"),
]


def _snapshot(obj: Any) -> dict[str, Any]:
    fresh = type(obj)._base_manager.get(pk=obj.pk)
    return {f.attname: getattr(fresh, f.attname) for f in type(obj)._meta.concrete_fields}


@pytest.mark.parametrize(("resource", "fixture", "change"), RESOURCES)
def test_admin_of_a_probing_company_b_gets_404(
    request: pytest.FixtureRequest,
    api: ApiFor,
    admin_a: User,
    resource: str,
    fixture: str,
    change: dict[str, Any],
) -> None:
    other = request.getfixturevalue(fixture)
    before = _snapshot(other)
    client = api(admin_a)
    listed = client.get(f"/api/v1/{resource}/").json()["results"]
    assert other.pk not in {row["id"] for row in listed}
    detail = f"/api/v1/{resource}/{other.pk}/"
    assert client.get(detail).status_code == 404
    assert client.patch(detail, change, format="json").status_code == 404
    assert client.put(detail, change, format="json").status_code == 404
    assert client.delete(detail).status_code == 404
    assert _snapshot(other) == before


@pytest.mark.parametrize(("resource", "fixture", "change"), RESOURCES)
def test_company_query_parameter_does_not_widen_the_scope(
    request: pytest.FixtureRequest,
    api: ApiFor,
    admin_a: User,
    resource: str,
    fixture: str,
    change: dict[str, Any],
) -> None:
    other = request.getfixturevalue(fixture)
    company_b = other.company
    client = api(admin_a)
    listed = client.get(f"/api/v1/{resource}/?company={company_b.pk}").json()["results"]
    assert other.pk not in {row["id"] for row in listed}
    assert client.get(f"/api/v1/{resource}/{other.pk}/?company={company_b.pk}").status_code == 404


def test_supervisor_cannot_read_other_company_rows(
    api: ApiFor, supervisor_a: User, agent_b: User, channel_b: Channel, sla_b: ChatSLA
) -> None:
    client = api(supervisor_a)
    assert client.get(f"/api/v1/users/{agent_b.pk}/").status_code == 404
    assert client.get(f"/api/v1/channels/{channel_b.pk}/").status_code == 404
    assert client.get(f"/api/v1/sla-policies/{sla_b.pk}/").status_code == 404


def test_superadmin_is_not_in_a_company_roster(
    api: ApiFor, admin_a: User, superadmin: User
) -> None:
    client = api(admin_a)
    assert client.get(f"/api/v1/users/{superadmin.pk}/").status_code == 404
    assert client.delete(f"/api/v1/users/{superadmin.pk}/").status_code == 404


def test_superadmin_reads_any_company_row(
    api: ApiFor, superadmin: User, agent_b: User, channel_b: Channel, sla_b: ChatSLA
) -> None:
    client = api(superadmin)
    assert client.get(f"/api/v1/users/{agent_b.pk}/").status_code == 200
    assert client.get(f"/api/v1/channels/{channel_b.pk}/").status_code == 200
    assert client.get(f"/api/v1/sla-policies/{sla_b.pk}/").status_code == 200


def test_superadmin_scoped_to_company_a_does_not_see_b(
    api: ApiFor, superadmin: User, admin_a: User, channel_b: Channel, sla_b: ChatSLA
) -> None:
    client = api(superadmin)
    company_a = admin_a.company
    assert company_a is not None
    assert client.get(f"/api/v1/channels/?company={company_a.pk}").json()["count"] == 0
    assert client.get(f"/api/v1/channels/{channel_b.pk}/?company={company_a.pk}").status_code == (
        404
    )
