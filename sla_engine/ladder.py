"""The escalation ladder of an SLA policy: what happens, step by step, after a breach.

A ladder is stored as JSON on `ChatSLA.escalation_ladder`:
``[{"after_minutes": 0, "action": "notify_supervisors"},
   {"after_minutes": 15, "action": "raise_priority"},
   {"after_minutes": 30, "action": "reassign", "to": "supervisor"}]``.

`after_minutes` are business minutes on the policy's calendar, counted from the breach (the
ladder runs in working time like the targets it enforces). This module is the one place that
says what a valid ladder is: the model's `clean()` and the REST serializer both call
`ladder_errors`, so the admin, the API and the timer agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ACTIONS",
    "MAX_AFTER_MINUTES",
    "MAX_STEPS",
    "REASSIGN_TARGETS",
    "EscalationStep",
    "ladder_errors",
    "parse_ladder",
]

NOTIFY_SUPERVISORS = "notify_supervisors"
RAISE_PRIORITY = "raise_priority"
REASSIGN = "reassign"
ACTIONS = (NOTIFY_SUPERVISORS, RAISE_PRIORITY, REASSIGN)
# reassign "to": another agent (the chat goes back to the queue, never to the same agent) or a
# supervisor (one escalation level up, as `escalate_assignment` does).
REASSIGN_TARGETS = ("agent", "supervisor")
MAX_STEPS = 20
MAX_AFTER_MINUTES = 366 * 24 * 60
_KEYS = frozenset({"after_minutes", "action", "to"})


@dataclass(frozen=True)
class EscalationStep:
    after_minutes: int
    action: str
    to: str | None = None

    def as_json(self) -> dict[str, Any]:
        step: dict[str, Any] = {"after_minutes": self.after_minutes, "action": self.action}
        if self.to is not None:
            step["to"] = self.to
        return step


def _step_errors(step: object) -> list[str]:
    if not isinstance(step, dict):
        return ["must be an object with after_minutes and action"]
    errors = []
    unknown = sorted(set(step) - _KEYS)
    if unknown:
        errors.append(f"unknown key(s) {', '.join(map(repr, unknown))}")
    after = step.get("after_minutes")
    if isinstance(after, bool) or not isinstance(after, int):
        errors.append("after_minutes must be a whole number of minutes")
    elif not 0 <= after <= MAX_AFTER_MINUTES:
        errors.append(f"after_minutes must be between 0 and {MAX_AFTER_MINUTES}")
    action = step.get("action")
    if action not in ACTIONS:
        errors.append(f"action must be one of {', '.join(ACTIONS)}")
    to = step.get("to")
    if action == REASSIGN:
        if to is not None and to not in REASSIGN_TARGETS:
            errors.append(f"to must be one of {', '.join(REASSIGN_TARGETS)}")
    elif to is not None and action in ACTIONS:
        errors.append("only reassign takes 'to'")
    return errors


def ladder_errors(value: object) -> list[str]:
    """Every problem with a ladder, as messages naming the step ("step 2: ..."); [] if valid.

    Rules: a list of at most `MAX_STEPS` steps in non-decreasing `after_minutes`; each step has
    `after_minutes` (0 … one year) and `action`; `to` (agent | supervisor, default supervisor)
    only on reassign.
    """
    if not isinstance(value, list):
        return ["The escalation ladder must be a list of steps."]
    if len(value) > MAX_STEPS:
        return [f"At most {MAX_STEPS} steps."]
    errors = [
        f"Step {n}: {message}"
        for n, step in enumerate(value, start=1)
        for message in _step_errors(step)
    ]
    if not errors:
        afters = [step["after_minutes"] for step in value]
        if afters != sorted(afters):
            errors.append("Steps must be in order of after_minutes.")
    return errors


def parse_ladder(value: object) -> tuple[EscalationStep, ...]:
    """The steps of a valid ladder; raises ValueError with every problem otherwise."""
    errors = ladder_errors(value)
    if errors:
        raise ValueError("; ".join(errors))
    assert isinstance(value, list)
    return tuple(_step(step) for step in value)


def _step(step: dict[str, Any]) -> EscalationStep:
    action = step["action"]
    to = step.get("to") or ("supervisor" if action == REASSIGN else None)
    return EscalationStep(after_minutes=step["after_minutes"], action=action, to=to)


def step_from_json(step: dict[str, Any]) -> EscalationStep:
    """A step stored on a timer row (already validated when the ladder was saved)."""
    return _step(step)


def steps_as_json(steps: Sequence[EscalationStep]) -> list[dict[str, Any]]:
    return [step.as_json() for step in steps]
