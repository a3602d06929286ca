"""Pure routing rules: priority detection, eligibility, strategies and assignment planning."""

from __future__ import annotations

import unicodedata
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from routing_service.router import rules
from routing_service.router.rules import (
    PRIORITIES,
    STRATEGIES,
    AgentCandidate,
    ChatRequest,
    choose_agent,
    detect_priority,
    eligible_agents,
    find_urgent_keyword,
    order_queue,
    plan_assignments,
    priority_rank,
)

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
FALLBACK = timedelta(minutes=5)
KEYWORDS = ("asap", "urgent", "data breach", "紧急")


def agent(id: int, **overrides: object) -> AgentCandidate:
    fields: dict[str, object] = {
        "id": id,
        "status": "available",
        "active_chats": 0,
        "max_chats": 3,
        "skills": frozenset(),
        "languages": frozenset(),
        "last_assigned_at": None,
        "idle_since": None,
        "company_id": 1,
    }
    fields.update(overrides)
    return AgentCandidate(**fields)  # type: ignore[arg-type]


def chat(conversation_id: int, **overrides: object) -> ChatRequest:
    fields: dict[str, object] = {
        "conversation_id": conversation_id,
        "company_id": 1,
        "priority": "medium",
        "language": None,
        "skill": None,
        "waiting_since": NOW - timedelta(seconds=30),
        "excluded_agent_ids": frozenset(),
    }
    fields.update(overrides)
    return ChatRequest(**fields)  # type: ignore[arg-type]


def ago(minutes: float) -> datetime:
    return NOW - timedelta(minutes=minutes)


def ids(agents: list[AgentCandidate]) -> list[int]:
    return [a.id for a in agents]


# --- priorities ---------------------------------------------------------------------------


def test_priorities_are_ordered_low_to_urgent() -> None:
    assert PRIORITIES == ("low", "medium", "high", "urgent")
    assert [priority_rank(p) for p in PRIORITIES] == [0, 1, 2, 3]


def test_priority_rank_rejects_unknown_priority() -> None:
    with pytest.raises(ValueError, match="unknown priority"):
        priority_rank("critical")


def detect(text: str = "hello", requested: str | None = None, **kwargs: object) -> str:
    kwargs.setdefault("is_vip", False)
    kwargs.setdefault("urgent_keywords", KEYWORDS)
    return detect_priority(text, requested, **kwargs)  # type: ignore[arg-type]


def test_plain_message_defaults_to_medium() -> None:
    assert detect("Hi, I have a question about my invoice") == "medium"


def test_requested_priority_is_where_a_new_chat_starts() -> None:
    assert detect(requested="high") == "high"
    assert detect(requested=" URGENT ") == "urgent"
    assert detect(requested="low") == "low"
    assert detect(requested="Low") == "low"


def test_vip_and_urgent_keywords_raise_a_requested_low_priority() -> None:
    assert detect(requested="low", is_vip=True) == "high"
    assert detect("asap please", requested="low") == "urgent"


def test_invalid_requested_priority_is_ignored() -> None:
    assert detect(requested="critical") == "medium"
    assert detect(requested="") == "medium"


def test_vip_client_gets_vip_priority() -> None:
    assert detect(is_vip=True) == "high"
    assert detect(is_vip=True, vip_priority="urgent") == "urgent"
    assert detect(is_vip=False, vip_priority="urgent") == "medium"


def test_invalid_vip_priority_is_a_configuration_error() -> None:
    with pytest.raises(ValueError):
        detect(vip_priority="critical")


def test_urgent_keyword_makes_chat_urgent_case_insensitively() -> None:
    assert detect("Please answer ASAP!") == "urgent"
    assert detect("this is Urgent.") == "urgent"
    assert detect("(asap)") == "urgent"


def test_keyword_matches_whole_words_only() -> None:
    assert detect("I sent two wasaps to you") == "medium"
    assert detect("asaps") == "medium"
    assert detect("nonurgent request") == "medium"
    assert detect("asap_later") == "medium"


