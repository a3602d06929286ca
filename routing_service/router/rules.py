"""③ Routing rules: pure functions that decide priority, eligibility and who gets which chat.

The router worker (``run_router``) loads candidate agents and waiting chats under row locks,
turns them into the frozen dataclasses below and asks these functions what to do; it then
performs the writes itself. Nothing here touches Django or the database, so every rule can be
property-tested with hypothesis and reasoned about without a running system.

All datetimes passed in must be timezone-aware (the project runs with ``USE_TZ``); mixing
aware and naive values raises ``TypeError`` from the comparisons.

Decisions that the product brief left open:

- **Languages** match on the primary subtag, case-insensitively: an agent listing ``en``
  serves chats in ``en-GB`` and ``EN``. An agent with *no* languages listed matches only chats
  that name no language; the fallback after ``fallback_after`` keeps such chats from starving.
- **Skills** match case-insensitively after trimming; an agent with no skills takes only chats
  without a category (until the fallback).
- **Fallback** after the wait is literal: eligibility then ignores language and skill entirely
  (status, capacity, company and exclusions still apply).
- **Exclusion reset** is decided against the agents who are eligible right now (capacity
  included): if every one of them already declined, the exclusions are ignored. A decline's
  cool-down (``ChatRequest.blocked_agent_ids``) is not an exclusion: the reset never lifts it,
  so a chat its only possible agent just declined waits in the queue until the cool-down ends.
- **round_robin order** is strict: ``last_assigned_at`` is an ordering stamp, and every
  assignment gets one later than every stamp already given (``assignment_stamps``), even
  within one batch that shares one ``now`` and across routers whose clocks disagree. Ties
  (never assigned) go to the lowest id.
- **least_busy** ties on load go to the earliest ``idle_since``; an agent whose ``idle_since``
  is unknown (``None``) has not provably been waiting, so ranks after every known time.
- **Priorities**: a new chat starts at the payload's *requested* priority when it names a valid
  one (``low`` included), else at ``medium``; VIP clients and urgent keywords only ever raise
  it. A follow-up message never lowers an open chat's priority, whatever it requests: the
  chat's due times, and any warning or breach already recorded, were measured against it, and
  a customer (or a provider that always sends a default) must not calm down a chat that a
  keyword, the VIP rule or the escalation ladder raised. A follow-up may raise it. A chat
  opened after the previous one closed starts afresh. An invalid requested priority
  (untrusted payload) is ignored; an invalid ``vip_priority`` or ``current`` is a bug
  upstream and raises ``ValueError``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Protocol, TypeVar

__all__ = [
    "AGENT_STATUSES",
    "PRIORITIES",
    "STRATEGIES",
    "AgentCandidate",
    "ChatRequest",
    "QueuePlan",
    "QueuedChat",
    "assignment_stamps",
    "choose_agent",
    "detect_priority",
    "eligible_agents",
    "find_keyword_in",
    "find_urgent_keyword",
    "keyword_haystack",
    "order_queue",
    "plan_assignments",
    "plan_queue_assignments",
    "priority_rank",
]

PRIORITIES: tuple[str, ...] = ("low", "medium", "high", "urgent")
"""Chat priorities, lowest first; the index is the rank."""

AGENT_STATUSES: tuple[str, ...] = ("available", "away", "offline")
STRATEGIES: tuple[str, ...] = ("round_robin", "least_busy", "manual")

DEFAULT_PRIORITY = "medium"
_RANK = {p: i for i, p in enumerate(PRIORITIES)}


def priority_rank(priority: str) -> int:
    """Rank of a priority (``low`` = 0 … ``urgent`` = 3); raises ``ValueError`` if unknown."""
    try:
        return _RANK[priority]
    except KeyError:
        raise ValueError(f"unknown priority {priority!r}; expected one of {PRIORITIES}") from None


# --- priority detection -------------------------------------------------------------------

# Scripts written without spaces between words: "whole word" means nothing there, so each
# character is its own token and a keyword matches as a run of characters (紧急 in 这是紧急情况).
_UNSPACED_RANGES: tuple[tuple[int, int], ...] = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x31F0, 0x31FF),  # Katakana phonetic extensions
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0x20000, 0x3FFFF),  # CJK extensions B and later
)


def _is_unspaced(ch: str) -> bool:
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in _UNSPACED_RANGES)


def _is_word_char(ch: str) -> bool:
    # Combining marks (category M) belong to their word: Python's \w / isalnum() reject them,
    # which would split Devanagari or decomposed Latin words in the middle.
    return ch.isalnum() or ch == "_" or unicodedata.category(ch).startswith("M")


def _fold(text: str) -> str:
    """Unicode caseless form: NFKC, casefold, NFKC again (casefold can denormalise)."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())


