from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from routing_service.chats.models import Channel, Provider
from routing_service.tenancy.models import AgentStatus, Company, Role, User


@pytest.fixture
def channel_a(company_a: Company) -> Channel:
    return Channel.objects.create(
        company=company_a, name="Web", provider=Provider.GENERIC, secret="s3cret-a"
    )


@pytest.fixture
def channel_b(company_b: Company) -> Channel:
    return Channel.objects.create(
        company=company_b, name="Web B", provider=Provider.GENERIC, secret="s3cret-b"
    )


@pytest.fixture
def make_agent(make_user: Callable[..., User]) -> Callable[..., User]:
    def make(company: Company, **kwargs: Any) -> User:
        kwargs.setdefault("status", AgentStatus.AVAILABLE)
        kwargs.setdefault("max_chats", 2)
        return make_user(company, Role.AGENT, **kwargs)

    return make
