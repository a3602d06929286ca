"""Pure rules of the agent's workspace: mentions in notes, canned-response variables, client
attributes and label colours. Plain values in and out (no ORM), so they are tested alone."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

# --- mentions ------------------------------------------------------------------------------

# `@username` at the start or after a non-word character (so "me@example.com" mentions nobody).
# Django usernames take letters, digits and @ . + - _; a trailing dot or dash ends a sentence.
_MENTION = re.compile(r"(?<![\w@.+-])@([\w.+-]{1,150})")
MAX_MENTIONS = 20


def mentioned_usernames(text: str) -> list[str]:
    """The usernames a note names, in order of first mention, at most MAX_MENTIONS."""
    names: dict[str, None] = {}
    for match in _MENTION.finditer(text):
        name = match.group(1).rstrip(".-+")
        if name:
            names.setdefault(name, None)
        if len(names) >= MAX_MENTIONS:
            break
    return list(names)


# --- canned responses ----------------------------------------------------------------------

CANNED_VARIABLES = ("client.name", "agent.name", "company.name")
# `{{ name }}` with optional spaces: the only syntax there is. No filters, no tags, no
# attribute lookups — user text is never given to a template engine.
_VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][\w.]*)\s*\}\}")


def unknown_variables(text: str) -> list[str]:
    """Variables in `text` that `render_canned` would not know, in order, once each."""
    seen: dict[str, None] = {}
    for match in _VARIABLE.finditer(text):
        if match.group(1) not in CANNED_VARIABLES:
            seen.setdefault(match.group(1), None)
    return list(seen)


def render_canned(text: str, values: Mapping[str, str]) -> str:
    """Substitute the known variables; an unknown one (or one without a value) stays as typed.

    One pass over the text: a value that itself contains `{{…}}` is inserted as is, never
    expanded again.
    """

    def substitute(match: re.Match[str]) -> str:
        value = values.get(match.group(1))
        return match.group(0) if value is None else value

    return _VARIABLE.sub(substitute, text)


# --- client attributes ---------------------------------------------------------------------

MAX_ATTRIBUTES = 50
MAX_ATTRIBUTE_KEY = 64
MAX_ATTRIBUTE_VALUE = 1000
MAX_ATTRIBUTES_BYTES = 16_384


def attribute_errors(value: Any) -> list[str]:
    """Why `value` is not a valid attributes object (empty list: it is).

    A flat JSON object: string keys of 1–64 characters, values that are strings (≤ 1,000
    characters), numbers, booleans or null; at most 50 keys and 16 KiB as JSON.
    """
    if not isinstance(value, dict):
        return ["Must be a JSON object."]
    errors: list[str] = []
    if len(value) > MAX_ATTRIBUTES:
        errors.append(f"At most {MAX_ATTRIBUTES} attributes.")
    for key, item in value.items():
        if not isinstance(key, str) or not key.strip() or len(key) > MAX_ATTRIBUTE_KEY:
            errors.append(f"Keys are 1 to {MAX_ATTRIBUTE_KEY} characters: {str(key)[:70]!r}.")
            continue
        if isinstance(item, dict | list):
            errors.append(f"{key}: values are strings, numbers, booleans or null.")
        elif isinstance(item, str) and len(item) > MAX_ATTRIBUTE_VALUE:
            errors.append(f"{key}: at most {MAX_ATTRIBUTE_VALUE} characters.")
        elif isinstance(item, float) and item != item:  # NaN is not JSON
            errors.append(f"{key}: not a number.")
    if not errors and len(json.dumps(value, ensure_ascii=False).encode()) > MAX_ATTRIBUTES_BYTES:
        errors.append(f"At most {MAX_ATTRIBUTES_BYTES} bytes as JSON.")
    return errors


# --- labels --------------------------------------------------------------------------------

_COLOR = re.compile(r"#[0-9a-fA-F]{6}")


def is_color(value: str) -> bool:
    """`#rrggbb`, as an `<input type="color">` gives it."""
    return bool(_COLOR.fullmatch(value))


def client_identities(external_id: str) -> list[dict[str, str]]:
    """The provider identity a client's external id stands for ("telegram:42" → telegram 42;
    generic ids carry no prefix)."""
    provider, sep, rest = external_id.partition(":")
    if sep and provider in {"telegram", "twilio", "whatsapp"} and rest:
        return [{"provider": provider, "id": rest}]
    return [{"provider": "generic", "id": external_id}]