# ASCII text (most messages) has no marks, no unspaced scripts and folds by lower(): the same
# tokens as the general loop below, found by one regular expression instead of per character.
_ASCII_WORD = re.compile(r"[a-z0-9_]+")


def _tokens(text: str) -> list[str]:
    """Casefolded words of ``text``; punctuation and whitespace separate words."""
    if text.isascii():
        return _ASCII_WORD.findall(text.lower())
    return _unicode_tokens(text)


def _unicode_tokens(text: str) -> list[str]:
    tokens: list[str] = []
    word: list[str] = []
    for ch in _fold(text):
        if _is_word_char(ch) and not _is_unspaced(ch):
            word.append(ch)
            continue
        if word:
            tokens.append("".join(word))
            word = []
        if _is_unspaced(ch):
            tokens.append(ch)
    if word:
        tokens.append("".join(word))
    return tokens


@lru_cache(maxsize=1024)
def _keyword_pattern(keyword: str) -> str:
    # Tokens never contain spaces, so " a b " occurring in " x a b y " is exactly a match of
    # consecutive whole tokens.
    tokens = _tokens(keyword)
    return f" {' '.join(tokens)} " if tokens else ""


def keyword_haystack(text: str) -> str:
    """``text`` tokenised once for `find_keyword_in`: many keyword lists (queue rules) can then
    be checked against one message without tokenising it again."""
    return f" {' '.join(_tokens(text))} "


def find_urgent_keyword(text: str, keywords: Sequence[str]) -> str | None:
    """The first keyword found in ``text`` as a whole word or phrase, or ``None``.

    Caseless and Unicode-aware: ``ASAP`` matches ``asap``, ``straße`` matches ``STRASSE``,
    ``data breach`` matches ``Data-Breach!``, but ``asap`` does not match ``wasaps``. A keyword
    with no letters or digits at all matches nothing.
    """
    if isinstance(keywords, str):
        # A bare string is a Sequence[str] of single letters, which would match almost anything.
        raise TypeError("keywords must be a sequence of strings, not a string")
    if not keywords:
        return None
    return find_keyword_in(keyword_haystack(text), keywords)


def find_keyword_in(haystack: str, keywords: Sequence[str]) -> str | None:
    """`find_urgent_keyword` over a `keyword_haystack` already built."""
    for keyword in keywords:
        pattern = _keyword_pattern(keyword)
        if pattern and pattern in haystack:
            return keyword
    return None


def detect_priority(
    text: str,
    requested: str | None,
    *,
    is_vip: bool,
    urgent_keywords: Sequence[str],
    vip_priority: str = "high",
    current: str | None = None,
) -> str:
    """The priority of a conversation after a new inbound message.

    The base is the conversation's ``current`` priority for a follow-up, or for a new chat
    (``current=None``) the payload's ``requested`` priority when valid (compared caselessly,
    ignored otherwise since the payload is untrusted), else ``medium``. The result is the
    maximum of that base; ``requested`` (a follow-up may ask for more, never for less);
    ``vip_priority`` for VIP clients; and ``urgent`` when ``text`` contains an urgent keyword.
    """
    priority_rank(vip_priority)  # validate configuration even for non-VIP clients
    normalised = None if requested is None else requested.strip().casefold()
    wanted = normalised if normalised in _RANK else None
    if current is not None:
        priority_rank(current)
        candidates = [current]
    else:
        candidates = [wanted or DEFAULT_PRIORITY]
    if wanted is not None:
        candidates.append(wanted)
    if is_vip:
        candidates.append(vip_priority)
    if find_urgent_keyword(text, urgent_keywords) is not None:
        candidates.append("urgent")
    return max(candidates, key=priority_rank)


