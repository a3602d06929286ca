"""Shared fixtures: companies, people and clients made through the product's own actions,
against real PostgreSQL and a Redis database reserved for tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from django.conf import settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from routing_service.tenancy import actions as tenancy_actions
from routing_service.tenancy.models import Company, Role, User


def delete_run_keys(client: redis.Redis) -> None:
    """Delete this run's keys (they all carry its prefix: see tests/settings.py)."""
    keys = list(client.scan_iter(match=f"{settings.REDIS_KEY_PREFIX}*", count=1000))
    for start in range(0, len(keys), 1000):
        client.delete(*keys[start : start + 1000])


@pytest.fixture(scope="session", autouse=True)
def _clean_test_redis() -> Iterator[None]:
    client = redis.Redis.from_url(settings.REDIS_URL)
    delete_run_keys(client)
    yield
    delete_run_keys(client)
    client.close()


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    """A Redis client with none of this run's keys left by an earlier test."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    delete_run_keys(client)
    yield client
    client.close()


@pytest.fixture
def company_a(db: Any) -> Company:
    return tenancy_actions.create_company("Acme Support", "acme")


@pytest.fixture
def company_b(db: Any) -> Company:
    return tenancy_actions.create_company("Globex Care", "globex")


@pytest.fixture
def make_user(db: Any) -> Callable[..., User]:
    counter = {"n": 0}

    def make(company: Company | None, role: str = Role.AGENT, **kwargs: Any) -> User:
        counter["n"] += 1
        kwargs.setdefault("username", f"{role}{counter['n']}-{company.slug if company else 'root'}")
        kwargs.setdefault("password", "pw-123456")
        return tenancy_actions.create_user(role=role, company=company, **kwargs)

    return make


@pytest.fixture
def superadmin(make_user: Callable[..., User]) -> User:
    return make_user(None, Role.SUPERADMIN, username="root")


@pytest.fixture
def admin_a(make_user: Callable[..., User], company_a: Company) -> User:
    return make_user(company_a, Role.COMPANY_ADMIN, username="admin-a")


@pytest.fixture
def admin_b(make_user: Callable[..., User], company_b: Company) -> User:
    return make_user(company_b, Role.COMPANY_ADMIN, username="admin-b")


@pytest.fixture
def api() -> Callable[[User | None], APIClient]:
    """An API client authenticated with the user's token (None: anonymous)."""

    def client_for(user: User | None) -> APIClient:
        client = APIClient()
        if user is not None:
            token, _ = Token.objects.get_or_create(user=user)
            client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return client_for
