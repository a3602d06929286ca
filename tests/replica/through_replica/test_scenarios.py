"""Run only by ``tests/replica/test_read_replica.py``: ``default`` is a private primary and
``replica`` its streaming standby. Ordered: the last scenario stops the standby."""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connections
from django.test import AsyncClient, Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from analytics import actions, tasks
from analytics.live import live_feed
from analytics.models import ChatSession, DataSource
from routing_service.db import replica
from routing_service.tenancy.models import Company, Role, User
from tests.analytics.conftest import csv_text
from tests.replica.streaming_pair import Server
from tests.support.processes import wait_for

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


def _standby_dsn() -> str:
    db = settings.DATABASES["replica"]
    return f"postgresql://postgres@127.0.0.1:{db['PORT']}/{db['NAME']}"


def _on_standby(sql: str) -> Any:
    with psycopg.connect(_standby_dsn(), autocommit=True) as conn:
        row = conn.execute(sql).fetchone()
    return row[0] if row else None


def _until_received() -> None:
    """Until the standby holds WAL it has not replayed (replay paused): before that, received =
    replayed and the probe rightly calls the standby caught up."""
    query = "SELECT pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn()"
    wait_for(lambda: bool(_on_standby(query)), 10, 0.02)


def _on_replica(pk: int) -> bool:
    return ChatSession.objects.using("replica").filter(pk=pk).exists()


@pytest.fixture(autouse=True)
def _fresh_probe() -> Iterator[None]:
    replica.lag_probe.reset()
    yield
    replica.lag_probe.reset()


@pytest.fixture
def supervisor(make_user: Callable[..., User], company_a: Company) -> User:
    return make_user(company_a, Role.SUPERVISOR)


def _session(company: Company, name: str) -> ChatSession:
    start = timezone.now() - dt.timedelta(hours=2)
    return ChatSession.objects.create(
        company=company,
        data_source=live_feed(company.pk),
        session_id=name,
        start_time=start,
        end_time=start + dt.timedelta(minutes=5),
    )


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _detail(client: Client, session: ChatSession) -> int:
    return client.get(reverse("analytics:session", args=[session.pk])).status_code


@pytest.fixture
def paused(company_a: Company) -> Iterator[None]:
    """Replay paused on the standby (once it has caught up with the fixtures' rows)."""
    marker = _session(company_a, "caught-up")
    wait_for(lambda: _on_replica(marker.pk), timeout=20)
    _on_standby("SELECT pg_wal_replay_pause()")
    try:
        yield
    finally:
        _on_standby("SELECT pg_wal_replay_resume()")


def test_the_alias_is_the_standby_and_reads_go_there_only_inside_the_context() -> None:
    assert (
        connections["replica"].settings_dict["PORT"] != connections["default"].settings_dict["PORT"]
    )
    with connections["replica"].cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery()")
        assert cursor.fetchone() == (True,)
    assert ChatSession.objects.all().db == "default"
    with replica.reading_from_replica(None) as alias:
        assert alias == "replica"
        assert ChatSession.objects.all().db == "replica"
    assert ChatSession.objects.all().db == "default"


def test_pages_read_the_replica_and_a_writer_reads_the_primary(
    company_a: Company,
    company_b: Company,
    supervisor: User,
    make_user: Callable[..., User],
    paused: None,
    settings: Any,
) -> None:
    settings.DATABASE_REPLICA_MAX_LAG_SECONDS = 3600
    fresh = _session(company_a, "written-while-paused")
    reader = _client(supervisor)
    # Replay paused: the replica does not have the row yet, so the page (reading it) 404s.
    assert _detail(reader, fresh) == 404
    export = reader.get(reverse("analytics:sessions-export"))
    assert b"written-while-paused" not in b"".join(export.streaming_content)  # type: ignore[attr-defined]
    assert b"caught-up" in b"".join(
        reader.get(reverse("analytics:sessions-export")).streaming_content  # type: ignore[attr-defined]
    )
    # The same user after a write of theirs (any unsafe request pins them): the primary.
    writer = _client(make_user(company_a, Role.SUPERVISOR))
    writer.post(reverse("analytics:dashboard-create"), {"name": ""})
    assert _detail(writer, fresh) == 200
    # Another company's supervisor never sees it, from either database.
    other = _client(make_user(company_b, Role.SUPERVISOR))
    other.post(reverse("analytics:dashboard-create"), {"name": ""})
    assert _detail(other, fresh) == 404
    # Replay resumed: the reader sees it from the replica.
    _on_standby("SELECT pg_wal_replay_resume()")
    wait_for(lambda: _on_replica(fresh.pk), timeout=20)
    assert _detail(reader, fresh) == 200


