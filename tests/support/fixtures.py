"""Reusable pytest fixtures: a local provider server and an in-process dramatiq worker.

Import the ones a test module (or a package's conftest.py) needs:

    from tests.support.fixtures import dramatiq_worker, provider_server  # noqa: F401
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import dramatiq
import pytest

from tests.support.provider_server import ProviderServer


@pytest.fixture
def provider_server() -> Iterator[ProviderServer]:
    """A fresh `ProviderServer` on 127.0.0.1 (ephemeral port), stopped after the test."""
    with ProviderServer() as server:
        yield server


@dataclass
class RunningWorker:
    broker: dramatiq.Broker
    worker: dramatiq.Worker

    def join(self, queue_name: str, timeout: float = 30.0) -> None:
        """Wait until `queue_name` (delayed retries included) is empty and the work is done."""
        self.broker.join(queue_name, timeout=int(timeout * 1000))
        self.worker.join()


@pytest.fixture
def dramatiq_worker(transactional_db: Any, redis_client: Any) -> Iterator[RunningWorker]:
    """A real dramatiq worker (one thread) on the project's Redis broker, for this test only.

    The worker reads through its own database connection, so the test's data must be
    committed: this fixture brings `transactional_db`. The test Redis database is flushed
    first (`redis_client`), so no task of an earlier test runs here.
    """
    broker = dramatiq.get_broker()
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=50)
    worker.start()
    try:
        yield RunningWorker(broker, worker)
    finally:
        worker.stop()
        # Worker.start() adds a middleware (it starts consumers for queues declared later)
        # that stop() leaves behind; drop it so a stopped worker is not woken by later tests.
        broker.middleware[:] = [
            m for m in broker.middleware if getattr(m, "worker", None) is not worker
        ]
        broker.flush_all()
