"""`GET /api/v1/metrics/`: the live numbers of a scripted hour, the forecast, the wallboard's
agreement, validation of `?window=`, roles and company isolation."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import TestCase
from django.utils import timezone
from rest_framework.test import APIClient

from analytics import erlang
from realtime.wallboard import compute_stats
from routing_service.chats import actions, provisioning
from routing_service.chats.actions.routing import abandon_stale_chats
from routing_service.chats.models import Channel, Conversation, ConversationStatus, Provider
from routing_service.tenancy.models import AgentStatus, Company, Role, User
from tests.support.inbound import inbound_message

pytestmark = pytest.mark.django_db

URL = "/api/v1/metrics/"
ApiFor = Callable[[User | None], APIClient]
MINUTE = dt.timedelta(minutes=1)
SECOND = dt.timedelta(seconds=1)


@dataclass
class Hour:
    now: dt.datetime
    handler: User
    chats: dict[str, Conversation]


def _channel(company: Company) -> Channel:
    return provisioning.create_channel(
        company=company, name="Web", provider=Provider.GENERIC, secret="s" * 32
    )


def _arrive(channel: Channel, key: str, at: dt.datetime) -> Conversation:
    result = actions.receive_inbound_message(
        channel, inbound_message(f"{key}-m1", key, f"help with {key}"), received_at=at
    )
    return Conversation.objects.unscoped().get(pk=result.conversation_id)


def _answer(
    chat: Conversation, agent: User, after: dt.timedelta, resolve_after: dt.timedelta | None
) -> None:
    assignment = actions.pick_conversation(chat.pk, agent, now=chat.created_at)
    actions.send_agent_reply(chat.pk, agent, "Hello, on it.", now=chat.created_at + after)
    if resolve_after is not None:
        actions.resolve_assignment(
            assignment.pk, agent, now=chat.created_at + after + resolve_after
        )


def script_hour(company: Company, make_user: Callable[..., User], tag: str) -> Hour:
    """One agent taking one chat at a time, and the last hour's arrivals:

    ====  ===========  =========================  ==========================================
    chat  arrived      answered after             then
    ====  ===========  =========================  ==========================================
    E     90 min ago   10 s (before the window)   resolved 55 min ago: handled 2,090 s
    A     50 min ago   10 s (in time)             resolved 300 s later
    B     40 min ago   30 s (late)                resolved 600 s later
    C     25 min ago   20 s (in time, just)       still open: the agent is full
    D     20 min ago   never                      abandoned 5 min ago (silent for 10 min)
    F     3 min ago    never                      waiting
    ====  ===========  =========================  ==========================================
    """
    with TestCase.captureOnCommitCallbacks(execute=True):  # the counters are written on commit
        return _script_hour(company, make_user, tag)


def _script_hour(company: Company, make_user: Callable[..., User], tag: str) -> Hour:
    now = timezone.now()
    provisioning.update_routing_policy(company, abandon_after_minutes=10)
    handler = make_user(
        company, Role.AGENT, username=f"{tag}-handler", status=AgentStatus.AVAILABLE, max_chats=1
    )
    channel = _channel(company)
    chats: dict[str, Conversation] = {}
    for key, ago, answer, handle in (
        ("E", 90 * MINUTE, 10 * SECOND, 90 * MINUTE - 55 * MINUTE - 10 * SECOND),
        ("A", 50 * MINUTE, 10 * SECOND, 300 * SECOND),
        ("B", 40 * MINUTE, 30 * SECOND, 600 * SECOND),
        ("C", 25 * MINUTE, 20 * SECOND, None),
    ):
        chats[key] = _arrive(channel, f"{tag}-{key}", now - ago)
        _answer(chats[key], handler, answer, handle)
    chats["D"] = _arrive(channel, f"{tag}-D", now - 20 * MINUTE)
    assert abandon_stale_chats(now=now - 5 * MINUTE) == 1
    chats["F"] = _arrive(channel, f"{tag}-F", now - 3 * MINUTE)
    make_user(company, Role.AGENT, username=f"{tag}-away", status=AgentStatus.AWAY, max_chats=3)
    make_user(company, Role.AGENT, username=f"{tag}-off", max_chats=2)
    for chat in chats.values():
        chat.refresh_from_db()
    return Hour(now, handler, chats)


def test_a_scripted_hour_gives_the_exact_figures(
    company_a: Company, make_user: Callable[..., User], admin_a: User, api: ApiFor
) -> None:
    hour = script_hour(company_a, make_user, "acme")
    assert hour.chats["D"].status == ConversationStatus.ABANDONED
    assert hour.chats["F"].status == ConversationStatus.WAITING

    response = api(admin_a).get(URL)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["window_minutes"] == 60
    assert body["waiting"] == 1
    assert 180 <= body["longest_wait_seconds"] < 240
    assert body["offered"] == 5  # A B C D F; E arrived before the window
    assert body["answered"] == 3  # A B C
    assert body["abandoned"] == 1  # D
    assert body["service_level"] == 0.5  # A and C within 20 s, of 3 answered + 1 abandoned
    assert body["asa_seconds"] == 20.0  # (10 + 30 + 20) / 3
    assert body["aht_seconds"] == round((2090 + 300 + 600) / 3, 1)  # E A B ended in the window
    assert body["abandonment_rate"] == 0.25
    assert body["occupancy"] == 1.0  # the one available agent holds C, their only slot
    assert body["agents"] == {"available": 1, "away": 1, "offline": 1}
    assert body["agents_load"] == {
        "available": {"active_chats": 1, "capacity": 1},
        "away": {"active_chats": 0, "capacity": 3},
        "offline": {"active_chats": 0, "capacity": 2},
    }

    forecast = body["forecast"]
    handle = body["aht_seconds"]
    traffic = 5 / 3600 * handle
    needed = erlang.servers_needed(traffic, handle, 20, 0.8)
    assert needed is not None and needed >= 2
    assert forecast == {
        "arrival_rate_per_hour": 5.0,
        "handle_seconds": handle,
        "required_agents": needed,  # one chat at a time: one slot per agent
        "available_agents": 1,
        "expected_service_level": 0.0,  # 1.4 Erlangs on one slot: the queue only grows
        "expected_wait_seconds": None,
    }


def test_window_narrows_the_counts(
    company_a: Company, make_user: Callable[..., User], admin_a: User, api: ApiFor
) -> None:
    script_hour(company_a, make_user, "acme")
    body = api(admin_a).get(URL, {"window": 22}).json()
    assert body["window_minutes"] == 22
    assert (body["offered"], body["answered"], body["abandoned"]) == (2, 0, 1)  # D F; D
    assert body["service_level"] == 0.0
    assert body["abandonment_rate"] == 1.0
    assert body["asa_seconds"] is None and body["aht_seconds"] is None
    assert body["forecast"]["required_agents"] is None  # no handle time in the window


def test_a_quiet_company_needs_nobody(company_a: Company, admin_a: User, api: ApiFor) -> None:
    body = api(admin_a).get(URL).json()
    assert body["waiting"] == 0 and body["longest_wait_seconds"] == 0
    assert body["offered"] == body["answered"] == body["abandoned"] == 0
    assert body["service_level"] is None and body["abandonment_rate"] is None
    assert body["occupancy"] is None
    assert body["forecast"]["required_agents"] == 0
    assert body["forecast"]["expected_service_level"] == 1.0


def test_the_forecast_spreads_slots_over_agents_taking_several_chats(
    company_a: Company, make_user: Callable[..., User], admin_a: User, api: ApiFor
) -> None:
    """Three agents of three chats each: nine slots; the needed slots are shared out by
    three, rounded up."""
    script_hour(company_a, make_user, "acme")
    for _ in range(3):
        make_user(company_a, Role.AGENT, status=AgentStatus.AVAILABLE, max_chats=3)
    # The waiting chat F would be offered to them by the next routing pass; it is not run.
    body = api(admin_a).get(URL).json()
    forecast = body["forecast"]
    handle = body["aht_seconds"]
    traffic = 5 / 3600 * handle
    needed_slots = erlang.servers_needed(traffic, handle, 20, 0.8)
    assert needed_slots is not None
    slots_per_agent = (1 + 3 * 3) / 4
    assert forecast["required_agents"] == math.ceil(needed_slots / slots_per_agent)
    assert forecast["available_agents"] == 4
    assert forecast["expected_service_level"] == round(
        erlang.service_level(10, traffic, handle, 20), 4
    )
    assert forecast["expected_wait_seconds"] == round(
        erlang.average_speed_of_answer(10, traffic, handle), 1
    )


def test_the_wallboard_and_the_api_show_the_same_queue_and_agents(
    company_a: Company, make_user: Callable[..., User], admin_a: User, api: ApiFor
) -> None:
    script_hour(company_a, make_user, "acme")
    body = api(admin_a).get(URL).json()
    stats = compute_stats(company_a.pk)
    assert stats["waiting"]["total"] == body["waiting"]
    assert stats["waiting"]["longest_wait_seconds"] == pytest.approx(
        body["longest_wait_seconds"], abs=2
    )
    assert stats["agents"]["by_status"] == {
        status: {"count": body["agents"][status], **load}
        for status, load in body["agents_load"].items()
    }


@pytest.mark.parametrize(
    ("window", "message"),
    [
        ("0", "greater than or equal to 1"),
        ("1441", "less than or equal to 1440"),
        ("an hour", "valid integer"),
        ("1.5", "valid integer"),
    ],
)
def test_a_bad_window_is_a_400_naming_the_field(
    window: str, message: str, admin_a: User, api: ApiFor
) -> None:
    response = api(admin_a).get(URL, {"window": window})
    assert response.status_code == 400
    assert list(response.json()) == ["window"]
    assert message in response.json()["window"][0]


def test_an_unknown_queue_is_a_404_naming_the_field(admin_a: User, api: ApiFor) -> None:
    response = api(admin_a).get(URL, {"queue": 999_999_999})
    assert response.status_code == 404
    assert list(response.json()) == ["queue"]


def test_an_empty_window_is_the_default(admin_a: User, api: ApiFor) -> None:
    response = api(admin_a).get(URL + "?window=")
    assert response.status_code == 200
    assert response.json()["window_minutes"] == 60


@pytest.mark.parametrize("role", [Role.AGENT, Role.SUPERVISOR, Role.COMPANY_ADMIN, Role.VIEWER])
def test_everyone_in_the_company_reads_it(
    role: str, company_a: Company, make_user: Callable[..., User], api: ApiFor
) -> None:
    assert api(make_user(company_a, role)).get(URL).status_code == 200


def test_anonymous_callers_are_refused(api: ApiFor) -> None:
    assert api(None).get(URL).status_code == 401


def test_another_company_sees_none_of_it(
    company_a: Company,
    company_b: Company,
    make_user: Callable[..., User],
    admin_b: User,
    api: ApiFor,
) -> None:
    """Company B's admin sees B's numbers only, even naming company A; and A's figures do not
    move when B is busy."""
    script_hour(company_a, make_user, "acme")
    empty = api(admin_b).get(URL, {"company": company_a.pk}).json()
    assert empty["offered"] == empty["waiting"] == empty["answered"] == 0
    assert set(empty["agents"].values()) == {0}

    busy = _channel(company_b)
    make_user(company_b, Role.AGENT, status=AgentStatus.AVAILABLE, max_chats=5)
    for n in range(3):
        _arrive(busy, f"globex-{n}", timezone.now() - MINUTE)
    admin_a = make_user(company_a, Role.COMPANY_ADMIN)
    body = api(admin_a).get(URL).json()
    assert body["offered"] == 5 and body["waiting"] == 1
    assert body["agents"]["available"] == 1


def test_a_superadmin_names_the_company(
    company_a: Company, make_user: Callable[..., User], superadmin: User, api: ApiFor
) -> None:
    script_hour(company_a, make_user, "acme")
    missing = api(superadmin).get(URL)
    assert missing.status_code == 400
    assert list(missing.json()) == ["company"]
    assert api(superadmin).get(URL, {"company": 999_999}).status_code == 400
    body = api(superadmin).get(URL, {"company": company_a.pk}).json()
    assert body["offered"] == 5


def test_the_queries_do_not_grow_with_the_chats(
    company_a: Company,
    make_user: Callable[..., User],
    admin_a: User,
    api: ApiFor,
    django_assert_max_num_queries: Any,
) -> None:
    script_hour(company_a, make_user, "acme")
    client = api(admin_a)
    client.get(URL)  # the token and session lookups are warm
    with django_assert_max_num_queries(8):
        assert client.get(URL).status_code == 200


def test_it_is_documented_in_the_schema(api: ApiFor, admin_a: User) -> None:
    schema = api(admin_a).get("/api/schema/", {"format": "json"}).json()
    operation = schema["paths"]["/api/v1/metrics/"]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"window", "queue", "company"}
    assert {"200", "400", "401", "403"} <= set(operation["responses"])
    live = schema["components"]["schemas"]["LiveMetrics"]
    assert {"service_level", "asa_seconds", "forecast", "agents"} <= set(live["properties"])
