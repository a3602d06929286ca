"""The chat dashboard's figures (analytics.chat_dashboard): SLA series from the roll-ups with the
conversation fallback, the agent table, the queue now and the breaches."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from analytics import chat_dashboard, metrics
from analytics.models import ChatResponseTracking
from routing_service.chats.models import Channel, Provider
from routing_service.tenancy.actions import create_user
from routing_service.tenancy.models import Company, Role, User
from tests.analytics import sample
from tests.analytics.sample import Chats, make_chats, write_rollups

pytestmark = pytest.mark.django_db


@pytest.fixture
def chats(company_a: Company, redis_client: object) -> Chats:
    return make_chats(company_a, "acme")


def today() -> dt.date:
    return timezone.now().astimezone(dt.UTC).date()


def test_sla_series_reads_roll_ups_then_falls_back_to_conversations(
    company_a: Company, chats: Chats
) -> None:
    write_rollups(company_a, chats.agents, range(2, 10))  # newest roll-up: two days ago
    window = chat_dashboard.Window.last_days(10, today())
    series = chat_dashboard.sla_series(company_a.pk, window)
    assert len(series["labels"]) == 10
    assert series["live_from"] == (today() - dt.timedelta(days=1)).isoformat()
    assert series["source"][:9] == ["roll-up"] * 8 + ["live"]
    rolled_day = series["labels"].index((today() - dt.timedelta(days=5)).isoformat())
    assert series["chats"][rolled_day] == 10
    assert series["compliance"][rolled_day] == 0.8
    assert series["first_response_median_seconds"][rolled_day] == 60.0
    # The five chats of today (and perhaps yesterday, near midnight) come from conversations.
    live_chats = sum(series["chats"][-2:])
    assert live_chats == 5
    assert sum(series["sla_met"][-2:]) == 1
    assert sum(series["sla_missed"][-2:]) == 1  # the open overdue chat is not decided yet
    assert series["totals"]["chats"] == 8 * 10 + 5
    assert series["totals"]["sla_met"] == 8 * 8 + 1
    assert series["totals"]["compliance"] == round(65 / (65 + 17), 4)


def test_fallback_matches_the_roll_up_job(company_a: Company, chats: Chats) -> None:
    window = chat_dashboard.Window.last_days(3, today())
    live = chat_dashboard.sla_series(company_a.pk, window)
    assert live["live_from"] == window.first_day.isoformat()  # never rolled up
    metrics.roll_up(window.first_day, window.last_day, [company_a.pk])
    rolled = chat_dashboard.sla_series(company_a.pk, window)
    # Rolled days read the roll-up; today is computed live even with its row written.
    assert rolled["live_from"] == today().isoformat()
    assert rolled["source"] == ["roll-up", "roll-up", "live"]
    for key in ("chats", "resolved", "sla_met", "sla_missed", "compliance"):
        assert rolled[key] == live[key], key
    for key in ("first_response_median_seconds", "resolution_median_seconds"):
        assert rolled[key] == pytest.approx(live[key], abs=0.1), key


def test_agent_table_adds_roll_ups_and_recent_chats(company_a: Company, chats: Chats) -> None:
    write_rollups(company_a, chats.agents, range(2, 4))  # two days of 5 chats per agent
    table = chat_dashboard.agent_table(company_a.pk, chat_dashboard.Window.last_days(7, today()))
    rows = {row["username"]: row for row in table}
    first, second = rows["acme-agent1"], rows["acme-agent2"]
    assert first["chats"] == 10 + 2  # rolled, then the met chat and the overdue one
    assert first["resolved"] == 8 + 1
    assert second["chats"] == 10 + 1
    assert second["sla_missed"] == 2 + 1
    assert first["compliance"] == round((8 + 1) / (8 + 1 + 2), 4)
    assert first["first_response_seconds"] is not None
    assert table[0]["username"] == "acme-agent1"  # busiest first


def test_queue_now_by_priority_in_routing_order(company_a: Company, chats: Chats) -> None:
    queue = chat_dashboard.queue_now(company_a.pk)
    waiting = {row["priority"]: row["waiting"] for row in queue["by_priority"]}
    second = chats.waiting_low.priority  # "low" as asked, unless the router raised it
    assert waiting == {"urgent": 1, "high": 0, "medium": 0, "low": 0} | {second: 1}
    assert [row["priority"] for row in queue["by_priority"]] == ["urgent", "high", "medium", "low"]
    assert queue["waiting"] == 2 and queue["assigned"] == 1
    assert [c.pk for c in queue["first"]] == [chats.waiting_urgent.pk, chats.waiting_low.pk]
    urgent = queue["by_priority"][0]
    assert 9 * 60 <= urgent["longest_wait_seconds"] <= 11 * 60


def test_breaches_open_past_due_and_recently_missed(company_a: Company, chats: Chats) -> None:
    breaches = chat_dashboard.breaches(company_a.pk)
    assert breaches["open_count"] == 1
    assert breaches["open_first_response"] == 1
    (row,) = breaches["open"]
    assert row["chat"].pk == chats.overdue.pk
    assert row["kind"] == "first response"
    assert row["chat"].agent_username == "acme-agent1"
    assert 110 * 60 <= row["overdue_seconds"] <= 120 * 60
    assert breaches["missed_count"] == 1
    assert [c.pk for c in breaches["missed"]] == [chats.missed.pk]


def test_other_companies_chats_are_left_out(
    company_a: Company, company_b: Company, chats: Chats
) -> None:
    other = make_chats(company_b, "globex")
    write_rollups(company_b, other.agents, range(2, 4))
    window = chat_dashboard.Window.last_days(7, today())
    assert chat_dashboard.sla_series(company_a.pk, window)["totals"]["chats"] == 5
    names = {row["username"] for row in chat_dashboard.agent_table(company_a.pk, window)}
    assert names == {"acme-agent1", "acme-agent2"}
    assert chat_dashboard.queue_now(company_a.pk)["waiting"] == 2
    assert chat_dashboard.breaches(company_a.pk)["open_count"] == 1


# --- today is current when the page is drawn (issue 12 item 8) -------------------------------


def _kpi(body: str, label: str) -> str:
    """The value of the totals tile labelled ``label`` on the drawn page."""
    match = re.search(
        r'<span class="value"[^>]*>([^<]*)</span><span class="label">' + re.escape(label), body
    )
    assert match, f"no tile {label!r}"
    return match.group(1).strip()


def test_page_tiles_agree_with_the_missed_list_after_the_roll_up_ran_today(
    company_a: Company, redis_client: object
) -> None:
    """The roll-up wrote today's row while all was well; a chat then missed its first response.
    The tiles used to read that row ("100 %", "0" missed) beside a list naming the miss."""
    supervisor = create_user(
        username="acme-supervisor", password="pw-123456", role=Role.SUPERVISOR, company=company_a
    )
    channel = Channel.objects.create(
        company=company_a, name="Web", provider=Provider.GENERIC, secret="s" * 24
    )
    agent = create_user(
        username="acme-agent", password="pw-123456", role=Role.AGENT, company=company_a
    )
    now = timezone.now()
    minute = dt.timedelta(minutes=1)
    # Received "now", so today (UTC) whatever the hour the run starts at.
    good = sample._receive(channel, "good", now)
    sample._set_dues(good, now + 5 * minute, now + 60 * minute)
    sample._handle(good, agent, now, now, now)
    metrics.roll_up(today(), today(), [company_a.pk])  # the periodic run: 1 met, 0 missed
    late = sample._receive(channel, "late", now)
    sample._set_dues(late, now - minute, now + 60 * minute)  # answered after its due time
    sample._handle(late, agent, now, now, now)

    client = Client()
    client.force_login(supervisor)
    response = client.get(reverse("chat-dashboard:index"))
    assert response.status_code == 200
    body = response.content.decode()
    missed_list = response.context["breaches"]["missed"]
    assert [c.pk for c in missed_list] == [late.pk]
    assert f"#{late.pk}" in body
    assert _kpi(body, "missed an SLA target") == "1"
    assert _kpi(body, "chats") == "2"
    assert _kpi(body, "SLA compliance") == "50.0 %"
    totals = response.context["sla"]["totals"]
    assert totals["sla_missed"] == response.context["breaches"]["missed_count"] == 1
    assert response.context["sla"]["live_from"] == today().isoformat()


def test_older_days_say_how_old_their_roll_up_rows_are(company_a: Company, chats: Chats) -> None:
    """Rows that may still change (inside the roll-up's look-back) carry their time; rows
    rewritten after their chats stopped changing are final and need none."""
    write_rollups(company_a, chats.agents, range(2, 4))
    window = chat_dashboard.Window.last_days(10, today())
    rows = ChatResponseTracking.objects.for_company(company_a).filter(agent__isnull=True)
    stale = timezone.now() - dt.timedelta(hours=5)
    rows.filter(date=today() - dt.timedelta(days=3)).update(updated_at=stale)
    series = chat_dashboard.sla_series(company_a.pk, window)
    assert series["rolled_as_of"] == stale

    final_day = today() - dt.timedelta(days=metrics.LOOKBACK_DAYS + 2)
    rows.filter(date=today() - dt.timedelta(days=3)).update(updated_at=timezone.now())
    write_rollups(company_a, [], [metrics.LOOKBACK_DAYS + 2])
    rows.filter(date=final_day).update(
        updated_at=dt.datetime.combine(final_day, dt.time(), tzinfo=dt.UTC)
        + dt.timedelta(days=metrics.LOOKBACK_DAYS, hours=1)
    )
    series = chat_dashboard.sla_series(company_a.pk, window)
    assert series["rolled_as_of"] is not None  # the two recent rows, just written
    assert series["rolled_as_of"] >= timezone.now() - dt.timedelta(minutes=1)


def test_page_says_as_of_when_older_days_come_from_a_stale_roll_up(
    company_a: Company, chats: Chats, admin_a: User
) -> None:
    write_rollups(company_a, chats.agents, range(1, 5))
    ChatResponseTracking.objects.for_company(company_a).update(
        updated_at=timezone.now() - dt.timedelta(hours=2)
    )
    client = Client()
    client.force_login(admin_a)
    body = client.get(reverse("chat-dashboard:index")).content.decode()
    stale = (timezone.now() - dt.timedelta(hours=2)).strftime("%Y-%m-%d %H:")
    assert 'id="rolled-as-of"' in body
    assert f"earlier days from the daily roll-up as of {stale}" in body
    assert "computed live from the conversations at" in body
