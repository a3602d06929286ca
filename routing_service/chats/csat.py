"""Satisfaction surveys (CSAT): the pure rules, no ORM.

A channel opts in with `config.csat = {"enabled": true, "question": "..."}`. When a chat on it
is resolved, `resolve_assignment` sends the question through the provider (an outbound message
marked `csat_survey` whose `quick_replies` become a Telegram inline keyboard or a WhatsApp
interactive list; other providers get the text). The client row remembers the survey until
`csat_due_at` (`CSAT_WINDOW_HOURS`, default 24). The customer's next message in that window is
read by `parse_answer`: a digit 1–5, optionally followed by a comment ("4 quick and friendly"),
or a tapped button/list row whose id is `csat:<n>`. An answer is recorded on the resolved chat
and does not reopen it; anything else ends the survey and is routed as a new chat.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

DEFAULT_QUESTION: Final = (
    "How would you rate our help? Reply with a number from 1 (poor) to 5 (excellent), "
    "optionally followed by a comment."
)
MAX_QUESTION_LENGTH: Final = 1000
MAX_COMMENT_LENGTH: Final = 2000
ANSWER_ID_PREFIX: Final = "csat:"
SURVEY_KEY: Final = "csat_survey"
QUICK_REPLIES_KEY: Final = "quick_replies"
# The buttons' labels: the digit first, so a customer who types the label back is understood.
LABELS: Final = {
    1: "1 · Poor",
    2: "2 · Fair",
    3: "3 · Good",
    4: "4 · Very good",
    5: "5 · Excellent",
}
# A digit 1-5 standing alone, maybe "/5", then the end or a separator and a comment.
# "10", "1.5" and "3,2" are not ratings.
_ANSWER: Final = re.compile(
    r"\s*(?P<rating>[1-5])(?!\d)(?!\s*[.,]\s*\d)(?:\s*/\s*5)?(?P<rest>.*)", re.DOTALL
)
_SEPARATOR: Final = re.compile(r"^[\s.,;:!?\-–—·)*★⭐]+")


@dataclass(frozen=True)
class SurveyConfig:
    enabled: bool
    question: str


@dataclass(frozen=True)
class Answer:
    rating: int
    comment: str


def survey_config(channel_config: Mapping[str, Any] | None) -> SurveyConfig:
    """The channel's survey settings (off unless `config.csat.enabled` is true)."""
    raw = (channel_config or {}).get("csat")
    if not isinstance(raw, Mapping):
        return SurveyConfig(False, DEFAULT_QUESTION)
    question = raw.get("question")
    if not isinstance(question, str) or not question.strip():
        question = DEFAULT_QUESTION
    return SurveyConfig(raw.get("enabled") is True, question.strip())


def validate_config(value: Any) -> list[str]:
    """What is wrong with a channel's `config.csat` (empty when it is usable)."""
    if not isinstance(value, Mapping):
        return ['Must be an object: {"enabled": true|false, "question": "..."}.']
    errors: list[str] = []
    unknown = sorted(set(value) - {"enabled", "question"})
    if unknown:
        errors.append(f"Unknown keys: {', '.join(unknown)}; allowed are enabled and question.")
    if "enabled" in value and not isinstance(value["enabled"], bool):
        errors.append("enabled must be true or false.")
    question = value.get("question")
    if question is not None:
        if not isinstance(question, str):
            errors.append("question must be text.")
        elif len(question) > MAX_QUESTION_LENGTH:
            errors.append(f"question is at most {MAX_QUESTION_LENGTH} characters.")
    return errors


def quick_replies() -> list[dict[str, str]]:
    """The answers offered as buttons, `[{"id": "csat:5", "title": "5 · Excellent"}, ...]`."""
    return [{"id": f"{ANSWER_ID_PREFIX}{n}", "title": LABELS[n]} for n in range(5, 0, -1)]


def _button_id(metadata: Mapping[str, Any]) -> str:
    """The id of a tapped button: Telegram callback data, WhatsApp button or list reply, or a
    generic sender's `metadata.quick_reply`."""
    for key in ("callback_data", "quick_reply"):
        data = metadata.get(key)
        if isinstance(data, str):
            return data
    interactive = metadata.get("interactive")
    if isinstance(interactive, Mapping):
        for key in ("button_reply", "list_reply"):
            reply = interactive.get(key)
            if isinstance(reply, Mapping) and isinstance(reply.get("id"), str):
                return str(reply["id"])
    return ""


def parse_answer(text: str, metadata: Mapping[str, Any] | None = None) -> Answer | None:
    """The rating and comment a customer's message gives, or None if it is not an answer."""
    button = _button_id(metadata or {})
    if button.startswith(ANSWER_ID_PREFIX):
        digits = button.removeprefix(ANSWER_ID_PREFIX)
        if digits in {"1", "2", "3", "4", "5"}:
            return Answer(int(digits), "")
        return None
    match = _ANSWER.fullmatch(text or "")
    if match is None:
        return None
    rest = match["rest"]
    if rest and not _SEPARATOR.match(rest):
        return None  # "3rd time I ask" is not a rating
    comment = _SEPARATOR.sub("", rest).strip()
    return Answer(int(match["rating"]), comment[:MAX_COMMENT_LENGTH])
