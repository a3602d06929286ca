"""The analytics actors through the real Redis broker and an in-process dramatiq worker:
an upload is imported in the background, a resolved chat becomes a session."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from analytics.models import ChatSession, DataSource, SessionRollup
from routing_service.chats.actions.assignments import (
    accept_assignment,
    active_assignment_for,
    resolve_assignment,
)
from routing_service.chats.actions.inbound import receive_inbound_message
from routing_service.chats.actions.replies import send_agent_reply
from routing_service.chats.models import Channel, Provider
from routing_service.tenancy.models import AgentStatus, Company, Role, User
from tests.analytics.conftest import csv_text, sessions
from tests.support.fixtures import RunningWorker, dramatiq_worker  # noqa: F401
from tests.support.inbound import inbound_message

pytestmark = pytest.mark.urls("tests.analytics.urls")

ApiFor = Callable[[User | None], Any]


def test_an_upload_is_imported_by_the_worker(
    dramatiq_worker: RunningWorker,  # noqa: F811
    api: ApiFor,
    admin_a: User,
    company_a: Company,
) -> None:
    content = csv_text([*sessions("S1", "S2", "S1"), {"session_id": "S3", "tokens": "x"}])
    response = api(admin_a).post(
        "/api/v1/data-sources/",
        {"file": SimpleUploadedFile("s.csv", content.encode()), "name": "March"},
        format="multipart",
    )
    assert response.status_code == 201
    dramatiq_worker.join("analytics")

    report = api(admin_a).get(f"/api/v1/data-sources/{response.json()['id']}/").json()
    assert report["status"] == "done", report
    assert (report["rows_imported"], report["duplicates"], report["rows_rejected"]) == (2, 1, 1)
    assert report["errors"] == [
        {"line": 5, "column": "tokens", "reason": "not a whole number: 'x'"}
    ]
    assert report["bytes_processed"] == report["bytes_total"] == len(content)
    assert sorted(
        ChatSession.objects.for_company(company_a).values_list("session_id", flat=True)
    ) == ["S1", "S2"]
    # The worker also built the finished import's daily roll-up for the dashboards.
    assert SessionRollup.objects.filter(data_source_id=report["id"]).exists()


def test_a_resolved_chat_is_recorded_by_the_worker(
    dramatiq_worker: RunningWorker,  # noqa: F811
    make_user: Callable[..., User],
    company_a: Company,
) -> None:
    channel = Channel.objects.create(
        company=company_a, name="Web", provider=Provider.GENERIC, secret="s3cret-a"
    )
    agent = make_user(company_a, Role.AGENT, status=AgentStatus.AVAILABLE, max_chats=2)
    result = receive_inbound_message(channel, inbound_message("m1", "c1", "Where is my order?"))
    conversation_id = result.conversation_id
    assert conversation_id is not None
    offer = active_assignment_for(conversation_id, agent)
    assert offer is not None
    accept_assignment(offer.pk, agent)
    send_agent_reply(conversation_id, agent, "On its way")
    resolve_assignment(offer.pk, agent)
    dramatiq_worker.join("analytics")

    session = ChatSession.objects.get(conversation_id=conversation_id)
    assert session.session_id == f"live-{conversation_id}"
    assert session.initial_msg == "Where is my order?"
    assert session.messages_sent == 2
    assert session.data_source is not None
    assert session.data_source.kind == DataSource.Kind.LIVE
