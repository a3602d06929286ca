"""Live metrics per queue: a scripted hour of events at known seconds gives the exact service
level, ASA, AHT and abandonment rate for each queue and the company (each queue judged by its
own threshold and abandon policy); the window edges; the counters rebuilt from the database;
the 15-minute history and its API (JSON, CSV, days); `?queue=` validation and isolation."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from django.test import TestCase
from django.utils import timezone
from rest_framework.test import APIClient

from analytics import live_counting, queue_counters
from analytics.live_metrics import live_metrics, queues_metrics, window_figures
from analytics.models import QueueInterval
from analytics.queue_history import rebuild_counters, roll_up_intervals
from analytics.queue_targets import targets_of
from routing_service.queues.models import AbandonedCountAs, Queue, QueueMembership
from routing_service.tenancy.models import AgentStatus, Company, Role, User

pytestmark = pytest.mark.django_db

# A whole hour a few hours ago: the buckets expire 25 hours after their minute (Redis' clock).
T0 = (timezone.now() - dt.timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
NOW = T0 + dt.timedelta(minutes=59, seconds=30)  # the 60-minute window: 09:00:00 – 09:59:59
S = dt.timedelta(seconds=1)
M = dt.timedelta(minutes=1)
ApiFor = Callable[[User | None], APIClient]


def _queues(company: Company) -> tuple[Queue, Queue]:
    default, _ = Queue.objects.unscoped().get_or_create(
        company=company, is_default=True, defaults={"name": "General"}
    )
    Queue.objects.unscoped().filter(pk=default.pk).update(
        name="General", abandoned_count_as=AbandonedCountAs.MISSED
    )
    default.refresh_from_db()
    billing = Queue.objects.unscoped().create(
        company=company,
        name="Billing",
        service_level_seconds=60,
        service_level_target=0.9,
        abandoned_count_as=AbandonedCountAs.SHORT_EXCLUDED,
        short_abandon_seconds=30,
    )
    return default, billing


def _chat(company: Company, queue: Queue | None, arrived: dt.datetime) -> SimpleNamespace:
    return SimpleNamespace(company_id=company.pk, queue_id=queue and queue.pk, created_at=arrived)


def _play(company: Company, default: Queue, billing: Queue) -> None:
    """The scripted hour (after commit, as the actions write them).

    =====  =======  ===========  ==================  ===========================================
    chat   queue    arrives      then                counts
    =====  =======  ===========  ==================  ===========================================
    e0     default  08:59:00     answered 10 s       before the window (arrival and answer)
    b1     billing  09:01:00     answered 45 s       in time (60 s); handled 600 s
    b2     billing  09:02:00     answered 90 s       late; handled 300 s
    b3     billing  09:03:00     abandoned at 10 s   short (≤ 30 s): not judged
    b4     billing  09:04:00     abandoned at 120 s  judged, missed
    d1     default  09:10:00     answered 15 s       in time (20 s); handled 200 s
    d2     none     09:11:00     abandoned at 3 s    default queue (no queue yet); missed
    =====  =======  ===========  ==================  ===========================================
    """
    with TestCase.captureOnCommitCallbacks(execute=True):
        e0 = _chat(company, default, T0 - M)
        live_counting.count_arrivals(company.pk, [e0])
        live_counting.count_answered(e0, T0 - M + 10 * S)
        for _key, queue, at, answer, handle in (
            ("b1", billing, T0 + M, 45, 600),
            ("b2", billing, T0 + 2 * M, 90, 300),
            ("d1", default, T0 + 10 * M, 15, 200),
        ):
            chat = _chat(company, queue, at)
            live_counting.count_arrivals(company.pk, [chat])
            live_counting.count_answered(chat, at + answer * S)
            live_counting.count_handled(chat, at + answer * S, at + (answer + handle) * S)
        for queue, at, after in (
            (billing, T0 + 3 * M, 10),
            (billing, T0 + 4 * M, 120),
            (None, T0 + 11 * M, 3),
        ):
            chat = _chat(company, queue, at)
            live_counting.count_arrivals(company.pk, [chat])
            live_counting.count_abandoned(chat, at + after * S)


@pytest.fixture
def scripted(company_a: Company) -> Iterator[tuple[Queue, Queue]]:
    default, billing = _queues(company_a)
    _play(company_a, default, billing)
    yield default, billing


def _figures(body: dict[str, Any]) -> tuple[Any, ...]:
    return (
        body["offered"],
        body["answered"],
        body["abandoned"],
        body["service_level"],
        body["asa_seconds"],
        body["aht_seconds"],
        body["abandonment_rate"],
    )


def test_each_queue_is_judged_by_its_own_threshold_and_policy(
    company_a: Company, scripted: tuple[Queue, Queue]
) -> None:
    default, billing = scripted
    bill = live_metrics(company_a.pk, 60, queue=targets_of(billing.pk), now=NOW)
    # 1 in time of 2 answered + 1 judged abandonment (b3 was short); waits 45, 90; handles.
    assert _figures(bill) == (4, 2, 2, round(1 / 3, 4), 67.5, 450.0, 0.5)
    assert bill["service_level_seconds"] == 60 and bill["service_level_target"] == 0.9
    assert bill["queue"] == {"id": billing.pk, "name": "Billing"}

    general = live_metrics(company_a.pk, 60, queue=targets_of(default.pk), now=NOW)
    assert _figures(general) == (2, 1, 1, 0.5, 15.0, 200.0, 0.5)

    company = live_metrics(company_a.pk, 60, now=NOW)
    # 2 in time (b1, d1) of 3 answered + 2 judged abandonments (b4, d2).
    assert _figures(company) == (6, 3, 3, 0.4, 50.0, round(1100 / 3, 1), 0.5)
    assert company["forecast"]["arrival_rate_per_hour"] == 6.0


def test_the_window_is_whole_minutes_ending_now(
    company_a: Company, scripted: tuple[Queue, Queue]
) -> None:
    later = live_metrics(company_a.pk, 60, now=NOW + 2 * M)  # 09:02 – 10:01: b1 is out
    assert (later["offered"], later["answered"]) == (5, 2)
    narrow = live_metrics(company_a.pk, 50, now=NOW)  # 09:10 – 09:59
    # d1 and d2 arrived; d1 answered; d2 abandoned; b1 (09:11:45) and d1 (09:13:35) handled.
    assert _figures(narrow) == (2, 1, 1, 0.5, 15.0, 400.0, 0.5)


def test_the_wallboard_tiles_cover_every_queue_in_one_pass(
    company_a: Company, scripted: tuple[Queue, Queue], make_user: Callable[..., User]
) -> None:
    _default, billing = scripted
    agent = make_user(company_a, Role.AGENT, status=AgentStatus.AVAILABLE, max_chats=2)
    make_user(company_a, Role.AGENT, status=AgentStatus.AVAILABLE, max_chats=2)
    QueueMembership.objects.unscoped().create(company=company_a, queue=billing, user=agent)
    tiles = queues_metrics([company_a.pk], 60, now=NOW)[company_a.pk]
    assert [t["queue"]["name"] for t in tiles] == ["General", "Billing"]
    assert tiles[1]["offered"] == 4 and tiles[1]["forecast"]["available_agents"] == 1
    assert tiles[0]["forecast"]["available_agents"] == 2  # every agent is in the default queue


def test_the_counters_rebuilt_from_the_database_match_the_live_ones(
    company_a: Company, make_user: Callable[..., User]
) -> None:
    """The scripted hour of the API test, through the product's actions: the live counters,
    the database's reference count and the rebuilt counters agree."""
    from tests.api.test_live_metrics import script_hour

    _queues(company_a)
    hour = script_hour(company_a, make_user, "qm")
    live = live_metrics(company_a.pk, 60, now=hour.now)
    start = hour.now - dt.timedelta(minutes=60)
    reference = window_figures(company_a.pk, start, hour.now)
    assert (live["offered"], live["answered"], live["abandoned"]) == (5, 3, 1)
    assert (reference.offered, reference.answered, reference.abandoned) == (5, 3, 1)
    assert live["service_level"] == reference.service_level == 0.5

    queue_counters.clear(company_a.pk, range(queue_counters.minute_of(start) - 60, 10**8)[:200])
    assert live_metrics(company_a.pk, 60, now=hour.now)["offered"] == 0  # Redis lost it
    assert rebuild_counters(company_a.pk, hour.now) > 0
    rebuilt = live_metrics(company_a.pk, 60, now=hour.now)
    assert _figures(rebuilt) == _figures(live)


