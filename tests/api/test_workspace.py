"""The workspace over REST: notes and mentions, labels, canned responses, customer profiles —
each with the company wall."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from routing_service.chats import actions
from routing_service.chats.models import (
    Channel,
    ChatNotification,
    Client,
    Conversation,
    Provider,
)
from routing_service.tenancy.models import AgentStatus, Company, Role, User
from tests.support.inbound import inbound_message

pytestmark = pytest.mark.django_db
ApiFor = Callable[[User | None], APIClient]


def _chat(company: Company, make_user: Callable[..., User], suffix: str, **client: str) -> dict:
    channel = Channel.objects.create(
        company=company, name="Web", provider=Provider.GENERIC, secret="x" * 20
    )
    agent = make_user(company, Role.AGENT, status=AgentStatus.AVAILABLE, username=f"ag-{suffix}")
    result = actions.receive_inbound_message(
        channel, inbound_message(f"m-{suffix}", f"cust-{suffix}", "help", name=f"Ada {suffix}")
    )
    conversation = Conversation.objects.get(pk=result.conversation_id)
    if client:
        Client.objects.filter(pk=conversation.client_id).update(**client)
    return {"agent": agent, "conversation": conversation, "client": conversation.client}


@pytest.fixture
def chat_a(company_a: Company, make_user: Callable[..., User], redis_client: object) -> dict:
    return _chat(company_a, make_user, "a", email="ada@example.com", phone="+44 20 7946 0001")


@pytest.fixture
def chat_b(company_b: Company, make_user: Callable[..., User], redis_client: object) -> dict:
    return _chat(company_b, make_user, "b")


# --- notes ---------------------------------------------------------------------------------


def test_a_note_is_stored_as_a_note_and_listed_in_the_transcript(api: ApiFor, chat_a: dict) -> None:
    client = api(chat_a["agent"])
    conversation = chat_a["conversation"]
    answer = client.post(
        f"/api/v1/conversations/{conversation.pk}/notes/",
        {"text": "Refund approved"},
        format="json",
    )
    assert answer.status_code == 201, answer.json()
    assert answer.json()["kind"] == "note"
    rows = client.get(f"/api/v1/conversations/{conversation.pk}/messages/").json()["results"]
    assert [(row["kind"], row["text"]) for row in rows] == [
        ("message", "help"),
        ("note", "Refund approved"),
    ]
    conversation.refresh_from_db()
    assert conversation.first_response_at is None  # a note is not an answer to the customer
    assert conversation.message_count == 1


def test_note_refusals_name_the_field_and_the_company_wall_holds(
    api: ApiFor, chat_a: dict, chat_b: dict, make_user: Callable[..., User], company_a: Company
) -> None:
    client = api(chat_a["agent"])
    url = f"/api/v1/conversations/{chat_a['conversation'].pk}/notes/"
    empty = client.post(url, {"text": "   "}, format="json")
    assert empty.status_code == 400 and "text" in empty.json()
    foreign = client.post(
        f"/api/v1/conversations/{chat_b['conversation'].pk}/notes/", {"text": "hi"}, format="json"
    )
    assert foreign.status_code == 404
    viewer = make_user(company_a, Role.VIEWER)
    assert api(viewer).post(url, {"text": "hi"}, format="json").status_code == 403


def test_a_mention_notifies_only_a_colleague_of_the_same_company(
    api: ApiFor, chat_a: dict, chat_b: dict, make_user: Callable[..., User], company_a: Company
) -> None:
    colleague = make_user(company_a, Role.SUPERVISOR, username="grace")
    bystander = make_user(company_a, Role.AGENT, username="linus")
    outsider = chat_b["agent"]  # "ag-b", of company B
    text = f"@grace can you approve? cc @{outsider.username}, mail me@grace.example"
    answer = api(chat_a["agent"]).post(
        f"/api/v1/conversations/{chat_a['conversation'].pk}/notes/", {"text": text}, format="json"
    )
    assert answer.status_code == 201
    notified = ChatNotification.objects.unscoped().filter(last_text=text)
    assert [n.recipient_id for n in notified] == [colleague.pk]
    assert notified[0].unread_count == 1
    assert (
        not ChatNotification.objects.unscoped().filter(recipient__in=[bystander, outsider]).exists()
    )
    listed = api(colleague).get("/api/v1/notifications/").json()["results"]
    assert [row["last_text"] for row in listed] == [text]


# --- labels --------------------------------------------------------------------------------


def test_labels_are_managed_by_supervisors_validated_and_unique_per_company(
    api: ApiFor, chat_a: dict, admin_a: User, admin_b: User, company_a: Company
) -> None:
    admin = api(admin_a)
    made = admin.post("/api/v1/labels/", {"name": "billing", "color": "#1A7F37"}, format="json")
    assert made.status_code == 201, made.json()
    assert made.json()["color"] == "#1a7f37"
    dup = admin.post("/api/v1/labels/", {"name": "billing", "color": "#000000"}, format="json")
    assert dup.status_code == 400 and "name" in dup.json()
    bad = admin.post("/api/v1/labels/", {"name": "x", "color": "red"}, format="json")
    assert bad.status_code == 400 and "color" in bad.json()
    agent = api(chat_a["agent"])
    assert agent.get("/api/v1/labels/").json()["count"] == 1
    assert (
        agent.post("/api/v1/labels/", {"name": "y", "color": "#000000"}, format="json").status_code
        == 403
    )
    # The same name in another company is another label; A's is invisible there.
    other = api(admin_b)
    assert other.get("/api/v1/labels/").json()["count"] == 0
    assert (
        other.post(
            "/api/v1/labels/", {"name": "billing", "color": "#222222"}, format="json"
        ).status_code
        == 201
    )
    assert other.get(f"/api/v1/labels/{made.json()['id']}/").status_code == 404


def test_a_chat_gets_labels_by_name_and_the_list_filters_by_label(
    api: ApiFor, chat_a: dict, chat_b: dict, admin_a: User, admin_b: User
) -> None:
    for name in ("billing", "refund"):
        api(admin_a).post("/api/v1/labels/", {"name": name, "color": "#123456"}, format="json")
    api(admin_b).post("/api/v1/labels/", {"name": "vip-only", "color": "#123456"}, format="json")
    agent = api(chat_a["agent"])
    url = f"/api/v1/conversations/{chat_a['conversation'].pk}/labels/"

    answer = agent.post(url, {"labels": ["refund", "billing"]}, format="json")
    assert answer.status_code == 200, answer.json()
    assert answer.json()["labels"] == ["billing", "refund"]
    unknown = agent.post(url, {"labels": ["billing", "vip-only"]}, format="json")
    assert unknown.status_code == 400 and "labels" in unknown.json()
    assert "vip-only" in unknown.json()["labels"][0]

    assert agent.get("/api/v1/conversations/?label=billing").json()["count"] == 1
    assert agent.get("/api/v1/conversations/?label=nothing").json()["count"] == 0
    # Company B has a "billing" too, on no chat: A's chat never shows up for B.
    api(admin_b).post("/api/v1/labels/", {"name": "billing", "color": "#123456"}, format="json")
    assert api(admin_b).get("/api/v1/conversations/?label=billing").json()["count"] == 0
    foreign = agent.post(
        f"/api/v1/conversations/{chat_b['conversation'].pk}/labels/",
        {"labels": []},
        format="json",
    )
    assert foreign.status_code == 404

    # A rename and a delete follow through to the chat.
    billing = api(admin_a).get("/api/v1/labels/").json()["results"][0]
    api(admin_a).patch(f"/api/v1/labels/{billing['id']}/", {"name": "accounts"}, format="json")
    assert agent.get(f"/api/v1/conversations/{chat_a['conversation'].pk}/").json()["labels"] == [
        "accounts",
        "refund",
    ]
    refund = api(admin_a).get("/api/v1/labels/?page_size=10").json()["results"][1]
    assert api(admin_a).delete(f"/api/v1/labels/{refund['id']}/").status_code == 204
    assert agent.get(f"/api/v1/conversations/{chat_a['conversation'].pk}/").json()["labels"] == [
        "accounts"
    ]
    assert agent.post(url, {"labels": []}, format="json").json()["labels"] == []


# --- canned responses ------------------------------------------------------------------------


def test_shared_canned_responses_are_the_admins_and_personal_ones_their_owners(
    api: ApiFor, chat_a: dict, admin_a: User, make_user: Callable[..., User], company_a: Company
) -> None:
    agent, colleague = api(chat_a["agent"]), api(make_user(company_a, Role.AGENT))
    shared = {"shortcode": "hello", "title": "Greeting", "text": "Hi!", "scope": "company"}
    refused = agent.post("/api/v1/canned-responses/", shared, format="json")
    assert refused.status_code == 403
    made = api(admin_a).post("/api/v1/canned-responses/", shared, format="json")
    assert made.status_code == 201, made.json()
    assert made.json()["scope"] == "company"
    mine = agent.post(
        "/api/v1/canned-responses/",
        {"shortcode": "hello", "title": "My greeting", "text": "Hey there"},
        format="json",
    )
    assert mine.status_code == 201 and mine.json()["scope"] == "personal"
    twice = agent.post(
        "/api/v1/canned-responses/",
        {"shortcode": "hello", "title": "Again", "text": "Hey", "scope": "personal"},
        format="json",
    )
    assert twice.status_code == 400 and "shortcode" in twice.json()

    assert agent.get("/api/v1/canned-responses/").json()["count"] == 2
    assert colleague.get("/api/v1/canned-responses/").json()["count"] == 1
    assert colleague.get(f"/api/v1/canned-responses/{mine.json()['id']}/").status_code == 404
    assert (
        agent.patch(
            f"/api/v1/canned-responses/{made.json()['id']}/", {"text": "Yo"}, format="json"
        ).status_code
        == 403
    )
    assert agent.delete(f"/api/v1/canned-responses/{mine.json()['id']}/").status_code == 204


def test_canned_search_matches_shortcode_title_and_text(
    api: ApiFor, chat_a: dict, admin_a: User, admin_b: User
) -> None:
    admin = api(admin_a)
    for code, text in (("refund", "We refunded your order."), ("ship", "It ships in 2 days.")):
        admin.post(
            "/api/v1/canned-responses/",
            {"shortcode": code, "title": code.title(), "text": text, "scope": "company"},
            format="json",
        )
    api(admin_b).post(
        "/api/v1/canned-responses/",
        {"shortcode": "refund2", "title": "B", "text": "refund", "scope": "company"},
        format="json",
    )
    agent = api(chat_a["agent"])

    def codes(q: str) -> list[str]:
        rows = agent.get("/api/v1/canned-responses/", {"q": q}).json()["results"]
        return [row["shortcode"] for row in rows]

    assert codes("/ref") == ["refund"]
    assert codes("2 days") == ["ship"]
    assert codes("order") == ["refund"]
    assert agent.get("/api/v1/canned-responses/?q=a%00b").status_code == 400


def test_canned_variables_are_substituted_once_and_never_run_as_a_template(
    api: ApiFor, chat_a: dict, admin_a: User, company_a: Company
) -> None:
    Client.objects.filter(pk=chat_a["client"].pk).update(name="{{agent.name}} {% debug %}")
    chat_a["agent"].first_name, chat_a["agent"].last_name = "Grace", "Hopper"
    chat_a["agent"].save()
    admin = api(admin_a)
    text = "Hi {{client.name}}, {{ agent.name }} of {{company.name}} here. {% now 'Y' %}"
    made = admin.post(
        "/api/v1/canned-responses/",
        {"shortcode": "hi", "title": "Hi", "text": text, "scope": "company"},
        format="json",
    )
    assert made.status_code == 201, made.json()
    rendered = api(chat_a["agent"]).get(
        f"/api/v1/canned-responses/{made.json()['id']}/render/",
        {"conversation": chat_a["conversation"].pk},
    )
    assert rendered.status_code == 200
    assert rendered.json()["text"] == (
        "Hi {{agent.name}} {% debug %}, Grace Hopper of Acme Support here. {% now 'Y' %}"
    )
    unknown = admin.post(
        "/api/v1/canned-responses/",
        {"shortcode": "x", "title": "X", "text": "{{client.password}}", "scope": "company"},
        format="json",
    )
    assert unknown.status_code == 400 and "client.password" in unknown.json()["text"][0]


def test_rendering_for_another_companys_chat_is_not_found(
    api: ApiFor, chat_a: dict, chat_b: dict, admin_a: User
) -> None:
    made = api(admin_a).post(
        "/api/v1/canned-responses/",
        {"shortcode": "hi", "title": "Hi", "text": "Hi {{client.name}}", "scope": "company"},
        format="json",
    )
    answer = api(chat_a["agent"]).get(
        f"/api/v1/canned-responses/{made.json()['id']}/render/",
        {"conversation": chat_b["conversation"].pk},
    )
    assert answer.status_code == 404


# --- clients -------------------------------------------------------------------------------


def test_clients_search_over_name_email_phone_and_identity(
    api: ApiFor, chat_a: dict, chat_b: dict
) -> None:
    agent = api(chat_a["agent"])

    def found(q: str) -> list[int]:
        return [row["id"] for row in agent.get("/api/v1/clients/", {"q": q}).json()["results"]]

    me = chat_a["client"].pk
    assert found("ada") == [me]  # "Ada b" of company B stays invisible
    assert found("example.com") == [me]
    assert found("7946") == [me]
    assert found("cust-a") == [me]
    row = agent.get(f"/api/v1/clients/{me}/").json()
    assert row["identities"] == [{"provider": "generic", "id": "cust-a"}]
    assert agent.get(f"/api/v1/clients/{chat_b['client'].pk}/").status_code == 404


def test_staff_edit_a_profile_and_bad_fields_are_named(
    api: ApiFor, chat_a: dict, company_a: Company, make_user: Callable[..., User]
) -> None:
    agent = api(chat_a["agent"])
    url = f"/api/v1/clients/{chat_a['client'].pk}/"
    good = agent.patch(
        url,
        {"vip": True, "phone": "+1 555 0100", "attributes": {"plan": "gold", "seats": 12}},
        format="json",
    )
    assert good.status_code == 200, good.json()
    assert (good.json()["vip"], good.json()["attributes"]) == (True, {"plan": "gold", "seats": 12})
    assert Client.objects.get(pk=chat_a["client"].pk).is_vip is True
    for body, field in (
        ({"attributes": {"nested": {"a": 1}}}, "attributes"),
        ({"attributes": {"k" * 65: "v"}}, "attributes"),
        ({"attributes": ["list"]}, "attributes"),
        ({"attributes": {f"k{i}": i for i in range(51)}}, "attributes"),
        ({"email": "not-an-email"}, "email"),
        ({"vip": "yes"}, "vip"),
    ):
        answer = agent.patch(url, body, format="json")
        assert answer.status_code == 400 and field in answer.json(), (body, answer.json())
    viewer = make_user(company_a, Role.VIEWER)
    assert api(viewer).patch(url, {"name": "x"}, format="json").status_code == 403
    assert api(viewer).get(url).status_code == 200


def test_a_clients_history_and_notes(api: ApiFor, chat_a: dict, chat_b: dict) -> None:
    agent = api(chat_a["agent"])
    client_id = chat_a["client"].pk
    history = agent.get(f"/api/v1/clients/{client_id}/conversations/").json()
    assert [row["id"] for row in history["results"]] == [chat_a["conversation"].pk]
    made = agent.post(
        f"/api/v1/clients/{client_id}/notes/", {"text": "Prefers email"}, format="json"
    )
    assert made.status_code == 201 and made.json()["author"] == chat_a["agent"].pk
    notes = agent.get(f"/api/v1/clients/{client_id}/notes/").json()["results"]
    assert [n["text"] for n in notes] == ["Prefers email"]
    other = api(chat_b["agent"])
    assert other.get(f"/api/v1/clients/{client_id}/notes/").status_code == 404
    assert other.get(f"/api/v1/clients/{client_id}/conversations/").status_code == 404