def test_keyword_phrase_matches_across_spacing_and_punctuation() -> None:
    assert detect("We think there was a DATA   breach today") == "urgent"
    assert detect("data-breach!") == "urgent"
    assert detect("data\nbreach") == "urgent"
    assert detect("the data was fine, no breach") == "medium"
    assert detect("bigdata breach") == "medium"
    assert detect("data breaches") == "medium"


def test_keyword_matching_is_unicode_aware() -> None:
    assert find_urgent_keyword("DRINGEND: STRASSE gesperrt", ["straße"]) == "straße"
    assert find_urgent_keyword("ΠΟΛΥ ΕΠΕΙΓΟΝ", ["επειγον"]) == "επειγον"
    assert find_urgent_keyword("ΣΟΣ", ["σος"]) == "σος"  # final sigma folds to σ
    decomposed = unicodedata.normalize("NFD", "très pressé")
    assert find_urgent_keyword(decomposed, ["pressé"]) == "pressé"
    # Combining marks stay inside their word: no match on a fragment of a Devanagari word.
    assert find_urgent_keyword("तुरंत मदद", ["तुरंत"]) == "तुरंत"
    assert find_urgent_keyword("तुरंत", ["तु"]) is None


def test_keyword_in_unspaced_script_matches_inside_a_sentence() -> None:
    assert detect("这是紧急情况") == "urgent"
    assert detect("这是普通情况") == "medium"


def test_keyword_without_letters_matches_nothing() -> None:
    assert find_urgent_keyword("!!! help", ["!!!", "   "]) is None


def test_keywords_passed_as_a_bare_string_are_rejected() -> None:
    with pytest.raises(TypeError):
        find_urgent_keyword("a", "asap")


def test_priority_never_drops_for_a_calmer_message() -> None:
    assert detect("thanks, all good now", current="urgent") == "urgent"
    assert detect("thanks", requested="low", current="high") == "high"
    assert detect("thanks", requested="low", current="medium") == "medium"
    assert detect("asap", current="low") == "urgent"


def test_a_follow_up_keeps_a_low_chat_low_unless_it_asks_for_more() -> None:
    assert detect("one more thing", current="low") == "low"
    assert detect("one more thing", requested="high", current="low") == "high"


@given(
    requested=st.one_of(st.none(), st.sampled_from([*PRIORITIES, "bogus"])),
    is_vip=st.booleans(),
    vip_priority=st.sampled_from(PRIORITIES),
    current=st.one_of(st.none(), st.sampled_from(PRIORITIES)),
    text=st.text(max_size=40),
)
@settings(max_examples=200, deadline=None)
def test_detected_priority_is_the_maximum_of_its_base_and_raises(
    requested: str | None, is_vip: bool, vip_priority: str, current: str | None, text: str
) -> None:
    result = detect_priority(
        text,
        requested,
        is_vip=is_vip,
        urgent_keywords=KEYWORDS,
        vip_priority=vip_priority,
        current=current,
    )
    rank = priority_rank(result)
    valid = requested if requested in PRIORITIES else None
    # The base: the chat's own priority, or for a new chat the requested one (else medium).
    base = current if current is not None else (valid or "medium")
    assert rank >= priority_rank(base)
    if valid:
        assert rank >= priority_rank(valid)
    if is_vip:
        assert rank >= priority_rank(vip_priority)
    expected = max(
        [
            base,
            *([valid] if valid else []),
            *([vip_priority] if is_vip else []),
            *(["urgent"] if find_urgent_keyword(text, KEYWORDS) else []),
        ],
        key=priority_rank,
    )
    assert result == expected


_letters = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8)


@given(keyword=_letters, before=_letters, after=_letters, sep=st.sampled_from(" ,.!?\n-/("))
@settings(max_examples=200, deadline=None)
def test_keyword_surrounded_by_separators_always_matches(
    keyword: str, before: str, after: str, sep: str
) -> None:
    text = f"{before}{sep}{keyword.upper()}{sep}{after}"
    assert find_urgent_keyword(text, [keyword]) == keyword