def test_a_pinned_user_reads_the_primary(company_a: Company, supervisor: User) -> None:
    """What a finished import does for its owner (analytics.tasks)."""
    assert replica.choose_read_alias(_fake_request(supervisor)) == "replica"
    replica.pin_to_primary(supervisor.pk)
    assert replica.choose_read_alias(_fake_request(supervisor)) is None


def test_a_finished_import_pins_its_owner(
    company_a: Company,
    supervisor: User,
    make_user: Callable[..., User],
    settings: Any,
    tmp_path: Any,
) -> None:
    settings.MEDIA_ROOT = str(tmp_path)
    bystander = make_user(company_a, Role.SUPERVISOR)
    assert replica.choose_read_alias(_fake_request(supervisor)) == "replica"
    rows = [{"session_id": "imported-1"}, {"session_id": "imported-2"}]
    source = actions.create_data_source(
        company=company_a,
        upload=SimpleUploadedFile("s.csv", csv_text(rows).encode(), content_type="text/csv"),
        created_by=supervisor,
    )
    tasks.import_data_source.fn(source.pk)  # what the worker runs
    assert DataSource.objects.get(pk=source.pk).status == DataSource.Status.DONE
    assert replica.choose_read_alias(_fake_request(supervisor)) is None
    assert replica.choose_read_alias(_fake_request(bystander)) == "replica"


def test_a_write_inside_the_context_moves_its_later_reads_to_the_primary(
    company_a: Company,
) -> None:
    with replica.reading_from_replica(None):
        assert ChatSession.objects.all().db == "replica"
        _session(company_a, "built-on-demand")  # as a dashboard building a roll-up does
        assert ChatSession.objects.all().db == "default"
        assert ChatSession.objects.filter(session_id="built-on-demand").exists()
    with replica.reading_from_replica(None):
        assert ChatSession.objects.all().db == "replica"


def test_an_asgi_export_streams_from_the_replica(
    company_a: Company, supervisor: User, paused: None, settings: Any
) -> None:
    """Under ASGI the rows are fetched in another thread after the view returned."""
    settings.DATABASE_REPLICA_MAX_LAG_SECONDS = 3600
    _session(company_a, "not-replayed-yet")
    client = AsyncClient()
    client.force_login(supervisor)

    async def export() -> bytes:
        response = await client.get(reverse("analytics:sessions-export"))
        assert response.status_code == 200
        return b"".join([chunk async for chunk in response.streaming_content])

    body = async_to_sync(export)()
    assert b"caught-up" in body
    assert b"not-replayed-yet" not in body


def test_lag_past_the_limit_falls_back_to_the_primary(
    company_a: Company, supervisor: User, paused: None, settings: Any
) -> None:
    settings.DATABASE_REPLICA_MAX_LAG_SECONDS = 1
    time.sleep(1.5)  # the last replayed transaction ages while replay is paused
    fresh = _session(company_a, "written-while-lagging")
    reader = _client(supervisor)
    _until_received()
    status = _detail(reader, fresh)
    assert status == 200
    assert replica.lag_probe.last_lag is not None and replica.lag_probe.last_lag > 1
    assert not _on_replica(fresh.pk)  # the row really is missing there


def test_caught_up_idle_replica_counts_as_fresh(supervisor: User, settings: Any) -> None:
    """No WAL to replay: the old last-replay timestamp is not lag."""
    settings.DATABASE_REPLICA_MAX_LAG_SECONDS = 1
    time.sleep(1.5)
    assert replica.choose_read_alias(_fake_request(supervisor)) == "replica"
    assert replica.lag_probe.last_lag == 0.0


def test_a_stopped_replica_falls_back_and_the_pages_still_answer(
    company_a: Company, supervisor: User
) -> None:
    fresh = _session(company_a, "written-before-the-stop")
    Server(int(settings.DATABASES["replica"]["PORT"]), _standby_data()).kill()
    connections["replica"].close()
    reader = _client(supervisor)
    started = time.monotonic()
    assert _detail(reader, fresh) == 200
    for name in ("analytics:overview", "analytics:sessions", "chat-dashboard:index"):
        assert reader.get(reverse(name)).status_code == 200, name
    assert b"written-before-the-stop" in b"".join(
        reader.get(reverse("analytics:sessions-export")).streaming_content  # type: ignore[attr-defined]
    )
    assert time.monotonic() - started < 15
    assert replica.lag_probe.last_lag is None


def _standby_data() -> Any:
    from pathlib import Path

    return Path(os.environ["REPLICA_TEST_STANDBY_DATA"])


def _fake_request(user: User) -> Any:
    request = RequestFactory().get("/analytics/")
    request.user = user
    return request
