"""Login-throttle tests start with no counters (they live under this run's Redis prefix)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import redis
from django.conf import LazySettings

from routing_service.tenancy.models import Company, Role, User

PASSWORD = "pw-123456"


@pytest.fixture(autouse=True)
def _fresh_redis(redis_client: redis.Redis) -> Iterator[None]:
    yield


@pytest.fixture
def limits(settings: LazySettings) -> LazySettings:
    """Small limits: 3 failures per account and address, 6 per address, locked 2 minutes."""
    settings.LOGIN_FAILURES_PER_ACCOUNT = 3
    settings.LOGIN_FAILURES_PER_ADDRESS = 6
    settings.LOGIN_LOCKOUT_SECONDS = 120
    return settings


@pytest.fixture
def alice(make_user: Callable[..., User], company_a: Company) -> User:
    return make_user(company_a, Role.AGENT, username="alice", password=PASSWORD)


@pytest.fixture
def bob(make_user: Callable[..., User], company_a: Company) -> User:
    return make_user(company_a, Role.AGENT, username="bob", password=PASSWORD)


@pytest.fixture
def boss(make_user: Callable[..., User], company_a: Company) -> User:
    """A company admin: staff, so the admin site lets them in."""
    return make_user(company_a, Role.COMPANY_ADMIN, username="boss", password=PASSWORD)
