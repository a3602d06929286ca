"""Supervisor monitoring: the conversations pages, whispers, take-over, and transcript and
conversation exports — with their permissions and tenant isolation."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
import redis
from django.conf import settings
from django.test import Client as DjangoClient

from events.log import log_key
from events.schema import agent_group
from realtime import monitoring
from routing_service.chats.actions import send_agent_reply
from routing_service.chats.models import (
    ACTIVE_ASSIGNMENT_STATUSES,
    AssignmentStatus,
    Channel,
    ChatAssignment,
    Conversation,
    Whisper,
)
from routing_service.tenancy.models import AgentStatus, Company, Role, User

pytestmark = pytest.mark.django_db(transaction=True)


def holder_of(conversation_id: int) -> ChatAssignment:
    return ChatAssignment.objects.unscoped().get(
        conversation_id=conversation_id, status__in=ACTIVE_ASSIGNMENT_STATUSES
    )


def page(client: DjangoClient, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.content[:500]
    return response.content.decode()


def logged(company_id: int, group: str) -> list[dict[str, Any]]:
    log = redis.Redis.from_url(settings.CHANNEL_LAYER_REDIS_URL)
    entries = log.xrange(log_key(company_id, group))
    return [msgspec.json.decode(fields[b"e"]) for _id, fields in entries]


@pytest.fixture
def web() -> Callable[[User], DjangoClient]:
    def client_for(user: User) -> DjangoClient:
        client = DjangoClient()
        client.force_login(user)
        return client

    return client_for


def test_the_list_shows_the_companys_chats_only_and_filters_them(
    channel_a: Channel,
    channel_b: Channel,
    agent_a: User,
    supervisor_a: User,
    inbound: Callable[..., int],
    web: Callable[[User], DjangoClient],
) -> None:
    mine = inbound(channel_a, "ada", "My parcel is late")
    other = inbound(channel_a, "bob", '=HYPERLINK("x") refund please')
    theirs = inbound(channel_b, "eve", "Globex secret chat")

    html = page(web(supervisor_a), "/conversations/")

    assert f'data-conversation-id="{mine}"' in html
    assert f'data-conversation-id="{other}"' in html
    assert f'data-conversation-id="{theirs}"' not in html
    assert "Globex secret chat" not in html
    filtered = page(web(supervisor_a), "/conversations/?q=parcel")
    assert f'data-conversation-id="{mine}"' in filtered
    assert f'data-conversation-id="{other}"' not in filtered
    by_agent = page(web(supervisor_a), f"/conversations/?agent={holder_of(mine).agent_id}")
    assert f'data-conversation-id="{mine}"' in by_agent
    bad = web(supervisor_a).get("/conversations/?status=bogus")
    assert bad.status_code == 200
    assert 'data-field="status"' in bad.content.decode()


def test_agents_and_viewers_may_not_open_the_pages(
    channel_a: Channel,
    agent_a: User,
    make_user: Callable[..., User],
    company_a: Company,
    inbound: Callable[..., int],
    web: Callable[[User], DjangoClient],
) -> None:
    chat = inbound(channel_a, "ada")
    viewer = make_user(company_a, Role.VIEWER)
    for user in (agent_a, viewer):
        assert web(user).get("/conversations/").status_code == 403
        assert web(user).get(f"/conversations/{chat}/").status_code == 403


def test_another_companys_chat_is_not_found(
    channel_b: Channel,
    agent_b: User,
    supervisor_a: User,
    inbound: Callable[..., int],
    web: Callable[[User], DjangoClient],
    api: Any,
) -> None:
    theirs = inbound(channel_b, "eve")
    assert web(supervisor_a).get(f"/conversations/{theirs}/").status_code == 404
    client = api(supervisor_a)
    assert (
        client.post(
            f"/api/v1/conversations/{theirs}/whisper/", {"text": "hi"}, format="json"
        ).status_code
        == 404
    )
    assert (
        client.post(f"/api/v1/conversations/{theirs}/take-over/", {}, format="json").status_code
        == 404
    )
    assert client.get(f"/api/v1/conversations/{theirs}/transcript.txt").status_code == 404
    export = client.get("/api/v1/conversations/export.csv")
    assert str(theirs) not in [row[0] for row in csv.reader(io.StringIO(_body(export)))][1:]


def test_keyset_pages_cover_every_chat_once(
    channel_a: Channel, supervisor_a: User, inbound: Callable[..., int]
) -> None:
    ids = {inbound(channel_a, f"client-{n}") for n in range(7)}
    seen: list[int] = []
    filters = monitoring.Filters()
    while True:
        result = monitoring.list_page(channel_a.company_id, filters, limit=3)
        seen += [row["id"] for row in result.rows]
        if result.next_cursor is None:
            break
        filters = monitoring.Filters(cursor=monitoring.decode_cursor(result.next_cursor))
    assert sorted(seen) == sorted(ids)
    assert len(seen) == len(set(seen))


def test_a_whisper_reaches_only_the_handling_agent_and_never_the_customer(
    channel_a: Channel,
    agent_a: User,
    make_agent: Callable[..., User],
    company_a: Company,
    supervisor_a: User,
    inbound: Callable[..., int],
    api: Any,
) -> None:
    chat = inbound(channel_a, "ada")
    assert holder_of(chat).agent_id == agent_a.pk
    bystander = make_agent(company_a, username="agent-bystander")

    answer = api(supervisor_a).post(
        f"/api/v1/conversations/{chat}/whisper/", {"text": "Offer the refund"}, format="json"
    )

    assert answer.status_code == 201, answer.content
    whisper = Whisper.objects.unscoped().get()
    assert (whisper.recipient_id, whisper.author_id) == (agent_a.pk, supervisor_a.pk)
    # Never a message: nothing for the outbound worker to send.
    assert (
        not Conversation.objects.unscoped()
        .get(pk=chat)
        .messages.filter(text="Offer the refund")
        .exists()
    )
    listed = api(agent_a).get(f"/api/v1/conversations/{chat}/whisper/").json()
    assert [w["text"] for w in listed["results"]] == ["Offer the refund"]
    assert api(bystander).get(f"/api/v1/conversations/{chat}/whisper/").json()["results"] == []
    company = company_a.pk
    assert [
        e["data"]["text"]
        for e in logged(company, agent_group(agent_a.pk))
        if e["type"] == "chat.whisper"
    ] == ["Offer the refund"]
    assert not [
        e for e in logged(company, agent_group(bystander.pk)) if e["type"] == "chat.whisper"
    ]
    assert not [
        e for e in logged(company, f"company.{company}.queue") if e["type"] == "chat.whisper"
    ]
    # Agents cannot whisper; the transcript export shows whispers to supervisors only.
    refused = api(agent_a).post(
        f"/api/v1/conversations/{chat}/whisper/", {"text": "x"}, format="json"
    )
    assert refused.status_code == 403
    assert "Offer the refund" in _body(
        api(supervisor_a).get(f"/api/v1/conversations/{chat}/transcript.txt")
    )
    assert "Offer the refund" not in _body(
        api(bystander).get(f"/api/v1/conversations/{chat}/transcript.txt")
    )


def test_an_empty_whisper_or_one_to_a_waiting_chat_is_refused(
    channel_a: Channel, supervisor_a: User, inbound: Callable[..., int], api: Any
) -> None:
    chat = inbound(channel_a, "ada")  # nobody available: it waits
    empty = api(supervisor_a).post(
        f"/api/v1/conversations/{chat}/whisper/", {"text": " "}, format="json"
    )
    assert empty.status_code == 400
    assert "text" in empty.json()
    waiting = api(supervisor_a).post(
        f"/api/v1/conversations/{chat}/whisper/", {"text": "hi"}, format="json"
    )
    assert waiting.status_code == 409
    assert "conversation_id" in waiting.json()


def test_take_over_hands_the_chat_to_the_supervisor_accepted(
    channel_a: Channel,
    agent_a: User,
    supervisor_a: User,
    make_user: Callable[..., User],
    company_a: Company,
    inbound: Callable[..., int],
    api: Any,
) -> None:
    chat = inbound(channel_a, "ada")
    before = holder_of(chat)
    admin = make_user(company_a, Role.COMPANY_ADMIN)

    assert (
        api(agent_a).post(f"/api/v1/conversations/{chat}/take-over/", {}, format="json").status_code
        == 403
    )
    assert (
        api(admin).post(f"/api/v1/conversations/{chat}/take-over/", {}, format="json").status_code
        == 403
    )
    answer = api(supervisor_a).post(f"/api/v1/conversations/{chat}/take-over/", {}, format="json")

    assert answer.status_code == 200, answer.content
    after = holder_of(chat)
    assert (after.agent_id, after.status) == (supervisor_a.pk, AssignmentStatus.ACCEPTED)
    before.refresh_from_db()
    assert before.status == AssignmentStatus.TRANSFERRED
    # The supervisor answers from the console like any holder.
    send_agent_reply(chat, supervisor_a, "I'll take it from here.")


def test_reassign_follows_the_transfer_rules(
    channel_a: Channel,
    agent_a: User,
    make_agent: Callable[..., User],
    company_a: Company,
    supervisor_a: User,
    inbound: Callable[..., int],
    api: Any,
) -> None:
    chat = inbound(channel_a, "ada")
    away = make_agent(company_a, username="agent-away", status=AgentStatus.AWAY)
    assignment = holder_of(chat)

    refused = api(supervisor_a).post(
        f"/api/v1/assignments/{assignment.pk}/transfer/",
        {"to_agent_id": away.pk, "reason": "rebalance"},
        format="json",
    )

    assert refused.status_code == 409
    assert refused.json()["code"] == "agent_unavailable"
    assert "to_agent_id" in refused.json()


def test_transcript_exports_in_three_formats_and_csv_cells_are_safe(
    channel_a: Channel,
    agent_a: User,
    supervisor_a: User,
    inbound: Callable[..., int],
    api: Any,
) -> None:
    chat = inbound(channel_a, "ada", '=HYPERLINK("http://evil") help')
    send_agent_reply(chat, agent_a, "@SUM(1) Sure, looking now")
    client = api(supervisor_a)

    text = client.get(f"/api/v1/conversations/{chat}/transcript.txt")
    assert text["Content-Type"].startswith("text/plain")
    assert "Customer: =HYPERLINK" in _body(text)
    document = json.loads(_body(client.get(f"/api/v1/conversations/{chat}/transcript.json")))
    assert document["conversation"]["id"] == chat
    assert [m["direction"] for m in document["messages"]] == ["inbound", "outbound"]
    rows = list(
        csv.reader(io.StringIO(_body(client.get(f"/api/v1/conversations/{chat}/transcript.csv"))))
    )
    assert rows[0][:3] == ["conversation_id", "item_id", "kind"]
    texts = [row[6] for row in rows[1:]]
    assert texts == ['\'=HYPERLINK("http://evil") help', "'@SUM(1) Sure, looking now"]
    assert client.get(f"/api/v1/conversations/{chat}/transcript.pdf").status_code == 404


def test_open_conversations_and_messages_are_in_the_csv_exports(
    channel_a: Channel,
    agent_a: User,
    supervisor_a: User,
    inbound: Callable[..., int],
    api: Any,
) -> None:
    chat = inbound(channel_a, "ada", "-1 star service")
    send_agent_reply(chat, agent_a, "Sorry to hear that")
    client = api(supervisor_a)

    conversations = list(
        csv.reader(
            io.StringIO(_body(client.get("/api/v1/conversations/export.csv?status=assigned")))
        )
    )
    assert conversations[0][0] == "conversation_id"
    assert [(r[0], r[1], r[7]) for r in conversations[1:]] == [
        (str(chat), "assigned", agent_a.username)
    ]
    messages = list(csv.reader(io.StringIO(_body(client.get("/api/v1/messages/export.csv")))))
    assert [(r[3], r[7]) for r in messages[1:]] == [
        ("inbound", "'-1 star service"),
        ("outbound", "Sorry to hear that"),
    ]
    bad = client.get("/api/v1/messages/export.csv?from=yesterday")
    assert bad.status_code == 400
    assert "from" in bad.json()
    assert api(agent_a).get("/api/v1/conversations/export.csv").status_code == 403


def _body(response: Any) -> str:
    if getattr(response, "streaming", False):
        return b"".join(
            chunk if isinstance(chunk, bytes) else chunk.encode()
            for chunk in response.streaming_content
        ).decode()
    return response.content.decode()
