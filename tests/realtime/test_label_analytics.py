"""Labels in analytics and exports (issue 13 item 5): the chat dashboard's per-label table
(chats, SLA met, CSAT), a `labels` column and `?label=` filter in the conversation and session
CSV exports, and the supervisors' list filtered by label — each company seeing only its own."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from analytics import chat_dashboard
from analytics.live import session_from_conversation
from realtime import monitoring
from routing_service.chats.actions import labels as label_actions
from routing_service.chats.models import Channel, Conversation
from routing_service.tenancy.models import User

pytestmark = pytest.mark.django_db(transaction=True)


def _body(response: Any) -> str:
    if getattr(response, "streaming", False):
        return b"".join(
            chunk if isinstance(chunk, bytes) else chunk.encode()
            for chunk in response.streaming_content
        ).decode()
    return response.content.decode()


def _csv(response: Any) -> list[dict[str, str]]:
    assert response.status_code == 200, _body(response)[:300]
    return list(csv.DictReader(io.StringIO(_body(response))))


@pytest.fixture
def labelled(
    channel_a: Channel,
    channel_b: Channel,
    supervisor_a: User,
    make_agent: Callable[..., User],
    inbound: Callable[..., int],
) -> dict[str, Any]:
    """Company A: chat 1 "billing" + "refund" (SLA met, rated 5), chat 2 "billing" (missed,
    rated 2), chat 3 unlabelled. Company B: a "billing" label of its own on its chat."""
    a = channel_a.company_id
    b = channel_b.company_id
    for name in ("billing", "refund"):
        label_actions.create_label(a, name, "#1a7f37")
    label_actions.create_label(b, "billing", "#c0392b")
    one = inbound(channel_a, "c-1", "invoice")
    two = inbound(channel_a, "c-2", "invoice again")
    three = inbound(channel_a, "c-3", "hello")
    theirs = inbound(channel_b, "c-9", "theirs")
    label_actions.set_conversation_labels(one, supervisor_a, ["billing", "refund"])
    label_actions.set_conversation_labels(two, supervisor_a, ["billing"])
    boss_b = make_agent(channel_b.company, role="supervisor", username="boss-b")
    label_actions.set_conversation_labels(theirs, boss_b, ["billing"])
    now = timezone.now()
    Conversation.objects.unscoped().filter(pk=one).update(
        first_response_met=True,
        resolution_met=True,
        csat_rating=5,
        status="resolved",
        resolved_at=now,
    )
    Conversation.objects.unscoped().filter(pk=two).update(first_response_met=False, csat_rating=2)
    Conversation.objects.unscoped().filter(pk=theirs).update(csat_rating=1)
    return {"one": one, "two": two, "three": three, "theirs": theirs, "a": a, "b": b}


def test_the_dashboard_breaks_chats_down_by_label(labelled: dict[str, Any]) -> None:
    window = chat_dashboard.Window.last_days(2)
    table = {row["name"]: row for row in chat_dashboard.label_table(labelled["a"], window)}

    assert set(table) == {"billing", "refund"}
    billing = table["billing"]
    assert (billing["chats"], billing["sla_met"], billing["sla_missed"]) == (2, 1, 1)
    assert billing["compliance"] == 0.5
    assert (billing["csat_responses"], billing["csat_average"]) == (2, 3.5)
    assert billing["csat_satisfied_rate"] == 0.5
    refund = table["refund"]
    assert (refund["chats"], refund["resolved"], refund["csat_average"]) == (1, 1, 5.0)
    # Company B's "billing" (rated 1) is its own.
    theirs = chat_dashboard.label_table(labelled["b"], window)
    assert [(r["name"], r["chats"], r["csat_average"]) for r in theirs] == [("billing", 1, 1.0)]


def test_the_dashboard_page_shows_the_label_table(
    labelled: dict[str, Any], supervisor_a: User, api: Any
) -> None:
    from django.test import Client

    client = Client()
    client.force_login(supervisor_a)
    html = client.get("/chat/dashboard/").content.decode()
    assert 'id="label-table"' in html
    assert 'data-label="billing"' in html and 'data-label="refund"' in html


def test_the_conversation_export_has_labels_and_filters_by_label(
    labelled: dict[str, Any], supervisor_a: User, api: Any
) -> None:
    client = api(supervisor_a)
    rows = {
        int(r["conversation_id"]): r for r in _csv(client.get("/api/v1/conversations/export.csv"))
    }
    assert rows[labelled["one"]]["labels"] == "billing; refund"
    assert rows[labelled["three"]]["labels"] == ""
    assert labelled["theirs"] not in rows

    billing = _csv(client.get("/api/v1/conversations/export.csv?label=billing"))
    assert sorted(int(r["conversation_id"]) for r in billing) == sorted(
        [labelled["one"], labelled["two"]]
    )
    assert _csv(client.get("/api/v1/conversations/export.csv?label=nope")) == []
    too_long = client.get(f"/api/v1/conversations/export.csv?label={'x' * 65}")
    assert too_long.status_code == 400 and "label" in too_long.json()


def test_the_session_export_has_labels_and_filters_by_label(
    labelled: dict[str, Any], supervisor_a: User, api: Any
) -> None:
    assert session_from_conversation(labelled["one"]) is not None  # resolved: a live session
    client = api(supervisor_a)
    sessions = _csv(client.get("/api/v1/sessions/export.csv"))
    assert [r["labels"] for r in sessions] == ["billing; refund"]
    assert len(_csv(client.get("/api/v1/sessions/export.csv?label=refund"))) == 1
    assert _csv(client.get("/api/v1/sessions/export.csv?label=nope")) == []


def test_the_supervisors_list_filters_by_label(labelled: dict[str, Any]) -> None:
    now = timezone.now() + dt.timedelta(seconds=1)
    filters = monitoring.Filters(label="BILLING")
    found = set(monitoring.filtered(labelled["a"], filters, now=now).values_list("pk", flat=True))
    assert found == {labelled["one"], labelled["two"]}
    theirs = set(monitoring.filtered(labelled["b"], filters, now=now).values_list("pk", flat=True))
    assert theirs == {labelled["theirs"]}
