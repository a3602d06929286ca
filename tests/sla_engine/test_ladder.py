"""The escalation ladder's shape: one validator for the model, the admin and the API."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from sla_engine.ladder import EscalationStep, ladder_errors, parse_ladder
from sla_engine.models import ChatSLA, default_escalation_ladder


def test_the_default_ladder_is_valid() -> None:
    assert ladder_errors(default_escalation_ladder()) == []
    assert parse_ladder(default_escalation_ladder())[-1] == EscalationStep(
        30, "reassign", "supervisor"
    )


def test_reassign_goes_to_a_supervisor_unless_told_otherwise() -> None:
    steps = parse_ladder(
        [
            {"after_minutes": 5, "action": "reassign"},
            {"after_minutes": 9, "action": "reassign", "to": "agent"},
        ]
    )
    assert [s.to for s in steps] == ["supervisor", "agent"]


@pytest.mark.parametrize(
    ("ladder", "message"),
    [
        ("notify", "must be a list"),
        ([{"action": "notify_supervisors"}], "Step 1: after_minutes must be a whole number"),
        ([{"after_minutes": True, "action": "notify_supervisors"}], "whole number"),
        ([{"after_minutes": -1, "action": "notify_supervisors"}], "between 0 and"),
        ([{"after_minutes": 1, "action": "page_ceo"}], "action must be one of"),
        ([{"after_minutes": 1, "action": "reassign", "to": "ceo"}], "to must be one of"),
        ([{"after_minutes": 1, "action": "raise_priority", "to": "agent"}], "only reassign"),
        ([{"after_minutes": 1, "action": "raise_priority", "when": 3}], "unknown key"),
        (
            [
                {"after_minutes": 30, "action": "notify_supervisors"},
                {"after_minutes": 10, "action": "raise_priority"},
            ],
            "in order of after_minutes",
        ),
        ([{"after_minutes": 1, "action": "raise_priority"}] * 21, "At most 20"),
        (["notify"], "Step 1: must be an object"),
    ],
)
def test_bad_ladders_are_refused_with_the_step_named(ladder: Any, message: str) -> None:
    errors = ladder_errors(ladder)
    assert any(message in error for error in errors), errors
    with pytest.raises(ValueError, match=re.escape(errors[0])):
        parse_ladder(ladder)


def test_model_clean_refuses_a_bad_ladder() -> None:
    policy = ChatSLA(
        priority="medium",
        first_response_minutes=10,
        resolution_minutes=60,
        escalation_ladder=[{"after_minutes": 0, "action": "reassign", "to": "nobody"}],
    )
    with pytest.raises(ValidationError) as error:
        policy.clean()
    assert "escalation_ladder" in error.value.message_dict