# --- values the worker passes in ----------------------------------------------------------


def _as_frozenset(value: Iterable[str], name: str) -> frozenset[str]:
    if isinstance(value, str):
        raise TypeError(f"{name} must be a collection of strings, not a string")
    return value if isinstance(value, frozenset) else frozenset(value)


@dataclass(frozen=True, slots=True)
class AgentCandidate:
    """An agent as the router sees them at the moment of deciding (read under a row lock).

    ``idle_since`` is when their load last dropped to zero or they became available.
    """

    id: int
    status: str
    active_chats: int
    max_chats: int
    skills: frozenset[str]
    languages: frozenset[str]
    last_assigned_at: datetime | None
    idle_since: datetime | None
    company_id: int

    def __post_init__(self) -> None:
        if self.status not in AGENT_STATUSES:
            raise ValueError(f"unknown agent status {self.status!r}")
        if self.active_chats < 0 or self.max_chats < 0:
            raise ValueError("active_chats and max_chats must not be negative")
        # Accept any iterable from the worker (lists from a JSON/array column) but keep the
        # dataclass hashable and immutable.
        object.__setattr__(self, "skills", _as_frozenset(self.skills, "skills"))
        object.__setattr__(self, "languages", _as_frozenset(self.languages, "languages"))

    @property
    def has_capacity(self) -> bool:
        return self.active_chats < self.max_chats


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """A waiting chat. ``excluded_agent_ids`` declined or let the offer expire this round (the
    round starts over when nobody else is left); ``blocked_agent_ids`` must not be offered it
    at all now (a decline's cool-down is running), whoever else is left."""

    conversation_id: int
    company_id: int
    priority: str
    language: str | None
    skill: str | None
    waiting_since: datetime
    excluded_agent_ids: frozenset[int] = frozenset()
    blocked_agent_ids: frozenset[int] = frozenset()
    # The named queue it waits in (`plan_queue_assignments`); None: the only queue there is.
    queue_id: int | None = None

    def __post_init__(self) -> None:
        priority_rank(self.priority)
        if not isinstance(self.excluded_agent_ids, frozenset):
            object.__setattr__(self, "excluded_agent_ids", frozenset(self.excluded_agent_ids))
        if not isinstance(self.blocked_agent_ids, frozenset):
            object.__setattr__(self, "blocked_agent_ids", frozenset(self.blocked_agent_ids))


class QueuedChat(Protocol):
    """Anything queue-ordered: ``ChatRequest`` or a lighter row with the same attributes."""

    @property
    def conversation_id(self) -> int: ...
    @property
    def priority(self) -> str: ...
    @property
    def waiting_since(self) -> datetime: ...


QueuedChatT = TypeVar("QueuedChatT", bound=QueuedChat)


# --- eligibility and choice ---------------------------------------------------------------


def _language_key(language: str) -> str:
    return language.strip().replace("_", "-").split("-", 1)[0].casefold()


def _skill_key(skill: str) -> str:
    return skill.strip().casefold()


def _speaks(agent: AgentCandidate, language_key: str) -> bool:
    return any(_language_key(lang) == language_key for lang in agent.languages)


def _has_skill(agent: AgentCandidate, skill_key: str) -> bool:
    return any(_skill_key(skill) == skill_key for skill in agent.skills)


