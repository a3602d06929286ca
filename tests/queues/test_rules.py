"""Queue rules, configuration checks and per-queue planning as pure functions."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routing_service.queues.rules import (
    InboundFacts,
    auto_reply_errors,
    calendar_errors,
    choose_queue,
    compile_rule,
    match_errors,
    overflow_cycle,
)
from routing_service.router.rules import (
    AgentCandidate,
    ChatRequest,
    QueuePlan,
    plan_queue_assignments,
)

DEFAULT = 1
NOW = dt.datetime(2026, 12, 3, 12, 0, tzinfo=dt.UTC)


def facts(**kw: object) -> InboundFacts:
    base: dict[str, object] = {
        "channel_id": 7,
        "language": "en-GB",
        "category": "billing",
        "text": "Hello, I want a REFUND please",
        "vip": False,
        "attributes": {"plan": "Gold", "seats": 12},
    }
    base.update(kw)
    return InboundFacts(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("match", "matches"),
    [
        ({"channel": 7}, True),
        ({"channel": 8}, False),
        ({"language": "EN"}, True),
        ({"language": "de"}, False),
        ({"category": "Billing"}, True),
        ({"category": "sales"}, False),
        ({"keywords": ["refund"]}, True),
        ({"keywords": ["money back", "refunds"]}, False),
        ({"vip": False}, True),
        ({"vip": True}, False),
        ({"attribute": {"name": "plan", "value": "gold"}}, True),
        ({"attribute": {"name": "plan", "value": "silver"}}, False),
        ({"attribute": {"name": "seats", "value": 12}}, True),
        ({"attribute": {"name": "missing", "value": "x"}}, False),
        ({"language": "en", "keywords": ["refund"], "vip": False}, True),
        ({"language": "en", "keywords": ["refund"], "vip": True}, False),
        ({}, True),
    ],
)
def test_each_match_kind(match: dict[str, object], matches: bool) -> None:
    assert match_errors(match) == {}
    rules = [compile_rule(5, match)]
    assert choose_queue(rules, facts(), DEFAULT) == (5 if matches else DEFAULT)


def test_first_match_wins_and_default_otherwise() -> None:
    rules = [
        compile_rule(2, {"vip": True}),
        compile_rule(3, {"category": "billing"}),
        compile_rule(4, {"keywords": ["refund"]}),
    ]
    assert choose_queue(rules, facts(), DEFAULT) == 3
    assert choose_queue(rules, facts(vip=True), DEFAULT) == 2
    assert choose_queue(rules, facts(category="", text="hi"), DEFAULT) == DEFAULT
    assert choose_queue([], facts(), DEFAULT) == DEFAULT


@pytest.mark.parametrize(
    ("match", "field"),
    [
        ("x", "match"),
        ({"colour": "red"}, "match.colour"),
        ({"channel": "7"}, "match.channel"),
        ({"channel": True}, "match.channel"),
        ({"language": ""}, "match.language"),
        ({"keywords": "refund"}, "match.keywords"),
        ({"keywords": []}, "match.keywords"),
        ({"keywords": ["!!!"]}, "match.keywords"),
        ({"vip": "yes"}, "match.vip"),
        ({"attribute": {"name": "plan"}}, "match.attribute"),
        ({"attribute": {"name": "plan", "value": [1]}}, "match.attribute"),
    ],
)
def test_invalid_matches_name_the_field(match: object, field: str) -> None:
    assert field in match_errors(match)


def test_overflow_cycle_is_found() -> None:
    overflow_of: dict[int, int | None] = {1: None, 2: 3, 3: None, 4: 2}
    assert overflow_cycle(overflow_of, 3, 4) == [3, 4, 2, 3]
    assert overflow_cycle(overflow_of, 1, 2) is None
    assert overflow_cycle(overflow_of, 1, None) is None


def test_calendar_and_auto_reply_checks() -> None:
    assert calendar_errors(None) == {}
    assert (
        calendar_errors({"timezone": "Europe/Berlin", "weekdays": [0, 1], "work_end": "24:00"})
        == {}
    )
    assert "calendar" in calendar_errors({"timezone": "Mars/Base"})
    assert "calendar.weekdays" in calendar_errors({"weekdays": [9]})
    assert "calendar.colour" in calendar_errors({"colour": 1})
    ok = {"on_arrival": {"enabled": True, "templates": {"en": "You are number {position}."}}}
    assert auto_reply_errors(ok) == {}
    assert auto_reply_errors({}) == {}
    assert "auto_reply.on_arrival" in auto_reply_errors({"on_arrival": {"enabled": True}})
    assert "auto_reply.out_of_hours" in auto_reply_errors({"out_of_hours": {"enabled": "y"}})
    assert "auto_reply.later" in auto_reply_errors({"later": {}})


# --- planning per queue (hypothesis) --------------------------------------------------------

agents_st = st.lists(
    st.tuples(
        st.integers(1, 2),  # company
        st.sampled_from(["available", "away"]),
        st.integers(0, 3),  # active
        st.integers(0, 3),  # max
    ),
    min_size=0,
    max_size=8,
)
chats_st = st.lists(
    st.tuples(
        st.integers(1, 2),  # company
        st.integers(10, 13),  # queue
        st.sampled_from(["low", "medium", "high", "urgent"]),
        st.integers(0, 600),  # waited seconds
    ),
    max_size=15,
)
memberships_st = st.dictionaries(
    st.integers(10, 13),
    st.dictionaries(st.integers(1, 8), st.integers(1, 10), max_size=8),
    max_size=4,
)


@settings(max_examples=300, deadline=None)
@given(
    agents=agents_st,
    chats=chats_st,
    members=memberships_st,
    strategy=st.sampled_from(["round_robin", "least_busy", "manual"]),
)
def test_plan_respects_capacity_membership_company_and_one_offer_per_chat(
    agents: list[tuple[int, str, int, int]],
    chats: list[tuple[int, int, str, int]],
    members: dict[int, dict[int, int]],
    strategy: str,
) -> None:
    candidates = [
        AgentCandidate(
            id=i + 1,
            status=status,
            active_chats=active,
            max_chats=most,
            skills=frozenset(),
            languages=frozenset(),
            last_assigned_at=None,
            idle_since=None,
            company_id=company,
        )
        for i, (company, status, active, most) in enumerate(agents)
    ]
    requests = [
        ChatRequest(
            conversation_id=100 + i,
            company_id=company,
            priority=priority,
            language=None,
            skill=None,
            waiting_since=NOW - dt.timedelta(seconds=waited),
            queue_id=queue,
        )
        for i, (company, queue, priority, waited) in enumerate(chats)
    ]
    plans = {queue: QueuePlan(strategy, levels) for queue, levels in members.items()}
    plan = plan_queue_assignments(
        plans, requests, candidates, now=NOW, fallback_after=dt.timedelta(seconds=60)
    )
    by_agent = {a.id: a for a in candidates}
    by_chat = {c.conversation_id: c for c in requests}
    assert len({conv for conv, _ in plan}) == len(plan)  # one offer per chat
    if strategy == "manual":
        assert plan == []
    load: dict[int, int] = {}
    for conv, agent_id in plan:
        agent, chat = by_agent[agent_id], by_chat[conv]
        assert agent.company_id == chat.company_id
        assert chat.queue_id is not None and agent_id in members[chat.queue_id]
        assert agent.status == "available"
        load[agent_id] = load.get(agent_id, 0) + 1
    for agent_id, extra in load.items():
        assert by_agent[agent_id].active_chats + extra <= by_agent[agent_id].max_chats


def test_skill_level_breaks_ties() -> None:
    def agent(i: int) -> AgentCandidate:
        return AgentCandidate(i, "available", 0, 2, frozenset(), frozenset(), None, None, 1)

    chat = ChatRequest(1, 1, "medium", None, None, NOW, queue_id=10)
    for strategy in ("round_robin", "least_busy"):
        plan = plan_queue_assignments(
            {10: QueuePlan(strategy, {1: 3, 2: 9, 3: 5})},
            [chat],
            [agent(1), agent(2), agent(3)],
            now=NOW,
            fallback_after=dt.timedelta(seconds=60),
        )
        assert plan == [(1, 2)], strategy
