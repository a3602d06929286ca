"""Fault-test fixtures: the run's database in transactional mode (the deployed processes read
what this process commits), the outbox audit removed afterwards, sessions of killed children
ended before the database is flushed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis

from tests.reliability.ledger import remove_outbox_audit
from tests.support.processes import wait_for_other_sessions_to_end


@pytest.fixture
def fault_run(transactional_db: Any, redis_client: redis.Redis) -> Iterator[None]:
    yield
    remove_outbox_audit()
    wait_for_other_sessions_to_end(timeout=30)
