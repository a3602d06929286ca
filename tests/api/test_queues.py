"""`/api/v1/queues/` and `/api/v1/queue-rules/`: CRUD, roles, validation naming the field,
the company wall, deletion rules, and transfers to a queue over REST."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from routing_service.chats import actions
from routing_service.chats.models import ChatAssignment, Conversation
from routing_service.queues.models import Queue
from routing_service.tenancy.models import AgentStatus, Company, Role, User
from tests.api.conftest import ApiFor
from tests.support.inbound import inbound_message

pytestmark = pytest.mark.django_db


def default_id(company: Company) -> int:
    return Queue.objects.unscoped().get(company=company, is_default=True).pk


def test_admin_creates_updates_lists_and_deletes_a_queue(
    api: ApiFor, admin_a: User, agent_a: User, supervisor_a: User, company_a: Company
) -> None:
    client = api(admin_a)
    created = client.post(
        "/api/v1/queues/",
        {
            "name": "Billing",
            "members": [{"user": agent_a.pk, "skill_level": 8}, {"user": supervisor_a.pk}],
            "strategy": "least_busy",
            "offer_timeout_seconds": 45,
            "service_level_seconds": 30,
            "service_level_target": 0.9,
            "abandoned_count_as": "excluded",
            "calendar": {"timezone": "Europe/Berlin", "weekdays": [0, 1, 2, 3, 4]},
            "overflow_queue": default_id(company_a),
            "overflow_after_seconds": 120,
            "auto_reply": {"on_arrival": {"enabled": True, "templates": {"en": "Hi!"}}},
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["members"] == [
        {"user": agent_a.pk, "skill_level": 8},
        {"user": supervisor_a.pk, "skill_level": 5},
    ]
    assert body["overflow_queue"] == default_id(company_a)
    assert body["is_default"] is False

    patched = client.patch(
        f"/api/v1/queues/{body['id']}/", {"members": [], "strategy": None}, format="json"
    )
    assert patched.status_code == 200, patched.json()
    assert patched.json()["members"] == [] and patched.json()["strategy"] is None

    listed = api(supervisor_a).get("/api/v1/queues/").json()
    assert {q["name"] for q in listed["results"]} == {"Default", "Billing"}
    assert client.delete(f"/api/v1/queues/{body['id']}/").status_code == 204


def test_supervisors_read_agents_do_not_and_only_admins_write(
    api: ApiFor, supervisor_a: User, agent_a: User
) -> None:
    assert api(supervisor_a).get("/api/v1/queues/").status_code == 200
    assert api(agent_a).get("/api/v1/queues/").status_code == 403
    refused = api(supervisor_a).post("/api/v1/queues/", {"name": "X"}, format="json")
    assert refused.status_code == 403


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "Default"}, "name"),
        ({"name": "Q", "strategy": "random"}, "strategy"),
        ({"name": "Q", "service_level_target": 1.5}, "service_level_target"),
        ({"name": "Q", "members": [{"user": 10**9}]}, "members"),
        ({"name": "Q", "members": [{"user": 1, "skill_level": 11}]}, "members"),
        ({"name": "Q", "overflow_queue": 10**9}, "overflow_queue"),
        ({"name": "Q", "calendar": {"timezone": "Mars/Base"}}, "calendar"),
        ({"name": "Q", "auto_reply": {"on_arrival": {"enabled": 1}}}, "auto_reply.on_arrival"),
    ],
)
def test_invalid_queue_is_refused_naming_the_field(
    api: ApiFor, admin_a: User, payload: dict[str, object], field: str
) -> None:
    answer = api(admin_a).post("/api/v1/queues/", payload, format="json")
    assert answer.status_code == 400, answer.json()
    assert field in answer.json()


def test_default_queue_cannot_be_deleted_and_cycles_are_refused(
    api: ApiFor, admin_a: User, company_a: Company
) -> None:
    client = api(admin_a)
    default = default_id(company_a)
    refused = client.delete(f"/api/v1/queues/{default}/")
    assert refused.status_code == 400 and "is_default" in refused.json()
    other = client.post(
        "/api/v1/queues/", {"name": "Sales", "overflow_queue": default}, format="json"
    ).json()
    cycle = client.patch(
        f"/api/v1/queues/{default}/", {"overflow_queue": other["id"]}, format="json"
    )
    assert cycle.status_code == 400 and "overflow_queue" in cycle.json()


def test_company_b_cannot_see_or_touch_company_a_queues_or_members(
    api: ApiFor, admin_a: User, admin_b: User, agent_b: User, company_a: Company
) -> None:
    queue = default_id(company_a)
    client_b = api(admin_b)
    assert client_b.get(f"/api/v1/queues/{queue}/").status_code == 404
    assert (
        client_b.patch(f"/api/v1/queues/{queue}/", {"name": "x"}, format="json").status_code == 404
    )
    assert client_b.delete(f"/api/v1/queues/{queue}/").status_code == 404
    assert queue not in {q["id"] for q in client_b.get("/api/v1/queues/").json()["results"]}
    # Company A cannot put company B's agent in its queue, nor point a rule at B's queue.
    foreign_member = api(admin_a).post(
        "/api/v1/queues/", {"name": "Mixed", "members": [{"user": agent_b.pk}]}, format="json"
    )
    assert foreign_member.status_code == 400 and "members" in foreign_member.json()
    foreign_rule = client_b.post(
        "/api/v1/queue-rules/", {"queue": queue, "match": {"vip": True}}, format="json"
    )
    assert foreign_rule.status_code == 400 and "queue" in foreign_rule.json()


def test_queue_rules_crud_in_order_with_match_validation(
    api: ApiFor, admin_a: User, admin_b: User, supervisor_a: User, company_a: Company
) -> None:
    client = api(admin_a)
    queue = default_id(company_a)
    second = client.post(
        "/api/v1/queue-rules/", {"order": 2, "queue": queue, "match": {"vip": True}}, format="json"
    )
    first = client.post(
        "/api/v1/queue-rules/",
        {"order": 1, "queue": queue, "match": {"keywords": ["refund"], "language": "de"}},
        format="json",
    )
    assert second.status_code == first.status_code == 201
    listed = api(supervisor_a).get("/api/v1/queue-rules/").json()["results"]
    assert [r["order"] for r in listed] == [1, 2]
    bad = client.post(
        "/api/v1/queue-rules/", {"queue": queue, "match": {"vip": "yes"}}, format="json"
    )
    assert bad.status_code == 400 and "match.vip" in bad.json()
    rule_id = first.json()["id"]
    assert api(admin_b).get(f"/api/v1/queue-rules/{rule_id}/").status_code == 404
    moved = client.patch(f"/api/v1/queue-rules/{rule_id}/", {"order": 5}, format="json")
    assert moved.status_code == 200 and moved.json()["order"] == 5
    assert client.delete(f"/api/v1/queue-rules/{rule_id}/").status_code == 204


def test_conversations_show_and_filter_by_queue_and_transfer_to_a_queue(
    api: ApiFor,
    admin_a: User,
    company_a: Company,
    company_b: Company,
    make_user: Callable[..., User],
    channel_a: object,
    redis_client: object,
) -> None:
    first = make_user(company_a, Role.AGENT, status=AgentStatus.AVAILABLE)
    second = make_user(company_a, Role.AGENT, status=AgentStatus.AVAILABLE)
    client = api(admin_a)
    sales = client.post(
        "/api/v1/queues/", {"name": "Sales", "members": [{"user": second.pk}]}, format="json"
    ).json()
    client.patch(
        f"/api/v1/queues/{default_id(company_a)}/",
        {"members": [{"user": first.pk}]},
        format="json",
    )
    result = actions.receive_inbound_message(channel_a, inbound_message("m1", "c1", "hello"))  # type: ignore[arg-type]
    chat = Conversation.objects.unscoped().get(pk=result.conversation_id)
    offer = ChatAssignment.objects.get(conversation=chat, status="offered")
    assert offer.agent_id == first.pk

    listed = client.get(f"/api/v1/conversations/?queue={default_id(company_a)}").json()
    assert [c["id"] for c in listed["results"]] == [chat.pk]
    assert listed["results"][0]["queue"] == default_id(company_a)
    assert client.get(f"/api/v1/conversations/?queue={sales['id']}").json()["count"] == 0

    agent_client = api(first)
    foreign = agent_client.post(
        f"/api/v1/assignments/{offer.pk}/transfer/",
        {"reason": "sales", "to_queue": default_id(company_b)},
        format="json",
    )
    assert foreign.status_code == 404 and "to_queue" in foreign.json()
    bad = agent_client.post(
        f"/api/v1/assignments/{offer.pk}/transfer/",
        {"reason": "sales", "to_queue": "sales"},
        format="json",
    )
    assert bad.status_code == 400 and "to_queue" in bad.json()
    moved = agent_client.post(
        f"/api/v1/assignments/{offer.pk}/transfer/",
        {"reason": "sales", "to_queue": sales["id"]},
        format="json",
    )
    assert moved.status_code == 200, moved.json()
    chat.refresh_from_db()
    assert chat.queue_id == sales["id"]
    assert ChatAssignment.objects.get(conversation=chat, status="offered").agent_id == second.pk


def test_sla_policies_name_a_queue_of_the_company(
    api: ApiFor, admin_a: User, admin_b: User, company_a: Company, company_b: Company
) -> None:
    client = api(admin_a)
    queue = default_id(company_a)
    base = {"priority": "high", "first_response_minutes": 10, "resolution_minutes": 60}
    assert client.post("/api/v1/sla-policies/", base, format="json").status_code == 201
    own = client.post("/api/v1/sla-policies/", {**base, "queue": queue}, format="json")
    assert own.status_code == 201, own.json()
    assert own.json()["queue"] == queue
    again = client.post("/api/v1/sla-policies/", {**base, "queue": queue}, format="json")
    assert again.status_code == 400 and "priority" in again.json()
    foreign = client.post(
        "/api/v1/sla-policies/", {**base, "queue": default_id(company_b)}, format="json"
    )
    assert foreign.status_code == 400 and "queue" in foreign.json()
    listed = client.get(f"/api/v1/sla-policies/?queue={queue}").json()["results"]
    assert [p["id"] for p in listed] == [own.json()["id"]]
    assert api(admin_b).get(f"/api/v1/sla-policies/{own.json()['id']}/").status_code == 404