def eligible_agents(
    chat: ChatRequest,
    candidates: Iterable[AgentCandidate],
    *,
    now: datetime,
    fallback_after: timedelta,
) -> list[AgentCandidate]:
    """Agents who may be offered ``chat`` now, in the order given.

    Always required: same company, ``available``, ``active_chats < max_chats``. Until the chat
    has waited ``fallback_after`` the agent must also speak its language and have its skill
    (when the chat names them; blank counts as unnamed); after that, anyone free will do.
    Agents in ``excluded_agent_ids`` are left out unless that would leave nobody, in which
    case the round starts over and the excluded agents are eligible again. Agents in
    ``blocked_agent_ids`` are always left out.
    """
    fallback = now - chat.waiting_since >= fallback_after
    language_key = "" if fallback or chat.language is None else _language_key(chat.language)
    skill_key = "" if fallback or chat.skill is None else _skill_key(chat.skill)

    base = [
        agent
        for agent in candidates
        if agent.company_id == chat.company_id
        and agent.id not in chat.blocked_agent_ids
        and agent.status == "available"
        and agent.has_capacity
        and (not language_key or _speaks(agent, language_key))
        and (not skill_key or _has_skill(agent, skill_key))
    ]
    not_excluded = [agent for agent in base if agent.id not in chat.excluded_agent_ids]
    return not_excluded or base


# The step between two assignment stamps: the resolution of PostgreSQL's timestamptz, so a
# stamp survives the round trip through the database unchanged and still orders strictly.
STAMP_STEP = timedelta(microseconds=1)


def assignment_stamps(now: datetime, latest: datetime | None, count: int) -> list[datetime]:
    """``count`` strictly increasing ``last_assigned_at`` stamps for assignments made in order.

    Each is later than ``latest`` (the newest stamp already given among the agents that rotate
    together) and none is earlier than ``now``: picks within one batch, which share one
    ``now``, still come out in the order they were made, and a router whose clock lags
    another's never stamps an assignment as older than one already made.
    """
    first = now if latest is None or latest < now else latest + STAMP_STEP
    return [first + STAMP_STEP * n for n in range(count)]


def _round_robin_pick(
    agents: Sequence[AgentCandidate], skill_levels: Mapping[int, int]
) -> AgentCandidate:
    # Stamps are strictly increasing, so only never-assigned agents can tie: the higher queue
    # skill level goes first among them.
    never = [a for a in agents if a.last_assigned_at is None]
    if never:
        return min(never, key=lambda a: (-skill_levels.get(a.id, 0), a.id))
    return min(agents, key=lambda a: (a.last_assigned_at, a.id))


def _least_busy_pick(
    agents: Sequence[AgentCandidate], skill_levels: Mapping[int, int]
) -> AgentCandidate:
    lowest = min(a.active_chats for a in agents)
    least = [a for a in agents if a.active_chats == lowest]
    if skill_levels:
        # Equal load: the higher skill level in the chat's queue, then the longest idle.
        top = max(skill_levels.get(a.id, 0) for a in least)
        least = [a for a in least if skill_levels.get(a.id, 0) == top]
    known = [a for a in least if a.idle_since is not None]
    if known:
        return min(known, key=lambda a: (a.idle_since, a.id))
    return min(least, key=lambda a: a.id)


def _check_strategy(strategy: str) -> None:
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown routing strategy {strategy!r}; expected one of {STRATEGIES}")


def choose_agent(
    strategy: str,
    chat: ChatRequest,
    candidates: Iterable[AgentCandidate],
    *,
    now: datetime,
    fallback_after: timedelta,
    skill_levels: Mapping[int, int] | None = None,
) -> AgentCandidate | None:
    """The agent to offer ``chat`` to, or ``None`` to leave it queued.

    ``round_robin``: the eligible agent assigned least recently (never-assigned first, by
    higher ``skill_levels`` then id). ``least_busy``: fewest active chats, then higher
    ``skill_levels`` (the agents' levels in the chat's queue), then longest idle (earliest
    ``idle_since``, unknown last), then id. ``manual``: always ``None``; agents pick from the
    queue themselves. The result does not depend on the order of ``candidates``.
    """
    _check_strategy(strategy)
    if strategy == "manual":
        return None
    agents = eligible_agents(chat, candidates, now=now, fallback_after=fallback_after)
    if not agents:
        return None
    levels = skill_levels or {}
    if strategy == "round_robin":
        return _round_robin_pick(agents, levels)
    return _least_busy_pick(agents, levels)


def order_queue(chats: Iterable[QueuedChatT]) -> list[QueuedChatT]:
    """Chats in serving order: highest priority, then longest waiting, then conversation id."""
    return sorted(
        chats, key=lambda c: (-priority_rank(c.priority), c.waiting_since, c.conversation_id)
    )


