"""`create_sample_data` builds a usable demo — people, chats, a month of history, analytics —
through the product's own paths, leaves nobody to bounce offers between, and is idempotent."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
import redis
from django.conf import settings
from django.core.management import call_command
from django.test import Client as PageClient
from django.test import override_settings
from django.utils import timezone

from analytics.models import (
    ChatResponseTracking,
    ChatSession,
    Dashboard,
    DataSource,
    SessionDayTotal,
)
from analytics.sample_data import DEFAULT_DASHBOARDS, SAMPLE_SESSIONS, SAMPLE_SOURCE_NAME
from routing_service.chats.actions import expire_offers
from routing_service.chats.models import (
    AssignmentEvent,
    AssignmentStatus,
    Channel,
    ChatAssignment,
    Client,
    Conversation,
    ConversationStatus,
    DeliveryStatus,
    Message,
    MessageDirection,
    RoutingPolicy,
)
from routing_service.tenancy.models import AgentStatus, Company, Role, User
from routing_service.tenancy.sample_data import LIVE_CHATS
from routing_service.tenancy.sample_history import HISTORY_DAYS
from sla_engine.models import ChatSLA
from tests.conftest import delete_run_keys

pytestmark = pytest.mark.django_db

MODELS = [
    Company,
    User,
    Channel,
    Client,
    Conversation,
    Message,
    ChatAssignment,
    AssignmentEvent,
    ChatSLA,
    RoutingPolicy,
    ChatSession,
    DataSource,
    Dashboard,
    ChatResponseTracking,
    SessionDayTotal,
]


def counts() -> dict[str, int]:
    return {
        m.__name__: m.objects.unscoped().count()
        if hasattr(m.objects, "unscoped")
        else m.objects.count()
        for m in MODELS
    }


@pytest.fixture(scope="module")
def sample_data(
    django_db_setup: Any, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """One committed run of the command for the whole module (it plays a month of chats:
    too slow to repeat per test); the tests read it inside their own rolled-back
    transactions, and the module ends by emptying the test database. Its output."""
    media = tmp_path_factory.mktemp("sample-media")
    redis_client = redis.Redis.from_url(settings.REDIS_URL)
    out = StringIO()
    with override_settings(MEDIA_ROOT=media):
        with django_db_blocker.unblock():
            delete_run_keys(redis_client)
            call_command("create_sample_data", stdout=out)
        try:
            yield out.getvalue()
        finally:
            with django_db_blocker.unblock():
                call_command("flush", interactive=False, verbosity=0)
            delete_run_keys(redis_client)
            redis_client.close()


def test_people_channels_and_policies_are_there(sample_data: str) -> None:
    assert User.objects.get(username="admin").role == Role.SUPERADMIN
    assert User.objects.get(username="admin").check_password("admin123")
    assert Company.objects.count() == 3
    for company in Company.objects.all():
        roles = set(User.objects.filter(company=company).values_list("role", flat=True))
        assert {Role.COMPANY_ADMIN, Role.SUPERVISOR, Role.AGENT} <= roles
        providers = set(Channel.objects.for_company(company).values_list("provider", flat=True))
        assert providers == {"generic", "twilio", "whatsapp", "telegram"}
        assert ChatSLA.objects.for_company(company).count() == 4
    for channel in Channel.objects.unscoped():
        assert f"secret={channel.secret}" in sample_data
    assert "Sample data ready in" in sample_data


def test_nobody_at_a_console_means_no_offers_to_bounce(sample_data: str) -> None:
    """Demo staff start offline, so today's chats wait for someone to say they are available
    instead of being offered round every 30 s to agents nobody plays."""
    staff = User.objects.filter(role__in=[Role.AGENT, Role.SUPERVISOR])
    assert set(staff.values_list("status", flat=True)) == {AgentStatus.OFFLINE}
    assert set(staff.values_list("active_chats", flat=True)) == {0}
    waiting = Conversation.objects.unscoped().filter(status=ConversationStatus.WAITING)
    assert waiting.count() == 3 * len(LIVE_CHATS)
    assert not ChatAssignment.objects.unscoped().filter(status=AssignmentStatus.OFFERED).exists()

    # Ten minutes on, the router's offer sweep has nothing to expire and re-offer.
    assert expire_offers(now=timezone.now() + dt.timedelta(minutes=10)) == 0
    assert not AssignmentEvent.objects.unscoped().filter(action="expired").exists()


def test_a_rerun_puts_demo_agents_left_available_offline(sample_data: str) -> None:
    User.objects.filter(username__in=["acme-alice", "acme-bob"]).update(
        status=AgentStatus.AVAILABLE
    )
    call_command("create_sample_data", stdout=StringIO())
    assert set(
        User.objects.filter(username__startswith="acme-").values_list("status", flat=True)
    ) == {AgentStatus.OFFLINE}
    assert not ChatAssignment.objects.unscoped().filter(status=AssignmentStatus.OFFERED).exists()


def test_a_month_of_chats_went_through_the_actions(sample_data: str) -> None:
    today = timezone.now().astimezone(dt.UTC).date()
    midnight = dt.datetime.combine(today, dt.time(), tzinfo=dt.UTC)
    escalated, outcomes = 0, set()
    for company in Company.objects.all():
        history = Conversation.objects.for_company(company).filter(created_at__lt=midnight)
        assert history.count() >= 40, company.slug  # 3-6 a weekday, 0-2 a weekend day
        assert set(history.values_list("status", flat=True)) == {ConversationStatus.RESOLVED}
        assert history.filter(created_at__lt=midnight - dt.timedelta(days=HISTORY_DAYS - 1))
        assert not history.filter(resolved_at__gt=midnight).exists()
        # Picked, answered and resolved by the company's own agents (a few via a supervisor).
        actions = Counter(
            AssignmentEvent.objects.for_company(company)
            .filter(conversation__in=history)
            .values_list("action", flat=True)
        )
        assert actions["resolved"] == history.count()
        assert actions["accepted"] == history.count()
        escalated += actions["escalated"]
        outcomes |= set(history.values_list("first_response_met", flat=True))
        # Replies are recorded as delivered: there is no provider behind a demo channel.
        replies = Message.objects.for_company(company).filter(
            conversation__in=history, direction=MessageDirection.OUTBOUND
        )
        assert set(replies.values_list("delivery_status", flat=True)) == {DeliveryStatus.SENT}
        # Each resolved chat became a live session, as the record_live_session actor does.
        live = ChatSession.objects.for_company(company).filter(data_source__kind="live")
        assert live.count() == history.count()
    # A few chats are escalated, and some wait long enough to miss their first-response target
    # (each company's share is small: counted over all three, so no seed makes this flaky).
    assert escalated >= 3
    assert outcomes == {True, False}


def test_daily_metrics_are_the_roll_up_of_those_chats(sample_data: str) -> None:
    today = timezone.now().astimezone(dt.UTC).date()
    escalations, below_target = 0, 0
    for company in Company.objects.all():
        rows = ChatResponseTracking.objects.for_company(company).filter(agent__isnull=True)
        days = {row.date: row for row in rows}
        assert len([d for d in days if d < today]) >= 20, company.slug  # weekends may be empty
        assert min(days) <= today - dt.timedelta(days=HISTORY_DAYS - 2)
        created = Counter(
            moment.astimezone(dt.UTC).date()
            for moment in Conversation.objects.for_company(company).values_list(
                "created_at", flat=True
            )
        )
        assert {day: row.chats for day, row in days.items()} == dict(created)
        past = [row for day, row in days.items() if day < today]
        assert all(row.resolved == row.chats for row in past)
        assert all(row.sla_compliance_rate is not None for row in past)
        below_target += sum(row.sla_compliance_rate < 1 for row in past)
        escalations += sum(row.escalations for row in past)
        # Agent rows too: the agent table of the chat dashboard.
        assert ChatResponseTracking.objects.for_company(company).filter(agent__isnull=False)
    assert below_target >= 1 and escalations >= 3


def test_sample_sessions_were_imported_through_the_importer(sample_data: str) -> None:
    today = timezone.now().astimezone(dt.UTC).date()
    for company in Company.objects.all():
        source = DataSource.objects.for_company(company).get(name=SAMPLE_SOURCE_NAME)
        assert source.kind == DataSource.Kind.CSV and source.status == DataSource.Status.DONE
        assert source.file.name.endswith(".csv") and source.bytes_processed == source.bytes_total
        # Two rows broken on purpose (reported with their lines) and one repeated id.
        assert (source.rows_imported, source.rows_rejected, source.duplicates) == (
            SAMPLE_SESSIONS,
            2,
            1,
        )
        assert {e["column"] for e in source.errors} == {"sentiment", "end_time"}
        sessions = ChatSession.objects.for_company(company).filter(data_source=source)
        assert sessions.count() == SAMPLE_SESSIONS
        first = today - dt.timedelta(days=60)
        days = {s.astimezone(dt.UTC).date() for s in sessions.values_list("start_time", flat=True)}
        assert min(days) >= first and max(days) < today and len(days) == 60
        # Rolled up, as the import actor does once an import ends.
        total = SessionDayTotal.objects.for_company(company).filter(data_source=source)
        assert sum(total.values_list("sessions", flat=True)) == SAMPLE_SESSIONS
        names = set(Dashboard.objects.for_company(company).values_list("name", flat=True))
        assert names == {spec.name for spec in DEFAULT_DASHBOARDS}


def test_the_analytics_pages_have_something_to_show(sample_data: str) -> None:
    page = PageClient()
    page.force_login(User.objects.get(username="acme-supervisor"))
    overview = page.get("/analytics/")
    assert overview.status_code == 200
    totals = overview.context["totals"]
    assert totals["sessions"] > 1000, totals
    dashboard = Dashboard.objects.unscoped().get(
        company__slug="acme", name=DEFAULT_DASHBOARDS[0].name
    )
    assert page.get(f"/analytics/dashboards/{dashboard.pk}/").context["totals"]["sessions"] > 0
    chat_dashboard = page.get("/chat/dashboard/")
    assert chat_dashboard.status_code == 200
    sla = chat_dashboard.context["sla"]["totals"]
    assert sla["chats"] > 50 and 0 < sla["compliance"] < 1, sla
    assert len(chat_dashboard.context["agents"]) >= 4


def test_running_twice_adds_nothing(sample_data: str) -> None:
    first = counts()
    out = StringIO()
    call_command("create_sample_data", stdout=out)
    assert counts() == first
    assert "(0 past chats played" in out.getvalue()
