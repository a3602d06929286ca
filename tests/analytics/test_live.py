"""Resolved live conversations become ChatSessions: built from the real chat actions, with the
figures the analytics pages show; and the pure rules behind them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from analytics import live
from analytics.live import LiveMessage, average_response_seconds, transcript
from analytics.models import ChatSession, DataSource
from analytics.tasks import record_live_session
from routing_service.chats.actions.assignments import (
    accept_assignment,
    active_assignment_for,
    escalate_assignment,
    resolve_assignment,
)
from routing_service.chats.actions.inbound import receive_inbound_message
from routing_service.chats.actions.replies import send_agent_reply
from routing_service.chats.models import Channel, Client, Conversation, Provider
from routing_service.ingest.adapters.base import InboundMessage
from routing_service.tenancy.models import AgentStatus, Company, Role, User

T0 = dt.datetime(2024, 5, 6, 9, 0, 0, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def message(inbound: bool, seconds: float, text: str = "x", speaker: str = "Ada") -> LiveMessage:
    return LiveMessage(inbound, at(seconds), text, "Customer" if inbound else speaker)


# --- pure rules ---------------------------------------------------------------------------


def test_each_customer_message_waits_for_the_next_agent_message() -> None:
    messages = [
        message(True, 0),
        message(True, 10),
        message(True, 20),
        message(False, 30),  # answers all three: 30, 20, 10
        message(False, 40),  # nothing left to answer
        message(True, 100),
        message(False, 160),  # 60
        message(True, 200),  # never answered: not counted
    ]
    assert average_response_seconds(messages) == pytest.approx((30 + 20 + 10 + 60) / 4)


def test_no_answer_means_no_average() -> None:
    assert average_response_seconds([]) is None
    assert average_response_seconds([message(True, 0), message(True, 5)]) is None
    assert average_response_seconds([message(False, 0), message(True, 5)]) is None


def test_transcript_lines_name_the_speaker_with_the_time() -> None:
    text = transcript(
        [
            message(True, 0, "Hello,\nI need help"),
            message(False, 65, "Sure!", speaker="Ada Lovelace"),
        ]
    )
    assert text == "[09:00:00] Customer: Hello,\n    I need help\n[09:01:05] Ada Lovelace: Sure!"


def test_transcript_is_capped_and_marked() -> None:
    messages = [message(True, n, "word " * 20) for n in range(100)]
    text = transcript(messages, limit=500)
    assert text.endswith("\n[… transcript truncated]")
    assert len(text) <= 500 + len("\n[… transcript truncated]")
    assert text.startswith("[09:00:00] Customer: word")


# --- from the real actions ----------------------------------------------------------------


@pytest.fixture
def channel_a(company_a: Company) -> Channel:
    return Channel.objects.create(
        company=company_a, name="Web", provider=Provider.GENERIC, secret="s3cret-a"
    )


@pytest.fixture
def ada(make_user: Callable[..., User], company_a: Company) -> User:
    return make_user(
        company_a,
        Role.AGENT,
        username="ada",
        first_name="Ada",
        last_name="Lovelace",
        status=AgentStatus.AVAILABLE,
        max_chats=3,
    )


@pytest.fixture
def grace(make_user: Callable[..., User], company_a: Company) -> User:
    return make_user(
        company_a,
        Role.SUPERVISOR,
        username="grace",
        first_name="Grace",
        last_name="Hopper",
        status=AgentStatus.AVAILABLE,
    )


def customer_says(channel: Channel, n: int, seconds: float, text: str, **meta: Any) -> int:
    inbound = InboundMessage(
        provider="generic",
        provider_message_id=f"m{n}",
        client_external_id="client-1",
        client_name="Customer One",
        text=text,
        sent_at=at(seconds),
        language="de",
        category="Billing",
        metadata=meta,
    )
    result = receive_inbound_message(channel, inbound, received_at=at(seconds))
    assert result.conversation_id is not None
    return result.conversation_id


@pytest.mark.django_db
def test_a_resolved_conversation_becomes_a_session_with_its_figures(
    channel_a: Channel,
    ada: User,
    grace: User,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    conversation_id = customer_says(
        channel_a, 1, 0, "My invoice is wrong", country="DE", ip="203.0.113.7"
    )
    customer_says(channel_a, 2, 10, "It says 300 EUR")
    offer = active_assignment_for(conversation_id, ada)
    assert offer is not None and offer.agent_id == ada.pk
    accept_assignment(offer.pk, ada, now=at(15))
    send_agent_reply(conversation_id, ada, "Let me check", now=at(40))  # waits 40 and 30
    customer_says(channel_a, 3, 100, "Any news?")
    escalate_assignment(offer.pk, ada, reason="needs a refund", now=at(110))
    send_agent_reply(conversation_id, grace, "Refund issued", now=at(160))  # waits 60
    Conversation.objects.filter(pk=conversation_id).update(csat_rating=4)
    held = active_assignment_for(conversation_id, grace)
    assert held is not None

    sent: list[int] = []
    monkeypatch.setattr(record_live_session, "send", sent.append)
    with django_capture_on_commit_callbacks(execute=True):
        resolve_assignment(held.pk, grace, now=at(200))
    assert sent == [conversation_id]  # the hook enqueued the actor after commit

    record_live_session.fn(conversation_id)
    session = ChatSession.objects.get(conversation_id=conversation_id)
    feed = DataSource.objects.get(company=channel_a.company, kind=DataSource.Kind.LIVE)
    assert (feed.name, feed.status, feed.rows_imported) == ("Live conversations", "done", 1)
    assert session.data_source_id == feed.pk
    assert session.company_id == channel_a.company_id
    assert session.session_id == f"live-{conversation_id}"
    assert (session.start_time, session.end_time) == (at(0), at(200))
    assert session.messages_sent == 5
    assert session.avg_response_time == pytest.approx((40 + 30 + 60) / 3)
    assert session.escalated is True
    assert session.forwarded_hr is False
    assert (session.category, session.language) == ("billing", "de")
    assert session.initial_msg == "My invoice is wrong"
    assert session.user_rating == 4
    assert (session.country, session.ip_address) == ("DE", "203.0.113.7")
    assert session.full_transcript == "\n".join(
        [
            "[09:00:00] Customer: My invoice is wrong",
            "[09:00:10] Customer: It says 300 EUR",
            "[09:00:40] Ada Lovelace: Let me check",
            "[09:01:40] Customer: Any news?",
            "[09:02:40] Grace Hopper: Refund issued",
        ]
    )


@pytest.mark.django_db
def test_recording_twice_refreshes_the_same_session(channel_a: Channel, ada: User) -> None:
    conversation_id = customer_says(channel_a, 1, 0, "Hello")
    offer = active_assignment_for(conversation_id, ada)
    assert offer is not None
    accept_assignment(offer.pk, ada, now=at(5))
    resolve_assignment(offer.pk, ada, now=at(30))
    Client.objects.update(metadata={"country": "AT", "ip_address": "not-an-ip"})

    first = live.session_from_conversation(conversation_id)
    second = live.session_from_conversation(conversation_id)
    assert first is not None and second is not None
    assert first.pk == second.pk
    assert ChatSession.objects.count() == 1
    assert DataSource.objects.get(kind=DataSource.Kind.LIVE).rows_imported == 1
    assert (second.country, second.ip_address) == ("AT", None)  # client metadata first
    assert (second.messages_sent, second.avg_response_time, second.escalated) == (1, None, False)


@pytest.mark.django_db
def test_open_or_missing_conversations_are_not_recorded(channel_a: Channel, ada: User) -> None:
    conversation_id = customer_says(channel_a, 1, 0, "Hello")
    assert live.session_from_conversation(conversation_id) is None
    assert live.session_from_conversation(conversation_id + 999) is None
    assert ChatSession.objects.count() == 0
    assert not DataSource.objects.filter(kind=DataSource.Kind.LIVE).exists()


@pytest.mark.django_db
def test_each_company_gets_its_own_live_feed(company_a: Company, company_b: Company) -> None:
    feed_a = live.live_feed(company_a.pk)
    assert live.live_feed(company_a.pk) == feed_a
    feed_b = live.live_feed(company_b.pk)
    assert feed_b != feed_a
    assert feed_b.company_id == company_b.pk