def plan_assignments(
    strategy: str,
    waiting_chats: Iterable[ChatRequest],
    candidates: Iterable[AgentCandidate],
    *,
    now: datetime,
    fallback_after: timedelta,
) -> list[tuple[int, int]]:
    """``(conversation_id, agent_id)`` pairs to offer, in queue order, after capacity freed.

    Greedy over the queue: each chat goes to ``choose_agent``'s pick given the assignments
    already planned in this call (the pick's ``active_chats`` goes up by one and its
    ``last_assigned_at`` becomes the next of ``assignment_stamps``, later than every stamp
    before it), so round robin rotates within the batch, no agent goes over capacity and a chat
    is only skipped when nobody eligible is left for it. The caller persists the same order
    by stamping the plan's assignments, in plan order, with ``assignment_stamps``. A
    conversation listed twice is planned once. Inputs are not modified. Candidate ids must be
    unique.
    """
    _check_strategy(strategy)
    if strategy == "manual":
        return []
    agents, stamp = _by_id_and_first_stamp(candidates, now)
    plan: list[tuple[int, int]] = []
    planned: set[int] = set()
    for chat in order_queue(waiting_chats):
        if chat.conversation_id in planned:
            continue
        pick = choose_agent(strategy, chat, agents.values(), now=now, fallback_after=fallback_after)
        if pick is None:
            continue
        agents[pick.id] = replace(pick, active_chats=pick.active_chats + 1, last_assigned_at=stamp)
        stamp += STAMP_STEP
        planned.add(chat.conversation_id)
        plan.append((chat.conversation_id, pick.id))
    return plan


def _by_id_and_first_stamp(
    candidates: Iterable[AgentCandidate], now: datetime
) -> tuple[dict[int, AgentCandidate], datetime]:
    """The candidates by id (ids must be unique) and the stamp a plan's first offer gets."""
    agents: dict[int, AgentCandidate] = {}
    for agent in candidates:
        if agent.id in agents:
            raise ValueError(f"duplicate candidate agent id {agent.id}")
        agents[agent.id] = agent
    latest = max((a.last_assigned_at for a in agents.values() if a.last_assigned_at), default=None)
    return agents, assignment_stamps(now, latest, 1)[0]


@dataclass(frozen=True, slots=True)
class QueuePlan:
    """How one named queue is served: its strategy (the company's when the queue names none)
    and its members, agent id → skill level (1–10)."""

    strategy: str
    members: Mapping[int, int]


def plan_queue_assignments(
    queues: Mapping[int, QueuePlan],
    waiting_chats: Iterable[ChatRequest],
    candidates: Iterable[AgentCandidate],
    *,
    now: datetime,
    fallback_after: timedelta,
) -> list[tuple[int, int]]:
    """`plan_assignments` over a company's named queues: each chat is offered only to members
    of its queue (``ChatRequest.queue_id``), by its queue's strategy, with the members' skill
    levels breaking ties. One greedy pass in company-wide queue order (priority, then wait), so
    an agent in several queues takes the most pressing chat first and capacity is shared. A
    chat whose queue is unknown, manual or has no eligible member stays queued.
    """
    for plan_ in queues.values():
        _check_strategy(plan_.strategy)
    agents, stamp = _by_id_and_first_stamp(candidates, now)
    plan: list[tuple[int, int]] = []
    planned: set[int] = set()
    for chat in order_queue(waiting_chats):
        queue = queues.get(chat.queue_id) if chat.queue_id is not None else None
        if queue is None or queue.strategy == "manual" or chat.conversation_id in planned:
            continue
        members = [agents[i] for i in queue.members if i in agents]
        pick = choose_agent(
            queue.strategy,
            chat,
            members,
            now=now,
            fallback_after=fallback_after,
            skill_levels=queue.members,
        )
        if pick is None:
            continue
        agents[pick.id] = replace(pick, active_chats=pick.active_chats + 1, last_assigned_at=stamp)
        stamp += STAMP_STEP
        planned.add(chat.conversation_id)
        plan.append((chat.conversation_id, pick.id))
    return plan
