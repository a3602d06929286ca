"""The dramatiq broker settings: Redis by default, with a short heartbeat timeout and frequent
maintenance so a dead worker's jobs come back within a minute, or RabbitMQ (`amqp://`) against
the real server on 127.0.0.1:5672 in a vhost of this run's own."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dramatiq
import pika
import pytest
from dramatiq.brokers.rabbitmq import RabbitmqBroker

from routing_service.chats.models import DeliveryStatus, Message
from routing_service.outbound.tasks import QUEUE, deliver_message
from tests.outbound.conftest import Chat
from tests.outbound.workers import kill_session, start_worker, stop_session
from tests.support.processes import ROOT, wait_for, wait_for_other_sessions_to_end
from tests.support.provider_server import ProviderServer, RecordedRequest, Reply

SHOW_BROKER = (
    "import json; from django.conf import settings; "
    "print(json.dumps({k: v for k, v in settings.DRAMATIQ_BROKER.items() if k != 'MIDDLEWARE'}))"
)


def broker_settings(**env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "routing_service.settings", **env}
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {SHOW_BROKER}"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_redis_broker_requeues_a_dead_worker_s_jobs_within_seconds() -> None:
    result = broker_settings(DRAMATIQ_BROKER_URL="", REDIS_URL="redis://127.0.0.1:6379/3")
    assert result.returncode == 0, result.stderr
    broker = json.loads(result.stdout.strip().splitlines()[-1])
    assert broker["BROKER"] == "dramatiq.brokers.redis.RedisBroker"
    options = broker["OPTIONS"]
    assert options["url"] == "redis://127.0.0.1:6379/3"
    # dramatiq's defaults (60 s, 1000 in a million) left jobs stuck for up to ~10 minutes.
    assert options["heartbeat_timeout"] == 15_000
    assert options["maintenance_chance"] == 250_000
    assert options["dead_message_ttl"] == 7 * 24 * 3600 * 1000


def test_an_amqp_url_selects_rabbitmq() -> None:
    url = "amqp://guest:guest@127.0.0.1:5672/switchboard"
    result = broker_settings(DRAMATIQ_BROKER_URL=url)
    assert result.returncode == 0, result.stderr
    broker = json.loads(result.stdout.strip().splitlines()[-1])
    assert broker == {
        "BROKER": "dramatiq.brokers.rabbitmq.RabbitmqBroker",
        "OPTIONS": {"url": url, "confirm_delivery": True},
    }


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DRAMATIQ_BROKER_URL", "kafka://127.0.0.1", "DRAMATIQ_BROKER_URL must be"),
        ("DRAMATIQ_MAINTENANCE_CHANCE", "2000000", "at most 1000000"),
        ("DRAMATIQ_HEARTBEAT_TIMEOUT_MS", "500", "DRAMATIQ_HEARTBEAT_TIMEOUT_MS must be >="),
    ],
)
def test_bad_broker_settings_stop_the_process(name: str, value: str, message: str) -> None:
    result = broker_settings(**{name: value})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and message in result.stderr


# --- RabbitMQ, for real ------------------------------------------------------------------------


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def rabbitmq_url() -> Iterator[str]:
    """A vhost of this test run's own on the local RabbitMQ (guest/guest), deleted afterwards."""
    vhost = f"sbtest{os.environ.get('SWITCHBOARD_TEST_RUN', os.getpid())}"
    url = f"amqp://guest:guest@127.0.0.1:5672/{urllib.parse.quote(vhost, safe='')}"
    try:
        pika.BlockingConnection(pika.URLParameters("amqp://guest:guest@127.0.0.1:5672/%2F")).close()
    except pika.exceptions.AMQPError as exc:
        pytest.fail(f"RabbitMQ does not answer on 127.0.0.1:5672 (scripts/test starts it): {exc}")
    rabbitmqctl("add_vhost", vhost)
    try:
        rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        yield url
    finally:
        rabbitmqctl("delete_vhost", vhost)


def test_rabbitmq_redelivers_a_killed_worker_s_delivery_with_the_same_key(
    make_chat: Callable[..., Chat],
    provider_server: ProviderServer,
    rabbitmq_url: str,
    tmp_path: Path,
    transactional_db: Any,
) -> None:
    """Kill -9 a whole worker (node lost) mid-delivery, start another: RabbitMQ requeues the
    unacknowledged job as soon as the dead worker's connection closes."""
    first_arrived = threading.Event()
    release = threading.Event()

    def slow_then_quick(request: RecordedRequest) -> Reply:
        if not first_arrived.is_set():
            first_arrived.set()
            release.wait(90)
        return Reply(200, {"ok": True})

    provider_server.respond_with(slow_then_quick)
    chat = make_chat("generic", {"callback_url": f"{provider_server.url}/hooks"})
    reply = chat.reply()  # also enqueued on this run's Redis broker, which no worker reads here
    log = tmp_path / "workers.log"
    rabbitmq = RabbitmqBroker(url=rabbitmq_url, confirm_delivery=True, middleware=[])
    first = start_worker(log, supervised=False, DRAMATIQ_BROKER_URL=rabbitmq_url)
    second = None
    try:
        rabbitmq.declare_queue(QUEUE)
        rabbitmq.enqueue(deliver_message.message(reply.pk))
        assert first_arrived.wait(60), log.read_text()

        kill_session(first, signal.SIGKILL)
        killed_at = time.monotonic()
        second = start_worker(log, supervised=False, DRAMATIQ_BROKER_URL=rabbitmq_url)

        def sent() -> bool:
            message = Message.objects.unscoped().get(pk=reply.pk)
            return message.delivery_status == DeliveryStatus.SENT

        wait_for(sent, timeout=60, interval=0.25)
        elapsed = time.monotonic() - killed_at
    finally:
        release.set()
        rabbitmq.close()
        for process in (first, second):
            if process is not None:
                stop_session(process)
        dramatiq.get_broker().flush_all()
        wait_for_other_sessions_to_end()

    print(f"redelivered through RabbitMQ {elapsed:.1f} s after the kill")
    assert elapsed < 60
    one, two = provider_server.requests[:2]
    assert one.header("idempotency-key") == two.header("idempotency-key") == f"sb-{reply.pk}"
    assert Message.objects.unscoped().get(pk=reply.pk).delivery_attempts == 2
