"""Partitioned assignment events: the migration carries existing rows over, months are created
ahead, and whole months past every company's retention are detached and dropped (others stay).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from routing_service.chats.models import AssignmentEvent
from routing_service.retention import partitions
from routing_service.retention.models import RetentionPolicy
from routing_service.tenancy.models import Company, User
from tests.tenancy.world import build_world

TABLE = "chats_assignmentevent"
BEFORE = ("chats", "0006_csat_whisper_activity_index")


def _migrate(target: tuple[str, str] | None) -> None:
    """Migrate to `target`, or (None) back to the latest state of every app: going back to
    BEFORE unapplied every later migration that depends on it."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([target] if target else executor.loader.graph.leaf_nodes())


def _backdate(event: AssignmentEvent, when: dt.datetime) -> None:
    # An UPDATE of the partition key moves the row to the month's partition.
    AssignmentEvent.objects.unscoped().filter(pk=event.pk).update(created_at=when)


@pytest.mark.django_db(transaction=True)
def test_migration_carries_existing_rows_into_monthly_partitions(
    company_a: Company, make_user: Callable[..., User]
) -> None:
    world = build_world(company_a, "Acme", make_user)
    _migrate(BEFORE)
    try:
        assert not partitions.is_partitioned(TABLE)
        old = timezone.now() - dt.timedelta(days=70)
        rows = [world.event]
        for i in range(5):
            rows.append(
                AssignmentEvent.objects.create(
                    company=company_a,
                    conversation=world.conversation,
                    action=AssignmentEvent.Action.QUEUED,
                    reason=f"r{i}",
                )
            )
        _backdate(rows[1], old)
        before = {e["id"]: e for e in AssignmentEvent.objects.unscoped().values().order_by("id")}
    finally:
        _migrate(None)

    assert partitions.is_partitioned(TABLE)
    months = partitions.monthly_partitions(TABLE)
    assert partitions.month_start(old.date()) in months  # the oldest row's month exists
    after = {e["id"]: e for e in AssignmentEvent.objects.unscoped().values().order_by("id")}
    assert after == before
    # The id sequence continues after the copied rows; inserts land in this month.
    fresh = AssignmentEvent.objects.create(
        company=company_a, conversation=world.conversation, action="queued"
    )
    assert fresh.pk > max(before)
    # Foreign keys hold on the partitioned table too.
    with pytest.raises(IntegrityError), transaction.atomic():
        AssignmentEvent.objects.create(company=company_a, conversation_id=10**9, action="queued")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = %s",
            [f"{TABLE}_pkey"],
        )
        assert cursor.fetchone()[0] == "PRIMARY KEY (id, created_at)"


@pytest.mark.django_db(transaction=True)
def test_months_are_created_ahead_and_expired_ones_dropped(
    company_a: Company, company_b: Company, make_user: Callable[..., User]
) -> None:
    now = timezone.now()
    this_month = partitions.month_start(now.date())
    created = partitions.ensure_partitions(now, ahead=5)
    months = partitions.monthly_partitions(TABLE)
    for offset in range(6):
        assert partitions.add_months(this_month, offset) in months
    assert partitions.ensure_partitions(now, ahead=5) == []  # idempotent
    tables = tuple(f"{spec.table}_p" for spec in partitions.PARTITIONED)
    assert all(name.startswith(tables) for name in created)

    # Months 30 and 14 months back, a row in each, and one row of this month.
    ancient, recent = partitions.add_months(this_month, -30), partitions.add_months(this_month, -14)
    for month in (ancient, recent):
        partitions.create_partition(TABLE, month)
    world_a = build_world(company_a, "Acme", make_user)
    world_b = build_world(company_b, "Globex", make_user)
    old_event = AssignmentEvent.objects.create(
        company=company_a, conversation=world_a.conversation, action="queued"
    )
    kept_event = AssignmentEvent.objects.create(
        company=company_b, conversation=world_b.conversation, action="queued"
    )
    _backdate(old_event, dt.datetime.combine(ancient, dt.time(12), tzinfo=dt.UTC))
    _backdate(kept_event, dt.datetime.combine(recent, dt.time(12), tzinfo=dt.UTC))
    # Company B keeps events 800 days, the longest of all (A has the default, 730): a month
    # goes only once it ended more than 800 days ago, i.e. the 30-month-old one, not the
    # 14-month-old one (company A's own shorter retention is the purge's job).
    RetentionPolicy.objects.create(company=company_b, events_days=800)

    out = StringIO()
    call_command("manage_partitions", "--no-purge", stdout=out)

    assert f"dropped {partitions.partition_name(TABLE, ancient)}" in out.getvalue()
    months = partitions.monthly_partitions(TABLE)
    assert ancient not in months and recent in months and this_month in months
    assert not AssignmentEvent.objects.unscoped().filter(pk=old_event.pk).exists()
    assert AssignmentEvent.objects.unscoped().filter(pk=kept_event.pk).exists()
    assert AssignmentEvent.objects.unscoped().filter(pk=world_a.event.pk).exists()
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [partitions.partition_name(TABLE, ancient)])
        assert cursor.fetchone()[0] is None  # detached and dropped, not left behind


@pytest.mark.django_db(transaction=True)
def test_the_longest_retention_of_any_company_bounds_partition_drops(
    company_a: Company, company_b: Company
) -> None:
    from routing_service.retention.purge import longest_retention

    RetentionPolicy.objects.create(company=company_a, events_days=30)
    assert longest_retention()["events"] == 730  # company B has no policy: the default binds
    RetentionPolicy.objects.create(company=company_b, events_days=90)
    assert longest_retention()["events"] == 90
    now = timezone.now()
    two_back = partitions.add_months(partitions.month_start(now.date()), -2)
    four_back = partitions.add_months(two_back, -2)
    partitions.create_partition(TABLE, two_back)
    partitions.create_partition(TABLE, four_back)
    dropped = partitions.drop_expired({"events": 90}, now)
    # A month whose end is within the 90 days stays; one that ended before goes.
    assert partitions.partition_name(TABLE, two_back) not in dropped
    assert partitions.partition_name(TABLE, four_back) in dropped


@pytest.mark.django_db(transaction=True)
def test_the_timers_retention_actor_runs_a_whole_turn(
    company_a: Company, make_user: Callable[..., User]
) -> None:
    from routing_service.retention.tasks import retention_housekeeping

    world = build_world(company_a, "Acme", make_user)
    RetentionPolicy.objects.create(company=company_a, events_days=30)
    _backdate(world.event, timezone.now() - dt.timedelta(days=40))
    ahead = partitions.add_months(partitions.month_start(timezone.now().date()), 3)
    with connection.cursor() as cursor:
        cursor.execute(f'DROP TABLE IF EXISTS "{partitions.partition_name(TABLE, ahead)}"')

    retention_housekeeping.fn()  # what the dramatiq worker runs

    assert ahead in partitions.monthly_partitions(TABLE)  # created again
    assert not AssignmentEvent.objects.unscoped().filter(pk=world.event.pk).exists()  # purged
