"""③ Queue rules as pure functions: which queue an inbound chat joins, and what a queue's
configuration may say.

Like `routing_service.router.rules`, nothing here touches Django or the database: the router
hands in plain values (a compiled rule list, the facts of a new chat) so the rules can be
property-tested and cost no query per message.

Decisions:

- **First match wins**, in ``order`` then id; every key a rule's ``match`` names must hold; a
  rule with an empty ``match`` matches everything (a catch-all before the default).
- **language** compares primary subtags caselessly (``en`` matches ``en-GB``), as agents'
  languages do; **category** compares caselessly; **channel** is a channel id.
- **keywords** match the chat's first message as whole words or phrases, caselessly (the same
  matcher as the urgent keywords); any one keyword is enough.
- **vip** compares the client's VIP flag; **attribute** ``{name, value}`` compares one client
  attribute (strings caselessly; numbers and booleans exactly).
- **Overflow** follows one step at a time; a configuration whose overflow chain comes back to
  a queue already on it is refused at write time (`overflow_cycle`), so every chain ends.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from routing_service.router.rules import find_keyword_in, keyword_haystack

__all__ = [
    "AUTO_REPLY_KINDS",
    "MATCH_KEYS",
    "CompiledRule",
    "InboundFacts",
    "auto_reply_errors",
    "calendar_errors",
    "choose_queue",
    "compile_rule",
    "match_errors",
    "overflow_cycle",
]

MATCH_KEYS = frozenset({"channel", "language", "category", "keywords", "vip", "attribute"})
AUTO_REPLY_KINDS = ("on_arrival", "out_of_hours")
MAX_KEYWORDS = 50
MAX_TEXT = 200
MAX_TEMPLATE = 2000


@dataclass(frozen=True, slots=True)
class InboundFacts:
    """What the router knows of a new chat when it picks its queue (no query needed)."""

    channel_id: int
    language: str
    category: str
    text: str
    vip: bool
    attributes: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A validated rule, normalised once when the company's rules are loaded."""

    queue_id: int
    channel: int | None = None
    language: str | None = None
    category: str | None = None
    keywords: tuple[str, ...] = ()
    vip: bool | None = None
    attribute: tuple[str, Any] | None = None


def _language_key(language: str) -> str:
    return language.strip().replace("_", "-").split("-", 1)[0].casefold()


def _same_value(actual: Any, wanted: Any) -> bool:
    if isinstance(actual, str) and isinstance(wanted, str):
        return actual.strip().casefold() == wanted.strip().casefold()
    if isinstance(actual, bool) or isinstance(wanted, bool):
        return actual is wanted
    return bool(actual == wanted)


def match_errors(match: Any) -> dict[str, list[str]]:
    """Field errors of a rule's ``match`` object (empty: valid), keyed ``match.<key>``."""
    if not isinstance(match, dict):
        return {"match": ["Must be an object."]}
    errors: dict[str, list[str]] = {}

    def bad(key: str, message: str) -> None:
        errors.setdefault(f"match.{key}", []).append(message)

    for key in sorted(set(match) - MATCH_KEYS):
        bad(key, f"Unknown key; expected some of {', '.join(sorted(MATCH_KEYS))}.")
    if "channel" in match:
        value = match["channel"]
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            bad("channel", "Must be a channel id.")
    for key in ("language", "category"):
        if key in match:
            value = match[key]
            if not isinstance(value, str) or not value.strip() or len(value) > MAX_TEXT:
                bad(key, "Must be a non-empty string.")
    if "keywords" in match:
        value = match["keywords"]
        if (
            not isinstance(value, list)
            or not value
            or len(value) > MAX_KEYWORDS
            or not all(isinstance(k, str) and k.strip() and len(k) <= MAX_TEXT for k in value)
        ):
            bad("keywords", f"Must be a list of 1 to {MAX_KEYWORDS} non-empty strings.")
        elif not all(keyword_haystack(k).strip() for k in value):
            bad("keywords", "Every keyword needs a letter or digit.")
    if "vip" in match and not isinstance(match["vip"], bool):
        bad("vip", "Must be true or false.")
    if "attribute" in match:
        value = match["attribute"]
        if (
            not isinstance(value, dict)
            or set(value) != {"name", "value"}
            or not isinstance(value["name"], str)
            or not value["name"].strip()
            or not isinstance(value["value"], str | int | float | bool)
        ):
            bad("attribute", "Must be {name: string, value: string, number or boolean}.")
    return errors


def compile_rule(queue_id: int, match: Mapping[str, Any]) -> CompiledRule:
    """A rule ready for `choose_queue`; ``match`` must be valid (`match_errors`)."""
    attribute = match.get("attribute")
    language = match.get("language")
    category = match.get("category")
    return CompiledRule(
        queue_id=queue_id,
        channel=match.get("channel"),
        language=_language_key(language) if language else None,
        category=category.strip().casefold() if category else None,
        keywords=tuple(match.get("keywords") or ()),
        vip=match.get("vip"),
        attribute=(attribute["name"], attribute["value"]) if attribute else None,
    )


def choose_queue(rules: Sequence[CompiledRule], facts: InboundFacts, default_queue_id: int) -> int:
    """The queue of the first rule (in the given order) that ``facts`` match, else the default.

    The message is tokenised at most once, and only when a rule that names keywords is reached
    with its other conditions met: rules cost a few comparisons each.
    """
    language = _language_key(facts.language) if facts.language else ""
    category = facts.category.strip().casefold()
    haystack: str | None = None
    for rule in rules:
        if rule.channel is not None and rule.channel != facts.channel_id:
            continue
        if rule.language is not None and rule.language != language:
            continue
        if rule.category is not None and rule.category != category:
            continue
        if rule.vip is not None and rule.vip != facts.vip:
            continue
        if rule.attribute is not None:
            name, wanted = rule.attribute
            if name not in facts.attributes or not _same_value(facts.attributes[name], wanted):
                continue
        if rule.keywords:
            if haystack is None:
                haystack = keyword_haystack(facts.text)
            if find_keyword_in(haystack, rule.keywords) is None:
                continue
        return rule.queue_id
    return default_queue_id