def test_intervals_are_rolled_up_per_queue_and_served_as_json_csv_and_days(
    company_a: Company, make_user: Callable[..., User], admin_a: User, api: ApiFor
) -> None:
    from tests.api.test_live_metrics import script_hour

    default, _ = _queues(company_a)
    hour = script_hour(company_a, make_user, "iv")
    start = hour.now - dt.timedelta(hours=2)
    assert roll_up_intervals(company_a.pk, start, hour.now) > 0
    assert roll_up_intervals(company_a.pk, start, hour.now) > 0  # idempotent: replaced
    rows = QueueInterval.objects.unscoped().filter(company_id=company_a.pk, queue__isnull=True)
    assert sum(r.offered for r in rows) == 6  # E A B C D F
    assert len({r.start for r in rows}) == rows.count()

    client = api(admin_a)
    params = {"from": start.isoformat(), "to": (hour.now + M).isoformat()}
    body = client.get("/api/v1/metrics/intervals/", params).json()
    assert body["count"] == rows.count()
    assert sum(r["offered"] for r in body["results"]) == 6
    first = body["results"][0]
    assert first["queue"] is None and first["start"] < first["end"]
    per_queue = client.get("/api/v1/metrics/intervals/", {**params, "queue": default.pk}).json()
    assert sum(r["offered"] for r in per_queue["results"]) == 6  # every chat is in the default

    days = client.get("/api/v1/metrics/intervals/", {**params, "per": "day"}).json()
    assert sum(r["offered"] for r in days["results"]) == 6
    assert sum(r["answered"] for r in days["results"]) == 4  # E A B C

    for response in (
        client.get("/api/v1/metrics/intervals/", {**params, "format": "csv"}),
        client.get("/api/v1/metrics/intervals.csv", params),
    ):
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/csv")
        lines = list(csv.DictReader(io.StringIO(response.content.decode())))
        assert sum(int(line["offered"]) for line in lines) == 6
        assert "service_level" in lines[0]