@given(keyword=_letters, prefix=_letters, suffix=st.text(alphabet="xyz0123456789_", max_size=3))
@settings(max_examples=200, deadline=None)
def test_keyword_glued_inside_a_longer_word_never_matches(
    keyword: str, prefix: str, suffix: str
) -> None:
    assert find_urgent_keyword(f"{prefix}{keyword}{suffix}", [keyword]) is None


@given(text=st.text(alphabet=st.characters(max_codepoint=127), max_size=60))
@settings(max_examples=300, deadline=None)
def test_ascii_fast_path_finds_the_same_words_as_the_unicode_rules(text: str) -> None:
    assert rules._tokens(text) == rules._unicode_tokens(text)


# --- eligibility --------------------------------------------------------------------------


def test_only_available_agents_of_the_same_company_with_capacity_are_eligible() -> None:
    agents = [
        agent(1),
        agent(2, status="away"),
        agent(3, status="offline"),
        agent(4, active_chats=3, max_chats=3),
        agent(5, company_id=2),
        agent(6, max_chats=0),
        agent(7, active_chats=2, max_chats=3),
    ]
    assert ids(eligible_agents(chat(1), agents, now=NOW, fallback_after=FALLBACK)) == [1, 7]


def test_language_must_match_by_primary_subtag_case_insensitively() -> None:
    agents = [
        agent(1, languages={"en"}),
        agent(2, languages={"ES", "fr"}),
        agent(3, languages={"es_MX"}),
        agent(4),  # no languages listed: only chats without a language
    ]

    def eligible_for(language: str | None) -> list[int]:
        c = chat(1, language=language)
        return ids(eligible_agents(c, agents, now=NOW, fallback_after=FALLBACK))

    assert eligible_for("es") == [2, 3]
    assert eligible_for("en-GB") == [1]
    assert eligible_for("de") == []
    assert eligible_for(None) == [1, 2, 3, 4]
    assert eligible_for("  ") == [1, 2, 3, 4]


def test_skill_must_match_when_the_chat_names_a_category() -> None:
    agents = [agent(1, skills={"Billing"}), agent(2, skills={"tech"}), agent(3)]
    c = chat(1, skill="billing ")
    assert ids(eligible_agents(c, agents, now=NOW, fallback_after=FALLBACK)) == [1]
    assert ids(eligible_agents(chat(2), agents, now=NOW, fallback_after=FALLBACK)) == [1, 2, 3]


def test_language_and_skill_must_both_match() -> None:
    agents = [
        agent(1, languages={"es"}, skills={"tech"}),
        agent(2, languages={"es"}, skills={"billing"}),
        agent(3, languages={"en"}, skills={"billing"}),
    ]
    c = chat(1, language="es", skill="billing")
    assert ids(eligible_agents(c, agents, now=NOW, fallback_after=FALLBACK)) == [2]


def test_after_the_fallback_wait_any_free_agent_is_eligible() -> None:
    agents = [
        agent(1, languages={"en"}),
        agent(2, languages={"es"}, skills={"billing"}),
        agent(3, status="away", languages={"de"}, skills={"tech"}),
        agent(4, company_id=2),
        agent(5, active_chats=3),
    ]
    fresh = chat(1, language="de", skill="tech", waiting_since=ago(4.99))
    waited = replace(fresh, waiting_since=ago(5))
    assert eligible_agents(fresh, agents, now=NOW, fallback_after=FALLBACK) == []
    assert ids(eligible_agents(waited, agents, now=NOW, fallback_after=FALLBACK)) == [1, 2]


def test_excluded_agents_are_skipped_while_others_remain() -> None:
    agents = [agent(1), agent(2), agent(3)]
    c = chat(1, excluded_agent_ids=frozenset({1, 3}))
    assert ids(eligible_agents(c, agents, now=NOW, fallback_after=FALLBACK)) == [2]


def test_exclusion_resets_when_every_eligible_agent_declined() -> None:
    agents = [agent(1), agent(2), agent(3, status="away"), agent(4, languages={"en"})]
    c = chat(1, excluded_agent_ids=frozenset({1, 2}))
    assert ids(eligible_agents(c, agents, now=NOW, fallback_after=FALLBACK)) == [4]
    everyone = replace(c, excluded_agent_ids=frozenset({1, 2, 4}))
    assert ids(eligible_agents(everyone, agents, now=NOW, fallback_after=FALLBACK)) == [1, 2, 4]


