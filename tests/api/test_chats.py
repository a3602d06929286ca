"""Conversations, replies, assignment actions, agent status and notifications over REST."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from routing_service.chats import actions
from routing_service.chats.models import (
    Channel,
    ChatAssignment,
    ChatNotification,
    Conversation,
    Message,
    Provider,
)
from routing_service.tenancy.models import AgentStatus, Company, Role, User
from tests.support.inbound import inbound_message

pytestmark = pytest.mark.django_db
ApiFor = Callable[[User | None], APIClient]


@pytest.fixture
def chat_a(company_a: Company, make_user: Callable[..., User], redis_client: object) -> dict:
    channel = Channel.objects.create(
        company=company_a, name="Web", provider=Provider.GENERIC, secret="x" * 20
    )
    agent = make_user(company_a, Role.AGENT, status=AgentStatus.AVAILABLE, username="ag-a")
    result = actions.receive_inbound_message(channel, inbound_message("m1", "c1", "help"))
    conversation = Conversation.objects.get(pk=result.conversation_id)
    return {"agent": agent, "conversation": conversation, "channel": channel}


@pytest.fixture
def chat_b(company_b: Company, make_user: Callable[..., User], redis_client: object) -> dict:
    channel = Channel.objects.create(
        company=company_b, name="Web", provider=Provider.GENERIC, secret="y" * 20
    )
    agent = make_user(company_b, Role.AGENT, status=AgentStatus.AVAILABLE, username="ag-b")
    result = actions.receive_inbound_message(channel, inbound_message("m1", "c1", "help"))
    return {"agent": agent, "conversation": Conversation.objects.get(pk=result.conversation_id)}


def test_conversation_list_shows_contract_fields_and_filters(
    api: ApiFor, chat_a: dict, chat_b: dict
) -> None:
    client = api(chat_a["agent"])
    body = client.get("/api/v1/conversations/").json()
    assert body["count"] == 1
    row = body["results"][0]
    for field in [
        "id",
        "client",
        "channel",
        "status",
        "priority",
        "assigned_to",
        "assignment_id",
        "assignment_status",
        "first_response_due_at",
        "resolution_due_at",
        "created_at",
    ]:
        assert field in row
    assert row["assigned_to"] == chat_a["agent"].pk
    assert row["assignment_status"] == "offered"
    assert client.get("/api/v1/conversations/?status=waiting").json()["count"] == 0
    assert (
        client.get(f"/api/v1/conversations/?assigned_to={chat_a['agent'].pk}").json()["count"] == 1
    )
    assert client.get("/api/v1/conversations/?status=bogus").status_code == 400


def test_another_companys_chat_is_not_found(api: ApiFor, chat_a: dict, chat_b: dict) -> None:
    client = api(chat_a["agent"])
    other = chat_b["conversation"]
    assert client.get(f"/api/v1/conversations/{other.pk}/").status_code == 404
    assert (
        client.post(
            f"/api/v1/conversations/{other.pk}/messages/", {"text": "hi"}, format="json"
        ).status_code
        == 404
    )
    other_offer = ChatAssignment.objects.unscoped().get(conversation=other)
    assert client.post(f"/api/v1/assignments/{other_offer.pk}/accept/").status_code == 404


def test_accept_reply_resolve_flow(api: ApiFor, chat_a: dict) -> None:
    agent, conversation = chat_a["agent"], chat_a["conversation"]
    client = api(agent)
    offer = ChatAssignment.objects.get(conversation=conversation)

    accepted = client.post(f"/api/v1/assignments/{offer.pk}/accept/")
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"

    reply = client.post(
        f"/api/v1/conversations/{conversation.pk}/messages/", {"text": "On it!"}, format="json"
    )
    assert reply.status_code == 201
    assert reply.json()["direction"] == "outbound"
    assert reply.json()["delivery_status"] in {"pending", "sent", "failed"}
    conversation.refresh_from_db()
    assert conversation.first_response_at is not None

    transcript = client.get(f"/api/v1/conversations/{conversation.pk}/messages/").json()
    assert [m["direction"] for m in transcript["results"]] == ["inbound", "outbound"]

    resolved = client.post(f"/api/v1/assignments/{offer.pk}/resolve/", {}, format="json")
    assert resolved.status_code == 200 and resolved.json()["status"] == "resolved"
    again = client.post(f"/api/v1/assignments/{offer.pk}/resolve/", {}, format="json")
    assert again.status_code == 409
    assert again.json()["code"] == "invalid_state"


def test_bad_input_names_the_field(api: ApiFor, chat_a: dict) -> None:
    client = api(chat_a["agent"])
    conversation = chat_a["conversation"]
    offer = ChatAssignment.objects.get(conversation=conversation)
    empty = client.post(
        f"/api/v1/conversations/{conversation.pk}/messages/", {"text": ""}, format="json"
    )
    assert empty.status_code == 400 and "text" in empty.json()
    transfer = client.post(
        f"/api/v1/assignments/{offer.pk}/transfer/", {"reason": "x"}, format="json"
    )
    assert transfer.status_code == 400 and "to_agent_id" in transfer.json()
    escalate = client.post(f"/api/v1/assignments/{offer.pk}/escalate/", {}, format="json")
    assert escalate.status_code == 400 and "reason" in escalate.json()
    status = client.post(
        f"/api/v1/agents/{chat_a['agent'].pk}/status/", {"status": "asleep"}, format="json"
    )
    assert status.status_code == 400 and "status" in status.json()


def test_viewer_reads_but_cannot_act(api: ApiFor, chat_a: dict, make_user: Callable) -> None:
    viewer = make_user(chat_a["conversation"].company, Role.VIEWER)
    client = api(viewer)
    assert client.get("/api/v1/conversations/").status_code == 200
    offer = ChatAssignment.objects.get(conversation=chat_a["conversation"])
    assert client.post(f"/api/v1/assignments/{offer.pk}/accept/").status_code == 403
    assert api(None).get("/api/v1/conversations/").status_code == 401


def test_agent_status_and_decline_reroute(api: ApiFor, chat_a: dict, make_user: Callable) -> None:
    agent = chat_a["agent"]
    colleague = make_user(chat_a["conversation"].company, Role.AGENT, status=AgentStatus.AVAILABLE)
    client = api(agent)
    offer = ChatAssignment.objects.get(conversation=chat_a["conversation"])
    declined = client.post(
        f"/api/v1/assignments/{offer.pk}/decline/", {"reason": "busy"}, format="json"
    )
    assert declined.status_code == 200
    # As over the websocket: the answer says until when the chat stays away from this agent.
    offer.refresh_from_db()
    assert offer.cooldown_until is not None
    assert declined.json()["cooldown_until"] == offer.cooldown_until.isoformat().replace(
        "+00:00", "Z"
    )
    assert (
        ChatAssignment.objects.get(conversation=chat_a["conversation"], status="offered").agent_id
        == colleague.pk
    )
    answer = client.post(f"/api/v1/agents/{agent.pk}/status/", {"status": "away"}, format="json")
    assert answer.status_code == 200 and answer.json()["status"] == "away"
    # Agents change only their own status.
    assert (
        client.post(
            f"/api/v1/agents/{colleague.pk}/status/", {"status": "away"}, format="json"
        ).status_code
        == 403
    )


def test_notifications_count_read_and_dismiss(api: ApiFor, chat_a: dict) -> None:
    agent, conversation = chat_a["agent"], chat_a["conversation"]
    offer = ChatAssignment.objects.get(conversation=conversation)
    actions.accept_assignment(offer.pk, agent)
    for n in range(3):
        actions.receive_inbound_message(chat_a["channel"], inbound_message(f"more-{n}", "c1"))
    client = api(agent)
    listed = client.get("/api/v1/notifications/").json()
    assert listed["count"] == 1 and listed["results"][0]["unread_count"] == 3

    notification_id = listed["results"][0]["id"]
    read = client.post(f"/api/v1/notifications/{notification_id}/read/")
    assert read.json()["unread_count"] == 0
    assert client.post(f"/api/v1/notifications/{notification_id}/dismiss/").status_code == 200
    assert client.get("/api/v1/notifications/").json()["count"] == 0
    assert ChatNotification.objects.get(pk=notification_id).dismissed_at is not None
    assert Message.objects.filter(conversation=conversation).count() == 4


def test_a_notification_id_that_is_not_a_number_is_a_json_404(api: ApiFor, chat_a: dict) -> None:
    client = api(chat_a["agent"])
    for path in ("abc/dismiss/", "abc/read/", "1e3/dismiss/"):
        response = client.post(f"/api/v1/notifications/{path}")
        assert response.status_code == 404, path
        assert response["Content-Type"] == "application/json"
        assert "detail" in response.json()


def test_options_on_agent_status_describes_the_post(api: ApiFor, chat_a: dict) -> None:
    agent = chat_a["agent"]
    response = api(agent).options(f"/api/v1/agents/{agent.pk}/status/")
    assert response.status_code == 200
    status_field = response.json()["actions"]["POST"]["status"]
    assert {choice["value"] for choice in status_field["choices"]} == set(AgentStatus.values)


def test_transfer_to_an_offline_agent_is_refused_naming_to_agent_id(
    api: ApiFor, chat_a: dict, make_user: Callable
) -> None:
    agent, conversation = chat_a["agent"], chat_a["conversation"]
    offline = make_user(conversation.company, Role.AGENT, status=AgentStatus.OFFLINE)
    client = api(agent)
    offer = ChatAssignment.objects.get(conversation=conversation)
    assert client.post(f"/api/v1/assignments/{offer.pk}/accept/").status_code == 200

    response = client.post(
        f"/api/v1/assignments/{offer.pk}/transfer/",
        {"to_agent_id": offline.pk, "reason": "billing"},
        format="json",
    )

    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "agent_unavailable"
    assert "offline" in body["to_agent_id"][0]
    offer.refresh_from_db()
    assert (offer.status, offer.agent_id) == ("accepted", agent.pk)
