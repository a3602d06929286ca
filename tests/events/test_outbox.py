"""The transactional outbox: every committed event reaches the log exactly once, in commit order
per company, whatever dies between the commit and the publish.

Against real PostgreSQL and Redis; the crashes are real processes that end with `os._exit` at
the named point (no cleanup, no rollback hooks: what a kill -9 leaves).
"""

from __future__ import annotations

import contextlib
import io
import json
import threading
import time
from typing import Any

import pytest
import redis
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from redis.exceptions import RedisError

from events import outbox
from events.log import log_key, seq_key
from events.models import OutboxEvent
from events.outbox import publish_on_commit
from events.relay import relay_once
from events.schema import Event, EventType, make_event, queue_group
from routing_service.tenancy.models import Company
from tests.events.conftest import PrivateRedis
from tests.support.crashes import AFTER_COMMIT, AFTER_REDIS, crashing_writer

pytestmark = pytest.mark.django_db(transaction=True)


def event(company: Company, label: str) -> Event:
    return make_event(EventType.QUEUE_UPDATED, company.pk, {"label": label}, queue=True)


def logged(client: redis.Redis, company: Company) -> list[tuple[int, dict[str, Any]]]:
    """(seq, envelope) of every event in the company queue's log, in log order."""
    entries = client.xrange(log_key(company.pk, queue_group(company.pk)))
    return [
        (int(entry_id.split(b"-")[0]), json.loads(fields[b"e"])) for entry_id, fields in entries
    ]


def labels(client: redis.Redis, company: Company) -> list[str]:
    return [envelope["data"]["label"] for _, envelope in logged(client, company)]


def test_committed_events_are_logged_once_in_order_and_leave_no_row(
    company_a: Company, redis_client: redis.Redis
) -> None:
    with transaction.atomic():
        publish_on_commit([event(company_a, "one"), event(company_a, "two")])
        assert OutboxEvent.objects.count() == 2  # rows of the writing transaction...
        assert labels(redis_client, company_a) == []  # ...and nothing published before commit

    assert logged(redis_client, company_a)[0][0] == 1
    assert labels(redis_client, company_a) == ["one", "two"]
    assert not OutboxEvent.objects.exists()


def test_a_rolled_back_change_leaves_no_event(
    company_a: Company, redis_client: redis.Redis
) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        publish_on_commit([event(company_a, "never")])
        raise RuntimeError
    assert not OutboxEvent.objects.exists()
    assert relay_once(older_than_ms=0) == 0
    assert labels(redis_client, company_a) == []


def test_a_batch_writes_its_events_with_one_insert(
    company_a: Company, company_b: Company, redis_client: redis.Redis
) -> None:
    with CaptureQueriesContext(connection) as queries, outbox.batch() as batch:
        for n in range(5):
            publish_on_commit([event(company_a, f"a{n}"), event(company_b, f"b{n}")])
        assert not OutboxEvent.objects.exists()  # not yet: just before the commit
    inserts = [q for q in queries if q["sql"].lstrip().startswith("WITH locked")]
    assert len(inserts) == 1

    batch.publish()
    assert labels(redis_client, company_a) == [f"a{n}" for n in range(5)]
    assert labels(redis_client, company_b) == [f"b{n}" for n in range(5)]
    assert not OutboxEvent.objects.exists()


def test_a_rolled_back_savepoint_in_a_batch_takes_its_events_along(
    company_a: Company, redis_client: redis.Redis
) -> None:
    with outbox.batch() as batch:
        publish_on_commit([event(company_a, "before")])
        with contextlib.suppress(RuntimeError), transaction.atomic():
            publish_on_commit([event(company_a, "rolled back")])
            raise RuntimeError
        with transaction.atomic():
            publish_on_commit([event(company_a, "kept savepoint")])
        publish_on_commit([event(company_a, "after")])
    batch.publish()
    assert labels(redis_client, company_a) == ["before", "kept savepoint", "after"]
    assert not OutboxEvent.objects.exists()


def test_writer_killed_between_commit_and_publish_leaves_its_events_to_the_relay(
    company_a: Company, redis_client: redis.Redis
) -> None:
    with transaction.atomic():
        publish_on_commit([event(company_a, "earlier")])

    child = crashing_writer(company_a.pk, AFTER_COMMIT)
    assert child.returncode == 9, child.stderr.decode()

    assert labels(redis_client, company_a) == ["earlier"]  # committed, not published...
    assert OutboxEvent.objects.count() == 2  # ...but not lost
    assert relay_once(older_than_ms=0) == 2
    assert relay_once(older_than_ms=0) == 0
    assert labels(redis_client, company_a) == ["earlier", "crash-1", "crash-2"]
    assert [seq for seq, _ in logged(redis_client, company_a)] == [1, 2, 3]  # no gap
    assert not OutboxEvent.objects.exists()