def test_blocked_agents_stay_out_even_when_nobody_else_is_left() -> None:
    agents = [agent(1), agent(2)]
    cooling = chat(1, blocked_agent_ids={1})
    assert ids(eligible_agents(cooling, agents, now=NOW, fallback_after=FALLBACK)) == [2]
    # Everyone else already had a go: the exclusion resets, the cool-down does not.
    both = chat(1, excluded_agent_ids={2}, blocked_agent_ids={1})
    assert ids(eligible_agents(both, agents, now=NOW, fallback_after=FALLBACK)) == [2]
    alone = chat(1, excluded_agent_ids={1}, blocked_agent_ids={1})
    assert eligible_agents(alone, [agent(1)], now=NOW, fallback_after=FALLBACK) == []


def test_exclusion_reset_still_respects_language_until_fallback() -> None:
    agents = [agent(1, languages={"es"}), agent(2, languages={"en"})]
    c = chat(1, language="es", excluded_agent_ids=frozenset({1}))
    assert ids(eligible_agents(c, agents, now=NOW, fallback_after=FALLBACK)) == [1]
    waited = replace(c, waiting_since=ago(10))
    assert ids(eligible_agents(waited, agents, now=NOW, fallback_after=FALLBACK)) == [2]


def test_agent_collections_are_normalised_and_validated() -> None:
    a = agent(1, skills=["tech"], languages={"en"})
    assert a.skills == frozenset({"tech"})
    assert isinstance(a.languages, frozenset)
    with pytest.raises(TypeError):
        agent(1, skills="tech")
    with pytest.raises(ValueError):
        agent(1, status="busy")
    with pytest.raises(ValueError):
        agent(1, active_chats=-1)
    with pytest.raises(ValueError):
        chat(1, priority="critical")


# --- strategies ---------------------------------------------------------------------------


def choose(strategy: str, agents: list[AgentCandidate], c: ChatRequest | None = None) -> int | None:
    picked = choose_agent(strategy, c or chat(1), agents, now=NOW, fallback_after=FALLBACK)
    return None if picked is None else picked.id


def test_round_robin_picks_the_least_recently_assigned_agent() -> None:
    agents = [
        agent(1, last_assigned_at=ago(1)),
        agent(2, last_assigned_at=ago(30)),
        agent(3, last_assigned_at=ago(10)),
    ]
    assert choose("round_robin", agents) == 2


def test_round_robin_prefers_never_assigned_agents_then_lowest_id() -> None:
    agents = [agent(5, last_assigned_at=ago(60)), agent(4), agent(3)]
    assert choose("round_robin", agents) == 3
    tied = [agent(9, last_assigned_at=ago(5)), agent(7, last_assigned_at=ago(5))]
    assert choose("round_robin", tied) == 7


def test_round_robin_ignores_ineligible_agents() -> None:
    agents = [agent(1, status="away"), agent(2, last_assigned_at=ago(1)), agent(3, company_id=9)]
    assert choose("round_robin", agents) == 2


def test_least_busy_picks_fewest_active_chats() -> None:
    agents = [agent(1, active_chats=2), agent(2, active_chats=1), agent(3, active_chats=2)]
    assert choose("least_busy", agents) == 2


def test_least_busy_breaks_ties_by_longest_idle_then_id() -> None:
    agents = [
        agent(1, idle_since=ago(5)),
        agent(2, idle_since=ago(20)),
        agent(3, idle_since=None),
        agent(4, active_chats=1, idle_since=ago(90)),
    ]
    assert choose("least_busy", agents) == 2
    unknown = [agent(6, idle_since=None), agent(5, idle_since=None), agent(7, idle_since=ago(1))]
    assert choose("least_busy", unknown) == 7  # a known idle time beats an unknown one
    assert choose("least_busy", unknown[:2]) == 5
    same = [agent(8, idle_since=ago(3)), agent(2, idle_since=ago(3))]
    assert choose("least_busy", same) == 2


