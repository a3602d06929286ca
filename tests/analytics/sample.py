"""Sample data for the analytics pages, made the way the product makes it.

* Sessions: a CSV uploaded through ``analytics.actions.create_data_source`` and imported by
  ``analytics.importer.run_import`` (what the worker runs).
* Chats: customer messages through ``receive_inbound_message``, then picked, answered and
  resolved through the assignment actions. Due times are set explicitly afterwards so that
  SLA outcomes do not depend on the clock of the test run.
* Daily roll-ups for past days are written as the roll-up job writes them (its table rows).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from analytics import actions, importer
from analytics.models import ChatResponseTracking, DataSource
from routing_service.chats import actions as chat_actions
from routing_service.chats.models import Channel, ChatAssignment, Conversation, Provider
from routing_service.tenancy.actions import create_user
from routing_service.tenancy.models import Company, Role, User
from tests.analytics.conftest import csv_text
from tests.support.inbound import inbound_message


def day(days_ago: int, hour: int = 10) -> str:
    moment = timezone.now().astimezone(dt.UTC).replace(
        hour=hour, minute=0, second=0, microsecond=0
    ) - dt.timedelta(days=days_ago)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def session_rows(prefix: str) -> list[dict[str, str]]:
    """Six varied sessions of the last few days (one mentions a refund and =formula text)."""
    return [
        {
            "session_id": f"{prefix}-1",
            "start_time": day(1),
            "end_time": day(1, 11),
            "country": "DE",
            "language": "de",
            "sentiment": "Positive",
            "escalated": "no",
            "category": "billing",
            "initial_msg": "Where is my refund?",
            "full_transcript": "Client: Where is my refund?\nAgent: It was sent yesterday.",
            "user_rating": "5",
            "avg_response_time": "4",
            "tokens": "1000",
            "tokens_eur": "0.0200",
        },
        {
            "session_id": f"{prefix}-2",
            "start_time": day(1, 12),
            "end_time": day(1, 13),
            "country": "FR",
            "language": "fr",
            "sentiment": "Negative",
            "escalated": "yes",
            "forwarded_hr": "yes",
            "category": "complaint",
            "initial_msg": '=HYPERLINK("http://evil.example")',
            "full_transcript": "Client: I am very unhappy\nAgent: Sorry to hear that.",
            "user_rating": "1",
            "avg_response_time": "30",
            "tokens": "3000",
            "tokens_eur": "0.0600",
        },
        {
            "session_id": f"{prefix}-3",
            "start_time": day(2),
            "end_time": day(2, 11),
            "country": "DE",
            "language": "en",
            "sentiment": "Neutral",
            "category": "orders",
            "initial_msg": "Order status please",
            "full_transcript": "Client: Order status please\nAgent: Shipped today.",
            "user_rating": "",
            "avg_response_time": "",
        },
        {
            "session_id": f"{prefix}-4",
            "start_time": day(3),
            "end_time": day(3, 11),
            "country": "US",
            "language": "en",
            "sentiment": "Positive",
            "category": "billing",
            "initial_msg": "Invoice question",
            "full_transcript": "Client: I need an invoice copy\nAgent: Sent by email.",
            "user_rating": "4",
        },
        {
            "session_id": f"{prefix}-5",
            "start_time": day(5),
            "end_time": day(5, 11),
            "country": "DE",
            "language": "de",
            "sentiment": "Negative",
            "escalated": "yes",
            "category": "technical",
            "initial_msg": "Password reset fails",
            "full_transcript": "Client: Password reset fails\nAgent: Try again now.",
            "user_rating": "2",
        },
        {
            "session_id": f"{prefix}-6",
            "start_time": day(60),
            "end_time": day(60, 11),
            "country": "GB",
            "language": "en",
            "sentiment": "Positive",
            "category": "billing",
            "initial_msg": "Old refund question",
            "full_transcript": "Client: an old refund question\nAgent: Done.",
            "user_rating": "5",
        },
    ]


def import_sessions(
    company: Company, rows: list[dict[str, str]], name: str = "sessions.csv", **kwargs: Any
) -> DataSource:
    """Upload ``rows`` as a CSV through the upload action and import it as the worker would."""
    source = actions.create_data_source(
        company=company,
        upload=SimpleUploadedFile(name, csv_text(rows).encode(), content_type="text/csv"),
        **kwargs,
    )
    importer.run_import(source.pk)
    source.refresh_from_db()
    return source


@dataclass
class Chats:
    channel: Channel
    agents: list[User]
    met: Conversation
    missed: Conversation
    overdue: Conversation
    waiting_urgent: Conversation
    waiting_low: Conversation
    all: list[Conversation] = field(default_factory=list)


def _receive(channel: Channel, key: str, at: dt.datetime, **kwargs: Any) -> Conversation:
    result = chat_actions.receive_inbound_message(
        channel, inbound_message(f"{key}-m1", key, f"help with {key}", **kwargs), received_at=at
    )
    return Conversation.objects.unscoped().get(pk=result.conversation_id)


def _set_dues(conversation: Conversation, first: dt.datetime, resolution: dt.datetime) -> None:
    Conversation.objects.unscoped().filter(pk=conversation.pk).update(
        first_response_due_at=first, resolution_due_at=resolution
    )


def _handle(
    conversation: Conversation,
    agent: User,
    picked: dt.datetime,
    replied: dt.datetime | None,
    resolved: dt.datetime | None,
) -> ChatAssignment:
    assignment = chat_actions.pick_conversation(conversation.pk, agent, now=picked)
    if replied:
        chat_actions.send_agent_reply(conversation.pk, agent, "Hello, on it.", now=replied)
    if resolved:
        chat_actions.resolve_assignment(assignment.pk, agent, now=resolved)
    return assignment


def make_chats(company: Company, tag: str) -> Chats:
    """Five chats: resolved within its SLA, resolved late, open and overdue, two waiting."""
    now = timezone.now()
    channel = Channel.objects.create(
        company=company, name=f"Web {tag}", provider=Provider.GENERIC, secret="s" * 24
    )
    agents = [
        create_user(
            username=f"{tag}-agent{i}",
            password="pw-123456",
            role=Role.AGENT,
            company=company,
            first_name=f"Agent{i}",
            last_name=tag.upper(),
        )
        for i in (1, 2)
    ]
    minute = dt.timedelta(minutes=1)

    met = _receive(channel, f"{tag}-met", now - 180 * minute)
    _set_dues(met, now - 170 * minute, now - 60 * minute)
    _handle(met, agents[0], now - 179 * minute, now - 178 * minute, now - 150 * minute)

    missed = _receive(channel, f"{tag}-missed", now - 300 * minute)
    _set_dues(missed, now - 295 * minute, now - 240 * minute)
    _handle(missed, agents[1], now - 280 * minute, now - 275 * minute, now - 180 * minute)

    overdue = _receive(channel, f"{tag}-overdue", now - 120 * minute)
    _set_dues(overdue, now - 115 * minute, now + 60 * minute)
    _handle(overdue, agents[0], now - 90 * minute, None, None)

    urgent = _receive(channel, f"{tag}-urgent", now - 10 * minute, priority="urgent")
    low = _receive(channel, f"{tag}-low", now - minute, priority="low")
    chats = [met, missed, overdue, urgent, low]
    for chat in chats:
        chat.refresh_from_db()
    return Chats(channel, agents, met, missed, overdue, urgent, low, chats)


def write_rollups(company: Company, agents: list[User], days_ago: range) -> None:
    """Past days' rows as ``analytics.metrics`` writes them: a company row and agent rows."""
    today = timezone.now().astimezone(dt.UTC).date()
    for n in days_ago:
        date = today - dt.timedelta(days=n)
        ChatResponseTracking.objects.create(
            company=company,
            date=date,
            chats=10,
            resolved=9,
            abandoned=1,
            escalations=1,
            first_response_median_seconds=60.0,
            first_response_p90_seconds=240.0,
            resolution_median_seconds=1800.0,
            sla_met=8,
            sla_missed=2,
            sla_compliance_rate=0.8,
        )
        for agent in agents:
            ChatResponseTracking.objects.create(
                company=company,
                date=date,
                agent=agent,
                chats=5,
                resolved=4,
                escalations=0,
                first_response_median_seconds=50.0,
                resolution_median_seconds=1500.0,
                sla_met=4,
                sla_missed=1,
                sla_compliance_rate=0.8,
            )
