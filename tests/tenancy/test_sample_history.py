"""The demo's month of chats is planned as plain values: seeded, ordered, in the past."""

from __future__ import annotations

import datetime as dt

from routing_service.tenancy.sample_data import AGENTS
from routing_service.tenancy.sample_history import HISTORY_DAYS, plan_day

TODAY = dt.date(2025, 3, 14)
CUTOFF = dt.datetime(2025, 3, 14, tzinfo=dt.UTC)


def month(seed: str = "acme", tz: str = "Europe/London") -> list:
    return [
        chat
        for n in range(HISTORY_DAYS, 0, -1)
        for chat in plan_day(seed, TODAY - dt.timedelta(days=n), tz, AGENTS, cutoff=CUTOFF)
    ]


def test_the_same_seed_and_day_plan_the_same_chats() -> None:
    assert month() == month()
    assert month("acme") != month("globex")


def test_each_chat_happens_in_order_and_ends_before_the_cutoff() -> None:
    chats = month("globex", "America/New_York")
    assert 60 <= len(chats) <= 150  # 3-6 a weekday, 0-2 a weekend day
    assert len({chat.key for chat in chats}) == len(chats)
    for chat in chats:
        steps = [chat.arrived_at, chat.picked_at, chat.replied_at]
        steps += [t for t in (chat.follow_up_at, chat.answered_at, chat.escalated_at) if t]
        assert steps == sorted(steps) and steps[-1] < chat.resolved_at <= CUTOFF
        assert (chat.follow_up_at is None) == (chat.answered_at is None)


def test_a_chat_goes_to_an_agent_with_its_skill_and_language() -> None:
    by_name = {agent.name: agent for agent in AGENTS}
    for chat in month():
        agent = by_name[chat.agent]
        assert chat.topic.category in agent.skills
        assert chat.topic.language in agent.languages


def test_a_customer_writes_at_most_once_a_day() -> None:
    for n in range(1, HISTORY_DAYS + 1):
        day = plan_day(
            "initech", TODAY - dt.timedelta(days=n), "Europe/Berlin", AGENTS, cutoff=CUTOFF
        )
        assert len({chat.client for chat in day}) == len(day)


def test_nothing_is_planned_to_end_after_the_cutoff() -> None:
    day = TODAY - dt.timedelta(days=1)
    early = dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC)
    chats = plan_day("acme", day, "Europe/London", AGENTS, cutoff=early)
    assert all(chat.resolved_at <= early for chat in chats)
    assert len(chats) < len(plan_day("acme", day, "Europe/London", AGENTS, cutoff=CUTOFF))