def test_manual_strategy_never_chooses() -> None:
    assert choose("manual", [agent(1), agent(2)]) is None


def test_no_eligible_agent_means_no_choice() -> None:
    assert choose("round_robin", [agent(1, status="offline")]) is None
    assert choose("least_busy", []) is None


def test_unknown_strategy_is_rejected() -> None:
    with pytest.raises(ValueError, match="strategy"):
        choose("random", [agent(1)])
    with pytest.raises(ValueError, match="strategy"):
        plan_assignments("random", [], [], now=NOW, fallback_after=FALLBACK)


# --- queue order and planning -------------------------------------------------------------


def test_queue_orders_by_priority_then_wait_then_id() -> None:
    chats = [
        chat(1, priority="low", waiting_since=ago(60)),
        chat(2, priority="urgent", waiting_since=ago(1)),
        chat(3, priority="medium", waiting_since=ago(5)),
        chat(4, priority="medium", waiting_since=ago(10)),
        chat(6, priority="urgent", waiting_since=ago(1)),
        chat(5, priority="urgent", waiting_since=ago(1)),
    ]
    assert [c.conversation_id for c in order_queue(chats)] == [2, 5, 6, 4, 3, 1]


def test_plan_round_robin_rotates_and_respects_capacity() -> None:
    agents = [agent(1, last_assigned_at=ago(10), max_chats=2), agent(2, max_chats=1)]
    chats = [chat(i, waiting_since=ago(10 - i)) for i in range(1, 5)]
    plan = plan_assignments("round_robin", chats, agents, now=NOW, fallback_after=FALLBACK)
    # 2 was never assigned; then 1; then both were assigned "now" but 2 is full.
    assert plan == [(1, 2), (2, 1), (3, 1)]


def test_plan_round_robin_keeps_rotating_once_every_agent_was_assigned_now() -> None:
    agents = [agent(i, max_chats=100) for i in (1, 2, 3)]
    chats = [chat(i, waiting_since=ago(20 - i)) for i in range(1, 10)]
    plan = plan_assignments("round_robin", chats, agents, now=NOW, fallback_after=FALLBACK)
    assert [agent_id for _, agent_id in plan] == [1, 2, 3] * 3


def test_assignment_stamps_increase_strictly_after_the_latest_and_never_before_now() -> None:
    step = timedelta(microseconds=1)
    assert rules.assignment_stamps(NOW, None, 3) == [NOW, NOW + step, NOW + 2 * step]
    assert rules.assignment_stamps(NOW, ago(1), 2) == [NOW, NOW + step]
    ahead = NOW + timedelta(seconds=5)  # stamped by a router whose clock runs ahead
    assert rules.assignment_stamps(NOW, ahead, 2) == [ahead + step, ahead + 2 * step]
    assert rules.assignment_stamps(NOW, NOW, 1) == [NOW + step]


def test_plan_least_busy_spreads_load() -> None:
    agents = [agent(1, active_chats=1), agent(2, idle_since=ago(3)), agent(3, idle_since=ago(9))]
    chats = [chat(i, waiting_since=ago(10 - i)) for i in range(1, 5)]
    plan = plan_assignments("least_busy", chats, agents, now=NOW, fallback_after=FALLBACK)
    # Ties on load go to the earliest idle_since, which planning leaves alone; the unknown one
    # (agent 1) ranks last among equals.
    assert plan == [(1, 3), (2, 2), (3, 3), (4, 2)]


def test_plan_serves_urgent_chats_first_when_capacity_is_short() -> None:
    agents = [agent(1, max_chats=1)]
    chats = [chat(1, waiting_since=ago(30)), chat(2, priority="urgent", waiting_since=ago(1))]
    plan = plan_assignments("round_robin", chats, agents, now=NOW, fallback_after=FALLBACK)
    assert plan == [(2, 1)]


def test_plan_lets_a_lower_chat_through_when_nobody_can_take_the_higher_one() -> None:
    agents = [agent(1, languages={"en"}, max_chats=1)]
    chats = [chat(1, priority="urgent", language="ja"), chat(2, priority="low", language="en")]
    plan = plan_assignments("least_busy", chats, agents, now=NOW, fallback_after=FALLBACK)
    assert plan == [(2, 1)]


