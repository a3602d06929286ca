"""/api/v1/sla-policies/: one validated SLA per company and priority."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from zoneinfo import ZoneInfo

import pytest

from routing_service.tenancy.models import Company, Role, User
from sla_engine.calendar import business_minutes_between
from sla_engine.deadlines import calendar_for, due_times
from sla_engine.models import ChatSLA
from tests.api.conftest import ApiFor

pytestmark = pytest.mark.django_db

HIGH = {
    "priority": "high",
    "first_response_minutes": 10,
    "resolution_minutes": 240,
    "warning_percent": 75,
    "work_start": "08:30",
    "work_end": "18:00",
    "weekdays": [4, 0, 1, 2, 3],
    "include_weekends": False,
    "timezone": "Europe/Berlin",
    "holiday_country": "de",
    "holiday_subdivision": "BY",
    "holidays": ["2026-12-24", "2026-12-31", "2026-12-24"],
}


def test_admin_creates_policy_normalised(api: ApiFor, admin_a: User, company_a: Company) -> None:
    response = api(admin_a).post("/api/v1/sla-policies/", HIGH, format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["company"] == company_a.pk
    assert data["weekdays"] == [0, 1, 2, 3, 4]
    assert (data["work_start"], data["work_end"]) == ("08:30", "18:00")
    assert data["holiday_country"] == "DE"
    assert data["holidays"] == ["2026-12-24", "2026-12-31"]
    assert data["escalation_ladder"]  # the model's default ladder
    sla = ChatSLA.objects.for_company(company_a).get(priority="high")
    assert sla.timezone == "Europe/Berlin"
    assert sla.holidays == ["2026-12-24", "2026-12-31"]


def test_policy_with_intervals_and_ladder(api: ApiFor, admin_a: User) -> None:
    payload = {
        **HIGH,
        "work_intervals": [["09:00", "12:00"], ["22:00", "06:00"]],
        "pause_while_waiting_on_customer": True,
        "escalation_ladder": [
            {"after_minutes": 0, "action": "notify_supervisors"},
            {"after_minutes": 20, "action": "reassign", "to": "supervisor"},
        ],
    }
    response = api(admin_a).post("/api/v1/sla-policies/", payload, format="json")
    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["work_intervals"] == [["09:00", "12:00"], ["22:00", "06:00"]]
    assert data["escalation_ladder"][1] == {
        "after_minutes": 20,
        "action": "reassign",
        "to": "supervisor",
    }
    assert data["pause_while_waiting_on_customer"] is True


def test_a_day_ending_at_24_00_is_accepted_answered_back_and_loses_no_minute(
    api: ApiFor, admin_a: User, company_a: Company
) -> None:
    payload = {
        **HIGH,
        "work_start": "00:00",
        "work_end": "24:00",
        "weekdays": [0, 1, 2, 3, 4, 5, 6],
        "timezone": "UTC",
        "holiday_country": "",
        "holiday_subdivision": "",
        "holidays": [],
        "first_response_minutes": 24 * 60,
        "resolution_minutes": 24 * 60,
    }
    client = api(admin_a)

    response = client.post("/api/v1/sla-policies/", payload, format="json")

    assert response.status_code == 201, response.json()
    assert (response.json()["work_start"], response.json()["work_end"]) == ("00:00", "24:00")
    sla = ChatSLA.objects.for_company(company_a).get(priority="high")
    assert client.get(f"/api/v1/sla-policies/{sla.pk}/").json()["work_end"] == "24:00"
    # Round the clock: a day's target started at midnight is due at the next midnight.
    start = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
    assert due_times(sla, start).first_response == start + dt.timedelta(days=1)

    # Back to an ordinary end: the answer follows.
    patched = client.patch(f"/api/v1/sla-policies/{sla.pk}/", {"work_end": "18:00"}, format="json")
    assert patched.status_code == 200 and patched.json()["work_end"] == "18:00"
    sla.refresh_from_db()
    assert (sla.work_end, sla.work_end_is_end_of_day) == (dt.time(18), False)


def test_an_evening_interval_may_end_at_24_00_and_a_shift_may_run_overnight(
    api: ApiFor, admin_a: User
) -> None:
    client = api(admin_a)
    intervals = client.post(
        "/api/v1/sla-policies/",
        {**HIGH, "work_intervals": [["09:00", "12:00"], ["18:00", "24:00"]]},
        format="json",
    )
    assert intervals.status_code == 201, intervals.json()
    assert intervals.json()["work_intervals"] == [["09:00", "12:00"], ["18:00", "24:00"]]
    calendar = calendar_for(ChatSLA.objects.get(pk=intervals.json()["id"]))
    monday = dt.datetime(2026, 3, 2, tzinfo=ZoneInfo("Europe/Berlin"))
    assert business_minutes_between(calendar, monday, monday + dt.timedelta(days=1)) == 9 * 60

    overnight = client.post(
        "/api/v1/sla-policies/",
        {**HIGH, "priority": "low", "work_start": "22:00", "work_end": "06:00"},
        format="json",
    )
    assert overnight.status_code == 201, overnight.json()
    assert (overnight.json()["work_start"], overnight.json()["work_end"]) == ("22:00", "06:00")


def test_defaults_fill_missing_calendar_fields(api: ApiFor, admin_a: User) -> None:
    payload = {"priority": "low", "first_response_minutes": 60, "resolution_minutes": 600}
    data = api(admin_a).post("/api/v1/sla-policies/", payload, format="json").json()
    assert data["weekdays"] == [0, 1, 2, 3, 4]
    assert data["timezone"] == "UTC"
    assert (data["work_start"], data["work_end"]) == ("09:00", "17:00")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"weekdays": [0, 7]}, "weekdays"),
        ({"weekdays": [1, 1, 2]}, "weekdays"),
        ({"weekdays": ["monday"]}, "weekdays"),
        ({"weekdays": "0,1,2"}, "weekdays"),
        ({"weekdays": [], "include_weekends": False}, "weekdays"),
        ({"work_start": "9am"}, "work_start"),
        ({"work_end": "25:00"}, "work_end"),
        ({"work_end": "17:00:30"}, "work_end"),
        ({"work_end": "24:01"}, "work_end"),
        ({"work_start": "24:00"}, "work_start"),
        ({"work_intervals": [["24:00", "06:00"]]}, "work_intervals"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"timezone": ""}, "timezone"),
        ({"holiday_country": "XX"}, "holiday_country"),
        ({"holiday_subdivision": "ZZ"}, "holiday_subdivision"),
        ({"holiday_country": "", "holiday_subdivision": "BY"}, "holiday_subdivision"),
        ({"holidays": ["2026-02-30"]}, "holidays"),
        ({"holidays": ["24.12.2026"]}, "holidays"),
        ({"first_response_minutes": 300, "resolution_minutes": 60}, "resolution_minutes"),
        ({"first_response_minutes": 0}, "first_response_minutes"),
        ({"warning_percent": 101}, "warning_percent"),
        ({"priority": "critical"}, "priority"),
        ({"work_intervals": [["09:00"]]}, "work_intervals"),
        ({"escalation_ladder": [{"after_minutes": 5, "action": "panic"}]}, "escalation_ladder"),
        (
            {
                "escalation_ladder": [
                    {"after_minutes": 30, "action": "raise_priority"},
                    {"after_minutes": 5, "action": "notify_supervisors"},
                ]
            },
            "escalation_ladder",
        ),
    ],
)
def test_bad_sla_input_is_a_field_error(
    api: ApiFor, admin_a: User, change: dict[str, object], field: str
) -> None:
    response = api(admin_a).post("/api/v1/sla-policies/", {**HIGH, **change}, format="json")
    assert response.status_code == 400
    assert field in response.json(), response.json()
    assert not ChatSLA.objects.unscoped().exists()


def test_duplicate_priority_is_a_400_naming_priority(
    api: ApiFor, admin_a: User, sla_a: ChatSLA
) -> None:
    response = api(admin_a).post("/api/v1/sla-policies/", HIGH, format="json")
    assert response.status_code == 400
    assert "priority" in response.json()


def test_changing_priority_to_a_taken_one_is_a_400(
    api: ApiFor, admin_a: User, sla_a: ChatSLA, company_a: Company
) -> None:
    low = ChatSLA.objects.for_company(company_a).create(
        company=company_a, priority="low", first_response_minutes=30, resolution_minutes=300
    )
    response = api(admin_a).patch(
        f"/api/v1/sla-policies/{low.pk}/", {"priority": "high"}, format="json"
    )
    assert response.status_code == 400
    assert "priority" in response.json()


def test_same_priority_in_two_companies_is_fine(api: ApiFor, admin_a: User, sla_b: ChatSLA) -> None:
    assert api(admin_a).post("/api/v1/sla-policies/", HIGH, format="json").status_code == 201


def test_partial_update_checks_against_stored_values(
    api: ApiFor, admin_a: User, sla_a: ChatSLA
) -> None:
    client = api(admin_a)
    short = client.patch(
        f"/api/v1/sla-policies/{sla_a.pk}/", {"resolution_minutes": 1}, format="json"
    )
    assert short.status_code == 400
    assert "resolution_minutes" in short.json()
    ok = client.patch(
        f"/api/v1/sla-policies/{sla_a.pk}/", {"timezone": "America/New_York"}, format="json"
    )
    assert ok.status_code == 200
    sla_a.refresh_from_db()
    assert sla_a.timezone == "America/New_York"


def test_admin_deletes_policy(api: ApiFor, admin_a: User, sla_a: ChatSLA) -> None:
    assert api(admin_a).delete(f"/api/v1/sla-policies/{sla_a.pk}/").status_code == 204
    assert not ChatSLA.objects.unscoped().filter(pk=sla_a.pk).exists()


def test_list_is_ordered_by_priority_and_filterable(
    api: ApiFor, admin_a: User, company_a: Company
) -> None:
    client = api(admin_a)
    for priority, minutes in (("urgent", 1), ("low", 60), ("medium", 30)):
        client.post(
            "/api/v1/sla-policies/",
            {"priority": priority, "first_response_minutes": minutes, "resolution_minutes": 600},
            format="json",
        )
    listed = client.get("/api/v1/sla-policies/").json()["results"]
    assert [p["priority"] for p in listed] == ["low", "medium", "urgent"]
    only = client.get("/api/v1/sla-policies/?priority=urgent").json()
    assert only["count"] == 1


@pytest.mark.parametrize("role", [Role.SUPERVISOR, Role.AGENT, Role.VIEWER])
def test_company_roles_read_policies_but_cannot_write(
    api: ApiFor, make_user: Callable[..., User], company_a: Company, sla_a: ChatSLA, role: str
) -> None:
    client = api(make_user(company_a, role))
    assert client.get("/api/v1/sla-policies/").json()["count"] == 1
    assert client.get(f"/api/v1/sla-policies/{sla_a.pk}/").status_code == 200
    assert client.post("/api/v1/sla-policies/", HIGH, format="json").status_code == 403
    assert (
        client.patch(
            f"/api/v1/sla-policies/{sla_a.pk}/", {"warning_percent": 50}, format="json"
        ).status_code
        == 403
    )
    assert client.delete(f"/api/v1/sla-policies/{sla_a.pk}/").status_code == 403


def test_superadmin_writes_policy_for_named_company(
    api: ApiFor, superadmin: User, company_b: Company
) -> None:
    response = api(superadmin).post(
        "/api/v1/sla-policies/", {**HIGH, "company": company_b.pk}, format="json"
    )
    assert response.status_code == 201
    assert ChatSLA.objects.for_company(company_b).filter(priority="high").exists()


def test_the_schema_describes_sla_times_as_the_hh_mm_strings_they_are(
    api: ApiFor, admin_a: User, sla_a: ChatSLA
) -> None:
    schemas = (
        api(admin_a)
        .get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
        .json()["components"]["schemas"]
    )
    answer = api(admin_a).get(f"/api/v1/sla-policies/{sla_a.pk}/").json()
    assert (answer["work_start"], answer["work_end"]) == ("09:00", "17:00")
    for name in ("SLAPolicy", "SLAPolicyRequest", "PatchedSLAPolicyRequest"):
        fields = schemas[name]["properties"]
        for field in ("work_start", "work_end"):
            assert fields[field]["type"] == "string" and "format" not in fields[field]
            assert re.fullmatch(fields[field]["pattern"], "09:00"), (name, field)
        interval = fields["work_intervals"]["items"]["items"]
        assert interval["type"] == "string" and "format" not in interval
    answered = schemas["SLAPolicy"]["properties"]["work_start"]["pattern"]
    assert re.fullmatch(answered, answer["work_start"])
    assert not re.fullmatch(answered, "09:00:00")


def test_sla_times_with_zero_seconds_are_accepted_and_answered_as_hh_mm(
    api: ApiFor, admin_a: User
) -> None:
    payload = {**HIGH, "work_start": "08:30:00", "work_intervals": [["09:00:00", "12:00"]]}
    response = api(admin_a).post("/api/v1/sla-policies/", payload, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["work_start"] == "08:30"
    assert response.json()["work_intervals"] == [["09:00", "12:00"]]

    odd = api(admin_a).post(
        "/api/v1/sla-policies/", {**HIGH, "priority": "low", "work_end": "18:00:30"}, format="json"
    )
    assert odd.status_code == 400
    assert "work_end" in odd.json()
