"""Fixtures for the provisioning API: one person per role in company A, and objects of both
companies made through the same actions the API calls."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from routing_service.chats import provisioning
from routing_service.chats.models import Channel
from routing_service.tenancy.models import Company, Role, User
from sla_engine.models import ChatSLA

ApiFor = Callable[[User | None], APIClient]

WHATSAPP_TOKEN = "EAAGm0PX4ZCpsBAKZAZD-whatsapp-access-token-9f3k"
TELEGRAM_BOT_TOKEN = "123456789:AAF-telegram-bot-token-x7Qz"
GENERIC_SECRET = "generic-signing-secret-0123456789"


@pytest.fixture
def supervisor_a(make_user: Callable[..., User], company_a: Company) -> User:
    return make_user(company_a, Role.SUPERVISOR, username="supervisor-a")


@pytest.fixture
def agent_a(make_user: Callable[..., User], company_a: Company) -> User:
    return make_user(company_a, Role.AGENT, username="agent-a", skills=["Billing"])


@pytest.fixture
def viewer_a(make_user: Callable[..., User], company_a: Company) -> User:
    return make_user(company_a, Role.VIEWER, username="viewer-a")


@pytest.fixture
def agent_b(make_user: Callable[..., User], company_b: Company) -> User:
    return make_user(company_b, Role.AGENT, username="agent-b")


def _whatsapp_channel(company: Company, name: str) -> Channel:
    return provisioning.create_channel(
        company=company,
        name=name,
        provider="whatsapp",
        secret="whatsapp-app-secret-abcdef123456",
        config={
            "phone_number_id": "1234567890",
            "access_token": WHATSAPP_TOKEN,
            "verify_token": "verify-me-please-123",
        },
    )


@pytest.fixture
def channel_a(company_a: Company) -> Channel:
    return _whatsapp_channel(company_a, "Acme WhatsApp")


@pytest.fixture
def channel_b(company_b: Company) -> Channel:
    return _whatsapp_channel(company_b, "Globex WhatsApp")


def _sla(company: Company, priority: str = "high") -> ChatSLA:
    return ChatSLA.objects.for_company(company).create(
        company=company, priority=priority, first_response_minutes=5, resolution_minutes=60
    )


@pytest.fixture
def sla_a(company_a: Company) -> ChatSLA:
    return _sla(company_a)


@pytest.fixture
def sla_b(company_b: Company) -> ChatSLA:
    return _sla(company_b)
