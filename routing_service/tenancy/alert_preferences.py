"""Console alert preferences: which happenings ring a sound or raise a desktop notification.

Pure rules over plain values (no ORM): the keys a person may switch and their defaults, and
the validation of a change. Stored on the user (`User.console_alerts`) by
`tenancy.actions.set_console_alerts`, so the choice follows them to every browser; the console
(frontend_static/console/desktop-alerts.js) reads it from its page config. Either way the
console stays silent while its tab has the focus: the person is looking at it already.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# What may alert (a new offer, an urgent alert, an SLA warning or breach) × how.
KINDS = ("offer", "urgent", "sla")
CHANNELS = ("desktop", "sound")
KEYS = tuple(f"{kind}_{channel}" for kind in KINDS for channel in CHANNELS)
# Everything on: a desktop notification still needs the browser's permission, which the
# console only asks for when the person presses its button, never on load.
DEFAULTS: dict[str, bool] = dict.fromkeys(KEYS, True)


class PreferenceError(ValueError):
    """A change that names an unknown key or a non-boolean value; `errors` maps field →
    messages, like every JSON 400 of the site."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = errors


def effective(stored: Mapping[str, Any] | None) -> dict[str, bool]:
    """The full set of switches: the stored ones over the defaults (unknown keys dropped)."""
    stored = stored or {}
    return {key: bool(stored.get(key, default)) for key, default in DEFAULTS.items()}


def apply_change(stored: Mapping[str, Any] | None, change: object) -> dict[str, bool]:
    """The switches after `change` (a partial mapping of key → bool); raises PreferenceError."""
    if not isinstance(change, Mapping):
        raise PreferenceError({"non_field_errors": ["Expected a JSON object of switches."]})
    errors: dict[str, list[str]] = {}
    for key, value in change.items():
        if key not in DEFAULTS:
            errors[str(key)] = [f"Unknown switch; expected one of: {', '.join(KEYS)}."]
        elif not isinstance(value, bool):
            errors[key] = ["Must be true or false."]
    if errors:
        raise PreferenceError(errors)
    return {**effective(stored), **change}