def test_plan_honours_exclusions_and_fallback() -> None:
    agents = [agent(1, languages={"es"}), agent(2, languages={"en"})]
    chats = [
        chat(1, language="es", excluded_agent_ids=frozenset({1}), waiting_since=ago(9)),
        chat(2, language="es", waiting_since=ago(1)),
    ]
    plan = plan_assignments("round_robin", chats, agents, now=NOW, fallback_after=FALLBACK)
    assert plan == [(1, 2), (2, 1)]


def test_plan_assigns_a_repeated_conversation_once_and_keeps_inputs() -> None:
    agents = [agent(1), agent(2)]
    chats = [chat(1), chat(1)]
    before = (list(agents), list(chats))
    plan = plan_assignments("round_robin", chats, agents, now=NOW, fallback_after=FALLBACK)
    assert plan == [(1, 1)]
    assert (agents, chats) == before


def test_plan_rejects_duplicate_candidates() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        plan_assignments(
            "least_busy", [chat(1)], [agent(1), agent(1)], now=NOW, fallback_after=FALLBACK
        )


# --- properties ---------------------------------------------------------------------------

_times = st.one_of(st.none(), st.integers(0, 20).map(lambda m: ago(m)))
_languages = st.frozensets(st.sampled_from(["en", "es", "EN-us"]), max_size=2)
_skills = st.frozensets(st.sampled_from(["billing", "tech"]), max_size=2)


@st.composite
def _agents(draw: st.DrawFn) -> list[AgentCandidate]:
    agent_ids = draw(st.lists(st.integers(1, 12), unique=True, max_size=6))
    result = []
    for agent_id in agent_ids:
        max_chats = draw(st.integers(0, 3))
        result.append(
            AgentCandidate(
                id=agent_id,
                status=draw(st.sampled_from(["available", "available", "away", "offline"])),
                active_chats=draw(st.integers(0, 4)),
                max_chats=max_chats,
                skills=draw(_skills),
                languages=draw(_languages),
                last_assigned_at=draw(_times),
                idle_since=draw(_times),
                company_id=draw(st.sampled_from([1, 1, 2])),
            )
        )
    return result


@st.composite
def _chats(draw: st.DrawFn) -> list[ChatRequest]:
    conversation_ids = draw(st.lists(st.integers(1, 15), unique=True, max_size=10))
    chats = [
        ChatRequest(
            conversation_id=conversation_id,
            company_id=draw(st.sampled_from([1, 1, 2])),
            priority=draw(st.sampled_from(PRIORITIES)),
            language=draw(st.sampled_from([None, "en", "es", "de"])),
            skill=draw(st.sampled_from([None, "billing", "tech"])),
            waiting_since=ago(draw(st.integers(0, 12))),
            excluded_agent_ids=draw(st.frozensets(st.integers(1, 12), max_size=4)),
            blocked_agent_ids=draw(st.frozensets(st.integers(1, 12), max_size=2)),
        )
        for conversation_id in conversation_ids
    ]
    # The same row passed twice (e.g. read by two overlapping queries) must be planned once.
    repeats = draw(st.lists(st.sampled_from(chats), max_size=3)) if chats else []
    return chats + repeats


_scenario = {
    "strategy": st.sampled_from(STRATEGIES),
    "chats": _chats(),
    "agents": _agents(),
    "fallback_minutes": st.integers(0, 15),
}
_fast = settings(max_examples=200, deadline=None)


def _plan(
    strategy: str, chats: list[ChatRequest], agents: list[AgentCandidate], fallback_minutes: int
) -> list[tuple[int, int]]:
    fallback = timedelta(minutes=fallback_minutes)
    return plan_assignments(strategy, chats, agents, now=NOW, fallback_after=fallback)


