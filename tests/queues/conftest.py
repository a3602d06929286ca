"""Fixtures for queue tests: agents in companies made through the product's actions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from routing_service.chats.models import Channel, Provider
from routing_service.tenancy.models import Company, User


@pytest.fixture
def channel_a(company_a: Company) -> Channel:
    return Channel.objects.create(
        company=company_a, name="Web", provider=Provider.GENERIC, secret="s3cret"
    )


@pytest.fixture
def agent_factory(make_user: Callable[..., User]) -> Callable[..., User]:
    def make(company: Company, **kwargs: Any) -> User:
        kwargs.setdefault("status", "available")
        return make_user(company, "agent", **kwargs)

    return make
