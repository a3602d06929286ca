"""A dramatiq worker killed in the middle of a delivery: its job is delivered again within a
minute, by real `rundramatiq` processes on this run's Redis broker, with the project's own
broker settings (heartbeat timeout, maintenance chance) and the same Idempotency-Key.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dramatiq
import pytest

from routing_service.chats.models import DeliveryStatus, Message
from tests.outbound.conftest import Chat
from tests.outbound.workers import alive, children, forked_children, start_worker, stop_session
from tests.support.processes import wait_for, wait_for_other_sessions_to_end
from tests.support.provider_server import ProviderServer, RecordedRequest, Reply

pytestmark = pytest.mark.slow

REDELIVERY_BUDGET = 60.0


@pytest.fixture
def supervised_worker(tmp_path: Path, transactional_db: Any) -> Iterator[subprocess.Popen[bytes]]:
    """`deploy/worker.sh` (the Procfile's worker) in a session of its own, stopped afterwards."""
    broker = dramatiq.get_broker()
    broker.flush_all()
    process = start_worker(tmp_path / "worker.log", supervised=True)
    try:
        yield process
    finally:
        stop_session(process)
        broker.flush_all()
        wait_for_other_sessions_to_end()


def test_a_worker_killed_mid_delivery_is_replaced_and_the_reply_redelivered_within_a_minute(
    make_chat: Callable[..., Chat],
    provider_server: ProviderServer,
    supervised_worker: subprocess.Popen[bytes],
    tmp_path: Path,
) -> None:
    first_arrived = threading.Event()
    release = threading.Event()

    def slow_then_quick(request: RecordedRequest) -> Reply:
        if not first_arrived.is_set():
            first_arrived.set()
            release.wait(REDELIVERY_BUDGET + 30)  # the worker dies while we "think"
        return Reply(200, {"ok": True})

    provider_server.respond_with(slow_then_quick)
    chat = make_chat("generic", {"callback_url": f"{provider_server.url}/hooks"})
    try:
        reply = chat.reply()
        assert first_arrived.wait(60), (tmp_path / "worker.log").read_text()

        (dramatiq_main,) = children(supervised_worker.pid)
        worker_child = forked_children(dramatiq_main)[0]  # started before the metrics fork
        os.kill(worker_child, signal.SIGKILL)
        killed_at = time.monotonic()

        # dramatiq cannot replace a dead child: its parent stops, and worker.sh starts anew.
        wait_for(lambda: not alive(dramatiq_main), timeout=20)
        wait_for(lambda: [p for p in children(supervised_worker.pid) if p != dramatiq_main])

        def redelivered() -> bool:
            message = Message.objects.unscoped().get(pk=reply.pk)
            return message.delivery_status == DeliveryStatus.SENT

        wait_for(redelivered, timeout=REDELIVERY_BUDGET, interval=0.25)
        elapsed = time.monotonic() - killed_at
    finally:
        release.set()

    first, second = provider_server.requests[:2]
    message = Message.objects.unscoped().get(pk=reply.pk)
    print(f"redelivered {elapsed:.1f} s after the kill")
    assert elapsed < REDELIVERY_BUDGET
    assert first.header("idempotency-key") == second.header("idempotency-key") == f"sb-{reply.pk}"
    assert first.json()["message_id"] == second.json()["message_id"]
    assert message.delivery_attempts == 2
    assert message.delivery_error == ""
