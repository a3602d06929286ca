"""Query parameters every list shares: malformed values are refused naming the parameter, and
a filter by an id that does not exist (or is another company's) is an empty page, not an error
that would tell the two apart."""

from __future__ import annotations

import re

import pytest

from routing_service.chats.models import Channel, Provider
from routing_service.tenancy.models import User
from tests.api.conftest import ApiFor

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("value", ["abc", "null", "0", "-1", "501", "1.5"])
def test_a_page_size_outside_1_to_500_is_a_field_error(
    api: ApiFor, agent_a: User, value: str
) -> None:
    response = api(agent_a).get(f"/api/v1/users/?page_size={value}")
    assert response.status_code == 400
    assert "page_size" in response.json()


def test_a_page_size_within_bounds_sizes_the_page(
    api: ApiFor, agent_a: User, admin_a: User
) -> None:
    body = api(agent_a).get("/api/v1/users/?page_size=1").json()
    assert body["count"] == 2 and len(body["results"]) == 1
    assert "page_size=1" in body["next"]


@pytest.mark.parametrize("value", ["abc", "null", "1.5", "-3"])
def test_a_malformed_company_parameter_is_refused_for_every_role(
    api: ApiFor, agent_a: User, value: str
) -> None:
    for path in ("/api/v1/users/", "/api/v1/routing-policy/", "/api/v1/metrics/daily/"):
        response = api(agent_a).get(f"{path}?company={value}")
        assert response.status_code == 400, path
        assert "company" in response.json()


def test_the_company_parameter_is_still_ignored_for_company_members(
    api: ApiFor, agent_a: User, admin_b: User
) -> None:
    """Well formed, it names a company only a superadmin may pick: others stay in their own."""
    listed = api(agent_a).get(f"/api/v1/users/?company={admin_b.company_id}").json()["results"]
    assert {row["username"] for row in listed} == {"agent-a"}


def test_filtering_assignments_by_an_unknown_or_foreign_id_is_an_empty_page(
    api: ApiFor, agent_a: User, agent_b: User
) -> None:
    client = api(agent_a)
    for query in (
        "agent=999999",
        f"agent={agent_b.pk}",
        "conversation=999999",
        f"agent={2**63 - 1}",
    ):
        response = client.get(f"/api/v1/assignments/?{query}")
        assert response.status_code == 200, (query, response.json())
        assert response.json()["count"] == 0


@pytest.mark.parametrize("value", ["abc", "1.5", "1e3", "0", str(2**63), "9" * 5000])
def test_a_malformed_id_filter_is_a_field_error(api: ApiFor, admin_a: User, value: str) -> None:
    for path in ("assignments/?agent=", "conversations/?assigned_to=", "sessions/?data_source="):
        response = api(admin_a).get(f"/api/v1/{path}{value}")
        assert response.status_code == 400, path
        assert path.split("?")[1].rstrip("=") in response.json()


@pytest.mark.parametrize("value", ["null", "yes", "1", "True "])
def test_a_boolean_filter_that_is_not_true_or_false_is_a_field_error(
    api: ApiFor, admin_a: User, value: str
) -> None:
    for resource in ("users", "channels"):
        response = api(admin_a).get(f"/api/v1/{resource}/?is_active={value}")
        assert response.status_code == 400, resource
        assert "is_active" in response.json()


def test_ids_that_are_not_numbers_are_json_404s_on_every_detail_route(
    api: ApiFor, admin_a: User
) -> None:
    Channel.objects.create(
        company=admin_a.company, name="Web", provider=Provider.GENERIC, secret="x" * 20
    )
    client = api(admin_a)
    for path in (
        "users/abc/",
        "channels/null,null/",
        "sla-policies/1e3/",
        "conversations/abc/messages/",
        "assignments/abc/accept/",
        "data-sources/abc/",
        "sessions/abc/",
    ):
        method = client.post if path.endswith(("accept/",)) else client.get
        response = method(f"/api/v1/{path}")
        assert response.status_code == 404, path
        assert response["Content-Type"] == "application/json", path


def test_session_dates_with_any_offset_python_reads_are_answered(
    api: ApiFor, admin_a: User
) -> None:
    """PostgreSQL takes offsets up to 15:59 only: the moment is compared in UTC."""
    client = api(admin_a)
    response = client.get("/api/v1/sessions/?date_to=0155-11-05T07:37:42-16:50")
    assert response.status_code == 200, response.json()
    out_of_range = client.get("/api/v1/sessions/?date_from=0001-01-01T00:00:00%2B01:00")
    assert out_of_range.status_code == 400
    assert "date_from" in out_of_range.json()


def test_an_empty_filter_value_is_no_filter(api: ApiFor, admin_a: User) -> None:
    """As an HTML form with nothing picked sends it (the analytics pages share the filters)."""
    client = api(admin_a)
    for path in (
        "conversations/?status=&priority=",
        "assignments/?status=&agent=",
        "users/?is_active=&role=&page_size=&company=",
        "sessions/?date_from=&rating_min=&escalated=",
    ):
        response = client.get(f"/api/v1/{path}")
        assert response.status_code == 200, (path, response.json())


def test_text_parameters_refuse_nul_and_the_schema_says_so(api: ApiFor, admin_a: User) -> None:
    response = api(admin_a).get("/api/v1/sessions/?q=a%00b")
    assert response.status_code == 400
    assert "q" in response.json()
    schema = api(admin_a).get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    (q,) = [
        p for p in schema["paths"]["/api/v1/sessions/"]["get"]["parameters"] if p["name"] == "q"
    ]
    assert re.fullmatch(q["schema"]["pattern"], 'words and "phrases"')
    assert not re.fullmatch(q["schema"]["pattern"], "a\x00b")