def _load_after(
    plan: list[tuple[int, int]], agents: list[AgentCandidate]
) -> dict[int, AgentCandidate]:
    by_id = {a.id: a for a in agents}
    for _, agent_id in plan:
        a = by_id[agent_id]
        by_id[agent_id] = replace(a, active_chats=a.active_chats + 1, last_assigned_at=NOW)
    return by_id


@given(**_scenario)
@_fast
def test_plan_never_puts_an_agent_over_capacity(
    strategy: str, chats: list[ChatRequest], agents: list[AgentCandidate], fallback_minutes: int
) -> None:
    plan = _plan(strategy, chats, agents, fallback_minutes)
    original = {a.id: a for a in agents}
    for agent_id, a in _load_after(plan, agents).items():
        if a.active_chats > original[agent_id].active_chats:
            assert a.active_chats <= a.max_chats


@given(**_scenario)
@_fast
def test_plan_never_assigns_an_agent_of_another_company(
    strategy: str, chats: list[ChatRequest], agents: list[AgentCandidate], fallback_minutes: int
) -> None:
    plan = _plan(strategy, chats, agents, fallback_minutes)
    company_of_chat = {c.conversation_id: c.company_id for c in chats}
    company_of_agent = {a.id: a.company_id for a in agents}
    for conversation_id, agent_id in plan:
        assert company_of_agent[agent_id] == company_of_chat[conversation_id]


@given(**_scenario)
@_fast
def test_plan_never_assigns_a_chat_twice(
    strategy: str, chats: list[ChatRequest], agents: list[AgentCandidate], fallback_minutes: int
) -> None:
    plan = _plan(strategy, chats, agents, fallback_minutes)
    conversation_ids = [conversation_id for conversation_id, _ in plan]
    assert len(conversation_ids) == len(set(conversation_ids))


@given(**_scenario)
@_fast
def test_plan_never_assigns_an_agent_who_is_not_available(
    strategy: str, chats: list[ChatRequest], agents: list[AgentCandidate], fallback_minutes: int
) -> None:
    plan = _plan(strategy, chats, agents, fallback_minutes)
    status = {a.id: a.status for a in agents}
    assert all(status[agent_id] == "available" for _, agent_id in plan)


@given(**_scenario)
@_fast
def test_plan_serves_chats_in_queue_order(
    strategy: str, chats: list[ChatRequest], agents: list[AgentCandidate], fallback_minutes: int
) -> None:
    fallback = timedelta(minutes=fallback_minutes)
    plan = _plan(strategy, chats, agents, fallback_minutes)
    if strategy == "manual":
        assert plan == []
        return
    queue: list[ChatRequest] = []
    for c in order_queue(chats):
        if c.conversation_id not in {q.conversation_id for q in queue}:
            queue.append(c)
    position = {c.conversation_id: i for i, c in enumerate(queue)}
    assert [position[cid] for cid, _ in plan] == sorted(position[cid] for cid, _ in plan)

    # Replaying the plan in order: every pick was eligible at its turn, and every chat left
    # waiting had nobody eligible at its turn (and so, as load only grows, at the end).
    assigned = dict(plan)
    state = {a.id: a for a in agents}
    for c in queue:
        eligible = eligible_agents(c, state.values(), now=NOW, fallback_after=fallback)
        if c.conversation_id in assigned:
            agent_id = assigned[c.conversation_id]
            assert agent_id in ids(eligible)
            a = state[agent_id]
            state[agent_id] = replace(a, active_chats=a.active_chats + 1, last_assigned_at=NOW)
        else:
            assert eligible == []


@given(**_scenario)
@_fast
def test_higher_priority_chat_never_waits_while_a_lower_one_is_served(
    strategy: str, chats: list[ChatRequest], agents: list[AgentCandidate], fallback_minutes: int
) -> None:
    # Independent of order_queue: a waiting chat must have nobody eligible even when only the
    # load given to chats of its own priority or higher is counted, i.e. no lower-priority
    # chat took an agent it could have had. (manual leaves everything to the agents.)
    if strategy == "manual":
        return
    fallback = timedelta(minutes=fallback_minutes)
    plan = _plan(strategy, chats, agents, fallback_minutes)
    priority_of = {c.conversation_id: priority_rank(c.priority) for c in chats}
    for c in chats:
        if c.conversation_id in dict(plan):
            continue
        rank = priority_rank(c.priority)
        ahead = [(cid, aid) for cid, aid in plan if priority_of[cid] >= rank]
        state = list(_load_after(ahead, agents).values())
        assert eligible_agents(c, state, now=NOW, fallback_after=fallback) == []