def test_the_next_writer_of_the_company_publishes_what_a_crashed_one_left_first(
    company_a: Company, company_b: Company, redis_client: redis.Redis
) -> None:
    child = crashing_writer(company_a.pk, AFTER_COMMIT)
    assert child.returncode == 9, child.stderr.decode()

    with transaction.atomic():
        publish_on_commit([event(company_b, "other company")])
    assert OutboxEvent.objects.count() == 2  # another company's writer leaves them alone

    with transaction.atomic():
        publish_on_commit([event(company_a, "next")])
    # In commit order, without waiting for the relay.
    assert labels(redis_client, company_a) == ["crash-1", "crash-2", "next"]
    assert labels(redis_client, company_b) == ["other company"]
    assert not OutboxEvent.objects.exists()


def test_writer_killed_after_redis_took_its_events_does_not_log_them_twice(
    company_a: Company, redis_client: redis.Redis
) -> None:
    child = crashing_writer(company_a.pk, AFTER_REDIS)
    assert child.returncode == 9, child.stderr.decode()
    assert labels(redis_client, company_a) == ["crash-1", "crash-2"]
    assert OutboxEvent.objects.count() == 2  # the deletion died with the writer

    assert relay_once(older_than_ms=0) == 2  # claimed and published again: no-ops
    assert labels(redis_client, company_a) == ["crash-1", "crash-2"]
    assert int(redis_client.get(seq_key(company_a.pk)) or 0) == 2
    assert not OutboxEvent.objects.exists()


def test_events_committed_while_redis_is_down_are_published_when_it_returns(
    company_a: Company, private_redis: PrivateRedis, settings: Any
) -> None:
    settings.CHANNEL_LAYER_REDIS_URL = private_redis.url
    private_redis.stop()

    with transaction.atomic():
        publish_on_commit([event(company_a, "while down")])  # the change commits regardless
    assert OutboxEvent.objects.count() == 1
    with pytest.raises(RedisError):
        relay_once(older_than_ms=0)
    assert OutboxEvent.objects.count() == 1  # the failed publish rolled its claim back

    private_redis.start()
    assert relay_once(older_than_ms=0) == 1
    client = redis.Redis.from_url(private_redis.url)
    try:
        assert labels(client, company_a) == ["while down"]
    finally:
        client.close()
    assert not OutboxEvent.objects.exists()


def test_the_relay_racing_writers_logs_every_event_once_in_commit_order(
    company_a: Company, company_b: Company, redis_client: redis.Redis
) -> None:
    """Writers publish their own rows while a relay with no age limit claims whatever it sees:
    each event is logged once, and each company's log follows its commit order."""
    committed: dict[int, list[str]] = {company_a.pk: [], company_b.pk: []}
    guard = threading.Lock()
    done = threading.Event()
    errors: list[BaseException] = []

    def writer(company: Company, name: str) -> None:
        try:
            for n in range(30):
                with transaction.atomic():
                    publish_on_commit([event(company, f"{name}-{n}")])
                    # The outbox lock is held until the commit: the order of these appends
                    # is the company's commit order.
                    with guard:
                        committed[company.pk].append(f"{name}-{n}")
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    def relay() -> None:
        try:
            while not done.is_set():
                relay_once(older_than_ms=0)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    relayer = threading.Thread(target=relay)
    writers = [
        threading.Thread(target=writer, args=(company, f"{company.slug}{w}"))
        for w, company in enumerate([company_a, company_b] * 2 + [company_a] * 2)
    ]
    relayer.start()
    for thread in writers:
        thread.start()
    for thread in writers:
        thread.join()
    done.set()
    relayer.join()
    assert errors == []
    relay_once(older_than_ms=0)

    assert labels(redis_client, company_a) == committed[company_a.pk]
    assert len(committed[company_a.pk]) == 4 * 30
    assert labels(redis_client, company_b) == committed[company_b.pk]
    seqs = [seq for seq, _ in logged(redis_client, company_a)]
    assert seqs == list(range(1, len(seqs) + 1))
    assert not OutboxEvent.objects.exists()


def test_run_outbox_relay_once_publishes_what_is_older_than_the_age(
    company_a: Company, redis_client: redis.Redis, settings: Any
) -> None:
    settings.OUTBOX_RELAY_AFTER_MS = 300
    child = crashing_writer(company_a.pk, AFTER_COMMIT)
    assert child.returncode == 9, child.stderr.decode()
    # Rows younger than the age belong to a writer that may still publish them.
    assert relay_once() == 0
    time.sleep(0.4)
    out = io.StringIO()
    call_command("run_outbox_relay", "--once", stdout=out)
    assert "after 2 events" in out.getvalue()
    assert labels(redis_client, company_a) == ["crash-1", "crash-2"]
