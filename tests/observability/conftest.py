"""Fixtures for the observability tests: a private inbound stream name per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis


@pytest.fixture
def private_stream(settings: Any) -> Iterator[redis.Redis]:
    """Inbound and dead-letter streams of this test's own on the shared test Redis."""
    name = f"{settings.REDIS_KEY_PREFIX}:obstest:{uuid.uuid4().hex[:12]}"
    settings.INBOUND_STREAM = name
    settings.DEAD_LETTER_STREAM = f"{name}:dead"
    client = redis.Redis.from_url(settings.STREAM_REDIS_URL)
    yield client
    keys = list(client.scan_iter(match=f"{name}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()