def overflow_cycle(
    overflow_of: Mapping[int, int | None], queue_id: int, target: int | None
) -> list[int] | None:
    """The cycle that pointing ``queue_id``'s overflow at ``target`` would close, or None.

    ``overflow_of`` is every queue's current overflow target (the company's); the chain from
    ``target`` is followed until it ends or reaches ``queue_id``.
    """
    if target is None:
        return None
    chain = [queue_id]
    seen = {queue_id}
    current: int | None = target
    while current is not None:
        chain.append(current)
        if current in seen:
            return chain
        seen.add(current)
        current = overflow_of.get(current)
    return None


_CALENDAR_KEYS = frozenset(
    {
        "work_start",
        "work_end",
        "work_intervals",
        "weekdays",
        "include_weekends",
        "timezone",
        "holiday_country",
        "holiday_subdivision",
        "holidays",
    }
)


def calendar_errors(calendar: Any) -> dict[str, list[str]]:
    """Field errors of a queue's ``calendar`` (null: the company's), keyed ``calendar.<key>``.

    The same fields as an SLA policy's calendar; valid when `sla_engine` can build it.
    """
    from sla_engine.deadlines import calendar_from_fields

    if calendar is None:
        return {}
    if not isinstance(calendar, dict):
        return {"calendar": ["Must be an object or null."]}
    errors: dict[str, list[str]] = {}
    for key in sorted(set(calendar) - _CALENDAR_KEYS):
        errors[f"calendar.{key}"] = ["Unknown key."]
    weekdays = calendar.get("weekdays", [0, 1, 2, 3, 4])
    if not isinstance(weekdays, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= 6 for d in weekdays
    ):
        errors["calendar.weekdays"] = ["Must be a list of weekdays 0 (Monday) to 6."]
    intervals = calendar.get("work_intervals", [])
    if not isinstance(intervals, list) or not all(
        isinstance(pair, list) and len(pair) == 2 and all(isinstance(t, str) for t in pair)
        for pair in intervals
    ):
        errors["calendar.work_intervals"] = ['Must be a list of ["HH:MM", "HH:MM"] pairs.']
    if "include_weekends" in calendar and not isinstance(calendar["include_weekends"], bool):
        errors["calendar.include_weekends"] = ["Must be true or false."]
    holidays = calendar.get("holidays", [])
    if not isinstance(holidays, list) or not all(isinstance(d, str) for d in holidays):
        errors["calendar.holidays"] = ["Must be a list of YYYY-MM-DD dates."]
    for key in ("timezone", "holiday_country", "holiday_subdivision", "work_start", "work_end"):
        if key in calendar and not isinstance(calendar[key], str):
            errors[f"calendar.{key}"] = ["Must be a string."]
    if errors:
        return errors
    try:
        calendar_from_fields(calendar)
    except (ValueError, TypeError, KeyError) as exc:
        return {"calendar": [str(exc)]}
    return {}


def auto_reply_errors(auto_reply: Any) -> dict[str, list[str]]:
    """Field errors of ``auto_reply``: ``{on_arrival|out_of_hours: {enabled: bool,
    templates: {language: text}}}``, keyed ``auto_reply.<kind>`` (an unknown template variable:
    ``auto_reply.<kind>.templates.<language>``). An enabled kind needs at least one template."""
    if not isinstance(auto_reply, dict):
        return {"auto_reply": ["Must be an object."]}
    errors: dict[str, list[str]] = {}
    for key in sorted(set(auto_reply) - set(AUTO_REPLY_KINDS)):
        errors[f"auto_reply.{key}"] = [f"Unknown key; expected {' or '.join(AUTO_REPLY_KINDS)}."]
    for kind in AUTO_REPLY_KINDS:
        if kind not in auto_reply:
            continue
        value = auto_reply[kind]
        field = f"auto_reply.{kind}"
        if not isinstance(value, dict) or set(value) - {"enabled", "templates"}:
            errors[field] = ["Must be {enabled: bool, templates: {language: text}}."]
            continue
        enabled = value.get("enabled", False)
        templates = value.get("templates", {})
        if not isinstance(enabled, bool):
            errors[field] = ["enabled must be true or false."]
        elif not isinstance(templates, dict) or not all(
            isinstance(lang, str)
            and lang.strip()
            and len(lang) <= 16
            and isinstance(text, str)
            and text.strip()
            and len(text) <= MAX_TEMPLATE
            for lang, text in templates.items()
        ):
            errors[field] = [
                f"templates must map language codes to non-empty texts (≤ {MAX_TEMPLATE})."
            ]
        elif enabled and not templates:
            errors[field] = ["An enabled auto-reply needs at least one template."]
        else:
            from routing_service.queues.auto_reply import template_errors

            for lang, text in sorted(templates.items()):
                problems = template_errors(text)
                if problems:
                    errors[f"{field}.templates.{lang}"] = problems
    return errors


def waited_too_long(
    entered_at: dt.datetime, overflow_after_seconds: int | None, now: dt.datetime
) -> bool:
    """Whether a chat in its queue since ``entered_at`` is due to overflow by time."""
    if overflow_after_seconds is None:
        return False
    return now - entered_at >= dt.timedelta(seconds=overflow_after_seconds)
