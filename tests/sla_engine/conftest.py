"""SLA fixtures: a company with a web channel, policies, staff, and chats made through the real
inbound action at chosen instants."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis

from events.log import log_key
from events.schema import supervisors_group
from routing_service.chats.actions import receive_inbound_message
from routing_service.chats.models import Channel, Conversation, Provider, RoutingPolicy
from routing_service.tenancy.models import AgentStatus, Company, Role, User
from sla_engine.models import ChatSLA
from tests.support.inbound import inbound_message

LONDON = ZoneInfo("Europe/London")
ALWAYS = {
    "work_start": dt.time(0),
    "work_end": dt.time(0),
    "weekdays": [0, 1, 2, 3, 4, 5, 6],
    "include_weekends": True,
}


def london(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=LONDON)  # type: ignore[misc]


@pytest.fixture
def channel(company_a: Company) -> Channel:
    RoutingPolicy.objects.unscoped().filter(company=company_a).update(offer_timeout_seconds=3600)
    return Channel.objects.create(
        company=company_a, name="Web", provider=Provider.GENERIC, secret="s3cret-a"
    )


@pytest.fixture
def make_policy(company_a: Company) -> Callable[..., ChatSLA]:
    """An SLA policy of company A; `always=True` is a 24/7 calendar (targets on the wall clock)."""

    def make(priority: str = "medium", *, always: bool = False, **fields: Any) -> ChatSLA:
        fields.setdefault("first_response_minutes", 30)
        fields.setdefault("resolution_minutes", 120)
        fields.setdefault("timezone", "Europe/London")
        fields.setdefault("escalation_ladder", [])
        if always:
            fields = {**ALWAYS, **fields}
        return ChatSLA.objects.create(company=company_a, priority=priority, **fields)

    return make


@pytest.fixture
def make_staff(make_user: Callable[..., User], company_a: Company) -> Callable[..., User]:
    def make(role: str = Role.AGENT, **kwargs: Any) -> User:
        kwargs.setdefault("status", AgentStatus.AVAILABLE)
        kwargs.setdefault("max_chats", 5)
        return make_user(company_a, role, **kwargs)

    return make


@pytest.fixture
def receive(channel: Channel) -> Callable[..., Conversation]:
    """A customer message through `receive_inbound_message`, received at `at`."""
    counter = {"n": 0}

    def send(
        client: str = "c-1", text: str = "Hello", *, at: dt.datetime, **kwargs: Any
    ) -> Conversation:
        counter["n"] += 1
        message = inbound_message(f"m-{counter['n']}", client, text, **kwargs)
        result = receive_inbound_message(channel, message, received_at=at)
        assert result.conversation_id is not None
        return Conversation.objects.unscoped().get(pk=result.conversation_id)

    return send


def logged_events(
    client: redis.Redis, company_id: int, group: str | None = None
) -> list[dict[str, Any]]:
    """The durable event log of one recipient group (default: the company's supervisors)."""
    key = log_key(company_id, group or supervisors_group(company_id))
    return [json.loads(fields[b"e"]) for _, fields in client.xrange(key)]


def sla_events(client: redis.Redis, company_id: int) -> list[dict[str, Any]]:
    return [e for e in logged_events(client, company_id) if e["type"].startswith("sla.")]
