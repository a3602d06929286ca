"""Daily compliance figures from a scripted day of chats: `update_chat_metrics`, the periodic
job, and `/api/v1/metrics/daily/`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from analytics.metrics import ChatFacts, day_figures, p90
from analytics.models import ChatResponseTracking
from routing_service.chats.actions import (
    escalate_assignment,
    pick_conversation,
    resolve_assignment,
    send_agent_reply,
)
from routing_service.chats.models import (
    ChatAssignment,
    Conversation,
    ConversationStatus,
    RoutingPolicy,
    RoutingStrategy,
)
from routing_service.tenancy.models import Company, Role, User
from sla_engine.models import ChatSLA
from sla_engine.tasks import roll_up_chat_metrics

pytestmark = pytest.mark.django_db

DAY = dt.date(2026, 3, 2)


def t(hour: int, minute: int = 0, day: dt.date = DAY) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=dt.UTC)


@pytest.fixture
def scripted_day(
    company_a: Company,
    make_policy: Callable[..., ChatSLA],
    make_staff: Callable[..., User],
    receive: Callable[..., Conversation],
) -> dict[str, Any]:
    """Six chats on 2 March (24/7 SLA: 10 min first response, 60 min resolution), one on the
    3rd. Agents pick chats from the queue (manual routing), so who handles what is scripted."""
    make_policy(always=True, first_response_minutes=10, resolution_minutes=60)
    RoutingPolicy.objects.filter(company=company_a).update(strategy=RoutingStrategy.MANUAL)
    a1, a2 = make_staff(username="a1"), make_staff(username="a2")
    boss = make_staff(Role.SUPERVISOR, username="boss")

    def handle(
        client: str,
        start: dt.datetime,
        agent: User,
        reply_after: int | None,
        resolve_after: int | None,
    ) -> Conversation:
        chat = receive(client, at=start)
        assignment = pick_conversation(chat.pk, agent, now=start + dt.timedelta(minutes=1))
        if reply_after is not None:
            send_agent_reply(chat.pk, agent, "Hi", now=start + dt.timedelta(minutes=reply_after))
        if resolve_after is not None:
            resolve_assignment(
                assignment.pk, agent, now=start + dt.timedelta(minutes=resolve_after)
            )
        return chat

    handle("c1", t(9), a1, 4, 30)  # both targets met
    handle("c2", t(10), a1, 12, 50)  # first response missed
    handle("c3", t(11), a2, 2, 90)  # resolution missed
    handle("c4", t(12), a2, 5, None)  # answered in time, still open
    c5 = receive("c5", at=t(13))  # nobody answered; the customer left
    Conversation.objects.filter(pk=c5.pk).update(status=ConversationStatus.ABANDONED)
    c6 = handle("c6", t(14), a1, None, None)  # a1 escalates, the supervisor finishes
    escalate_assignment(
        ChatAssignment.objects.get(conversation=c6).pk, a1, reason="needs a refund", now=t(14, 5)
    )
    send_agent_reply(c6.pk, boss, "I can refund that", now=t(14, 8))
    resolve_assignment(
        ChatAssignment.objects.get(conversation=c6, agent=boss).pk, boss, now=t(14, 40)
    )
    handle("c7", t(9, day=DAY + dt.timedelta(days=1)), a2, 3, 20)
    return {"a1": a1, "a2": a2, "boss": boss, "company": company_a}


def rows(company: Company, day: dt.date = DAY) -> dict[int | None, dict[str, Any]]:
    return {
        row["agent_id"]: row
        for row in ChatResponseTracking.objects.filter(company=company, date=day).values()
    }


def figures(row: dict[str, Any]) -> tuple[Any, ...]:
    return (
        row["chats"],
        row["resolved"],
        row["abandoned"],
        row["escalations"],
        row["first_response_median_seconds"],
        row["first_response_p90_seconds"],
        row["resolution_median_seconds"],
        row["sla_met"],
        row["sla_missed"],
        row["sla_compliance_rate"],
    )


def test_update_chat_metrics_matches_the_hand_computed_day(scripted_day: dict[str, Any]) -> None:
    call_command("update_chat_metrics", "--from", "2026-03-02", "--to", "2026-03-03")

    day = rows(scripted_day["company"])
    a1, a2, boss = (scripted_day[k].pk for k in ("a1", "a2", "boss"))
    assert set(day) == {None, a1, a2, boss}
    # First responses 240, 720, 120, 300, 480 s; resolutions 1800, 3000, 5400, 2400 s.
    # Met: c1, c4 (nothing missed yet), c6. Missed: c2, c3. c5 has nothing decided.
    assert figures(day[None]) == (6, 4, 1, 1, 300.0, 624.0, 2700.0, 3, 2, 0.6)
    # a1 held c1, c2 and c6 (escalated away from them); answered and resolved c1 and c2.
    assert figures(day[a1]) == (3, 2, 0, 1, 480.0, 672.0, 2400.0, 2, 1, pytest.approx(2 / 3))
    assert figures(day[a2]) == (2, 1, 0, 0, 210.0, 282.0, 5400.0, 1, 1, 0.5)
    assert figures(day[boss]) == (1, 1, 0, 0, 480.0, 480.0, 2400.0, 1, 0, 1.0)
    next_day = rows(scripted_day["company"], DAY + dt.timedelta(days=1))
    assert figures(next_day[None]) == (1, 1, 0, 0, 180.0, 180.0, 1200.0, 1, 0, 1.0)


def test_update_chat_metrics_is_idempotent_and_drops_stale_rows(
    scripted_day: dict[str, Any],
) -> None:
    company = scripted_day["company"]
    ChatResponseTracking.objects.create(company=company, date=DAY, agent=scripted_day["boss"])
    ChatResponseTracking.objects.create(company=company, date=DAY - dt.timedelta(days=1))
    call_command("update_chat_metrics", "--from", "2026-03-01", "--to", "2026-03-02")
    first = {agent: figures(row) for agent, row in rows(company).items()}
    call_command("update_chat_metrics", "--from", "2026-03-01", "--to", "2026-03-02")

    assert {agent: figures(row) for agent, row in rows(company).items()} == first
    assert ChatResponseTracking.objects.filter(company=company).count() == 4
    assert not ChatResponseTracking.objects.filter(date=DAY - dt.timedelta(days=1)).exists()


def test_the_periodic_job_backfills_then_follows_the_watermark(
    scripted_day: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    company = scripted_day["company"]
    today = DAY + dt.timedelta(days=20)
    monkeypatch.setattr(
        "analytics.metrics.timezone.now", lambda: dt.datetime.combine(today, dt.time(12), dt.UTC)
    )

    roll_up_chat_metrics.fn()  # a company never rolled up: backfilled from its first chat
    assert figures(rows(company)[None])[:4] == (6, 4, 1, 1)
    # Later chats change an old day: outside the lookback window the watermark rules.
    ChatResponseTracking.objects.filter(company=company, date=DAY).update(chats=99)
    roll_up_chat_metrics.fn()
    assert rows(company)[None]["chats"] == 99  # 20 days ago: left alone
    call_command("update_chat_metrics", "--from", "2026-03-02", "--to", "2026-03-02")
    assert rows(company)[None]["chats"] == 6


def test_p90_interpolates_like_percentile_cont() -> None:
    assert p90([]) is None
    assert p90([5.0]) == 5.0
    assert p90([1.0, 2.0]) == pytest.approx(1.9)
    assert p90([float(n) for n in range(1, 11)]) == pytest.approx(9.1)


def test_a_chat_with_nothing_decided_counts_towards_neither_met_nor_missed() -> None:
    start = t(9)
    figures_ = day_figures(
        [
            ChatFacts(1, "waiting", start),
            ChatFacts(2, "assigned", start, first_response_met=True),
            ChatFacts(3, "resolved", start, first_response_met=True, resolution_met=False),
        ]
    )
    assert (figures_.chats, figures_.sla_met, figures_.sla_missed) == (3, 1, 1)
    assert figures_.sla_compliance_rate == 0.5


def test_daily_metrics_api_is_company_scoped_and_agents_see_only_their_own_rows(
    scripted_day: dict[str, Any],
    api: Callable[[User | None], APIClient],
    admin_a: User,
    admin_b: User,
) -> None:
    call_command("update_chat_metrics", "--from", "2026-03-02", "--to", "2026-03-03")
    url = "/api/v1/metrics/daily/"

    body = api(admin_a).get(url, {"from": "2026-03-01", "to": "2026-03-03"}).json()
    assert body["count"] == 2
    first = body["results"][0]
    assert (first["date"], first["agent"], first["chats"], first["sla_compliance_rate"]) == (
        "2026-03-02",
        None,
        6,
        0.6,
    )
    per_agent = api(admin_a).get(
        url, {"from": "2026-03-02", "to": "2026-03-02", "per_agent": "true"}
    )
    assert per_agent.json()["count"] == 3
    a1 = scripted_day["a1"]
    own = api(a1).get(url, {"from": "2026-03-02", "to": "2026-03-02", "per_agent": "true"})
    assert [r["agent"] for r in own.json()["results"]] == [a1.pk]
    assert api(admin_b).get(url, {"from": "2026-03-01", "to": "2026-03-03"}).json()["count"] == 0

    bad = api(admin_a).get(url, {"from": "2026-03-05", "to": "2026-03-01"})
    assert bad.status_code == 400 and "from" in bad.json()
    assert api(None).get(url).status_code in (401, 403)
