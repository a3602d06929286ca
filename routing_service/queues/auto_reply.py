"""③ What the customer hears: the pure rules of a queue's automatic messages.

Nothing here touches the database: the sending action (`auto_reply_actions`) hands in plain
values, so template checks, the choice of language and the wait arithmetic can be tested
alone and the API/admin validation costs no query.

Decisions:

- **Variables** are written ``{{name}}`` (spaces inside the braces allowed):
  ``{{position}}`` (1 = next in line), ``{{wait_minutes}}`` (whole minutes, see below),
  ``{{queue.name}}``, ``{{next_opening}}`` (the next opening time of the queue's calendar,
  formatted for the chat's language in the calendar's time zone; "now" while open),
  ``{{company.name}}`` and ``{{client.name}}``. Any other name is refused at write time.
- **Language**: the template for the chat's language (exact tag, then its primary subtag),
  else the one for the default language (``settings.LANGUAGE_CODE``), else the built-in text,
  translated through gettext into the chat's language (English when it has no catalogue).
- **Expected wait** is never a promise we cannot keep: the forecast's expected wait (else the
  window's ASA, else nothing), never less than the queue's current longest wait, rounded *up*
  to whole minutes and at least 1 (the chat was not answered at once, or it would get no
  message).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

__all__ = [
    "BUILT_IN",
    "VARIABLES",
    "choose_template",
    "is_enabled",
    "render",
    "template_errors",
    "wait_minutes",
]

VARIABLES = frozenset(
    {"position", "wait_minutes", "queue.name", "next_opening", "company.name", "client.name"}
)
_VARIABLE = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")

BUILT_IN: Mapping[str, Promise] = {
    "on_arrival": _(
        "Thanks for your message. You are number {{position}} in the queue; the expected "
        "wait is about {{wait_minutes}} minutes."
    ),
    "out_of_hours": _(
        "Thanks for your message. We are closed right now; we will answer from {{next_opening}}."
    ),
}


def template_errors(text: str) -> list[str]:
    """The unknown variables a template names (empty: valid)."""
    unknown = sorted({name for name in _VARIABLE.findall(text) if name not in VARIABLES})
    if not unknown:
        return []
    known = ", ".join("{{" + v + "}}" for v in sorted(VARIABLES))
    return [f"Unknown variable {', '.join(unknown)}; expected some of {known}."]


def is_enabled(auto_reply: Any, kind: str) -> bool:
    """Whether a queue's stored ``auto_reply`` turns ``kind`` on."""
    value = auto_reply.get(kind) if isinstance(auto_reply, dict) else None
    return isinstance(value, dict) and value.get("enabled") is True


def _primary(language: str) -> str:
    return language.strip().replace("_", "-").split("-", 1)[0].casefold()


def choose_template(auto_reply: Any, kind: str, language: str, default_language: str) -> str | None:
    """The stored template for the chat's language, else the default language's; None: use
    the built-in text."""
    value = auto_reply.get(kind) if isinstance(auto_reply, dict) else None
    templates = value.get("templates") if isinstance(value, dict) else None
    if not isinstance(templates, dict) or not templates:
        return None
    by_tag = {str(k).strip().replace("_", "-").casefold(): v for k, v in templates.items()}
    by_primary: dict[str, str] = {}
    for tag, text in by_tag.items():
        by_primary.setdefault(_primary(tag), text)
    for wanted in (language, default_language):
        if not wanted:
            continue
        tag = wanted.strip().replace("_", "-").casefold()
        if tag in by_tag:
            return str(by_tag[tag])
        if _primary(tag) in by_primary:
            return str(by_primary[_primary(tag)])
    return None


def render(template: str, values: Mapping[str, object]) -> str:
    """Fill the variables in; a variable without a value renders empty."""
    return _VARIABLE.sub(lambda m: str(values.get(m.group(1), "")), template)


def wait_minutes(
    expected_wait_seconds: float | None, asa_seconds: float | None, longest_wait_seconds: float
) -> int:
    """The wait to announce, in whole minutes (module docstring: never optimistic)."""
    estimate = expected_wait_seconds if expected_wait_seconds is not None else asa_seconds
    seconds = max(estimate or 0.0, longest_wait_seconds or 0.0)
    return max(1, math.ceil(seconds / 60))