def test_interval_queries_are_validated_with_json_errors(admin_a: User, api: ApiFor) -> None:
    client = api(admin_a)
    bad = client.get("/api/v1/metrics/intervals/", {"from": "yesterday"})
    assert bad.status_code == 400 and list(bad.json()) == ["from"]
    reversed_ = client.get(
        "/api/v1/metrics/intervals.csv", {"from": "2026-12-02T10:00Z", "to": "2026-12-01T10:00Z"}
    )
    assert reversed_.status_code == 400 and list(reversed_.json()) == ["from"]
    assert client.get("/api/v1/metrics/intervals/", {"queue": "x"}).json().keys() == {"queue"}


def test_another_companys_queue_is_not_found(
    company_a: Company, company_b: Company, admin_b: User, api: ApiFor
) -> None:
    _, billing = _queues(company_a)
    client = api(admin_b)
    for url in ("/api/v1/metrics/", "/api/v1/metrics/intervals/"):
        response = client.get(url, {"queue": billing.pk})
        assert response.status_code == 404, url
        assert list(response.json()) == ["queue"]
    assert client.get("/api/v1/metrics/", {"queue": "billing"}).status_code == 400


def test_a_queue_of_ones_own_company_is_served(
    company_a: Company, admin_a: User, api: ApiFor
) -> None:
    _, billing = _queues(company_a)
    body = api(admin_a).get("/api/v1/metrics/", {"queue": billing.pk, "window": 15}).json()
    assert body["queue"] == {"id": billing.pk, "name": "Billing"}
    assert body["window_minutes"] == 15 and body["service_level_seconds"] == 60


def test_a_late_write_into_a_settled_minute_refreshes_the_cached_sum(
    company_a: Company, redis_client: Any
) -> None:
    """The settled minutes' sum is cached between ticks; a write into one of them (a late
    commit, a rebuild) makes the next read add them up again."""
    now = timezone.now()
    queue_counters.write(company_a.pk, queue_counters.arrived(None, now - 30 * M))
    assert queue_counters.read_windows([company_a.pk], now, 60)[company_a.pk]["all"].offered == 1
    cache = queue_counters.cache_key(company_a.pk, 60, queue_counters.minute_of(now))
    assert redis_client.exists(cache)  # built by that read
    queue_counters.write(company_a.pk, queue_counters.arrived(None, now - 20 * M))
    queue_counters.write(company_a.pk, queue_counters.arrived(None, now))  # the current minute
    assert queue_counters.read_windows([company_a.pk], now, 60)[company_a.pk]["all"].offered == 3
    for window in (1, 2, 3):  # the short windows read their buckets directly
        tally = queue_counters.read_windows([company_a.pk], now, window)[company_a.pk]["all"]
        assert tally.offered == 1


def test_the_chat_dashboard_breaks_the_period_down_by_queue(
    company_a: Company, company_b: Company, make_user: Callable[..., User], client: Any
) -> None:
    from tests.api.test_live_metrics import script_hour

    _queues(company_a)
    _queues(company_b)  # another company's queues stay off the page
    hour = script_hour(company_a, make_user, "cd")
    roll_up_intervals(company_a.pk, hour.now - dt.timedelta(hours=2), hour.now)
    client.force_login(make_user(company_a, Role.SUPERVISOR))
    page = client.get("/chat/dashboard/")
    assert page.status_code == 200
    rows = {q["name"]: q for q in page.context["queues"]}
    assert list(rows) == ["General", "Billing"]
    assert rows["General"]["offered"] == 6 and rows["General"]["answered"] == 4
    assert rows["Billing"]["offered"] == 0 and rows["Billing"]["service_level"] is None
    html = page.content.decode()
    assert 'id="queue-table"' in html and "/api/v1/metrics/intervals.csv?from=" in html
    assert html.count("data-queue-id=") == 2


def test_the_csv_endpoint_refuses_another_format(admin_a: User, api: ApiFor) -> None:
    response = api(admin_a).get("/api/v1/metrics/intervals.csv", {"format": "xml"})
    assert response.status_code == 400 and list(response.json()) == ["format"]
    assert api(admin_a).get("/api/v1/metrics/intervals.csv", {"format": "csv"}).status_code == 200


def test_a_superadmin_names_the_company_of_the_history(
    company_a: Company, superadmin: User, api: ApiFor
) -> None:
    client = api(superadmin)
    missing = client.get("/api/v1/metrics/intervals/")
    assert missing.status_code == 400 and list(missing.json()) == ["company"]
    assert client.get("/api/v1/metrics/intervals.csv").status_code == 400
    named = client.get("/api/v1/metrics/intervals/", {"company": company_a.pk})
    assert named.status_code == 200 and named.json()["count"] == 0