@given(chats=_chats(), agents=_agents(), fallback_minutes=st.integers(0, 15))
@_fast
def test_manual_strategy_plans_nothing(
    chats: list[ChatRequest], agents: list[AgentCandidate], fallback_minutes: int
) -> None:
    assert _plan("manual", chats, agents, fallback_minutes) == []


@given(
    strategy=st.sampled_from(STRATEGIES),
    chats=_chats(),
    agents=_agents(),
    fallback_minutes=st.integers(0, 15),
    data=st.data(),
)
@_fast
def test_choice_does_not_depend_on_candidate_order(
    strategy: str,
    chats: list[ChatRequest],
    agents: list[AgentCandidate],
    fallback_minutes: int,
    data: st.DataObject,
) -> None:
    shuffled = data.draw(st.permutations(agents))
    fallback = timedelta(minutes=fallback_minutes)
    for c in chats:
        first = choose_agent(strategy, c, agents, now=NOW, fallback_after=fallback)
        second = choose_agent(strategy, c, shuffled, now=NOW, fallback_after=fallback)
        assert first == second


@given(chats=_chats(), agents=_agents(), fallback_minutes=st.integers(0, 15))
@_fast
def test_eligible_agents_satisfy_the_hard_constraints(
    chats: list[ChatRequest], agents: list[AgentCandidate], fallback_minutes: int
) -> None:
    fallback = timedelta(minutes=fallback_minutes)
    for c in chats:
        eligible = eligible_agents(c, agents, now=NOW, fallback_after=fallback)
        for a in eligible:
            assert a.company_id == c.company_id
            assert a.status == "available"
            assert a.active_chats < a.max_chats
            assert a.id not in c.blocked_agent_ids
        non_excluded = [a for a in eligible if a.id not in c.excluded_agent_ids]
        # Excluded agents appear only when nobody else is left (the reset).
        assert non_excluded == eligible or non_excluded == []


@given(
    history=st.lists(_times, min_size=1, max_size=7),
    batches=st.lists(st.tuples(st.integers(1, 25), st.integers(-120, 120)), min_size=1, max_size=8),
)
@_fast
def test_round_robin_counts_differ_by_at_most_one_over_any_batches(
    history: list[datetime | None], batches: list[tuple[int, int]]
) -> None:
    """Arrivals in batches of any size, every agent with room: after each batch the numbers of
    chats given to the agents differ by at most one. Each batch is planned by the real planner
    and persisted as `offer_chats` does (`assignment_stamps` after the latest stamp, in plan
    order); a batch's clock may lag or lead the one before (another router or lane)."""
    agents = {
        n: agent(n, max_chats=1000, last_assigned_at=stamp)
        for n, stamp in enumerate(history, start=1)
    }
    given_chats: Counter[int] = Counter()
    next_id = 1
    for turn, (size, skew_seconds) in enumerate(batches):
        now = NOW + timedelta(minutes=turn, seconds=skew_seconds)
        waiting = [chat(next_id + k, waiting_since=now - timedelta(seconds=1)) for k in range(size)]
        next_id += size
        plan = plan_assignments(
            "round_robin", waiting, agents.values(), now=now, fallback_after=FALLBACK
        )
        assert len(plan) == size
        latest = max(
            (a.last_assigned_at for a in agents.values() if a.last_assigned_at), default=None
        )
        stamps = rules.assignment_stamps(now, latest, len(plan))
        for (_, agent_id), stamp in zip(plan, stamps, strict=True):
            a = agents[agent_id]
            agents[agent_id] = replace(a, active_chats=a.active_chats + 1, last_assigned_at=stamp)
            given_chats[agent_id] += 1
        counts = [given_chats[n] for n in agents]
        assert max(counts) - min(counts) <= 1, counts
