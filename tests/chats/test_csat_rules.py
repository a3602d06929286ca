"""The satisfaction survey's pure rules (routing_service/chats/csat.py) and the channel
setting that turns it on, validated at the REST boundary."""

from __future__ import annotations

from typing import Any

import pytest

from routing_service.chats.csat import (
    DEFAULT_QUESTION,
    Answer,
    parse_answer,
    quick_replies,
    survey_config,
    validate_config,
)
from routing_service.tenancy.models import User
from tests.api.conftest import GENERIC_SECRET, ApiFor


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5", Answer(5, "")),
        (" 4 ", Answer(4, "")),
        ("4 quick and friendly", Answer(4, "quick and friendly")),
        ("2, slow to answer", Answer(2, "slow to answer")),
        ("3/5 ok", Answer(3, "ok")),
        ("1!", Answer(1, "")),
        ("5 · Excellent", Answer(5, "Excellent")),
        ("4\nthanks a lot", Answer(4, "thanks a lot")),
    ],
)
def test_a_digit_one_to_five_with_an_optional_comment_is_an_answer(
    text: str, expected: Answer
) -> None:
    assert parse_answer(text) == expected


@pytest.mark.parametrize(
    "text", ["", "10", "0", "6", "1.5", "3,2", "3rd time I ask", "Where is my order?", "five"]
)
def test_other_text_is_not_an_answer(text: str) -> None:
    assert parse_answer(text) is None


@pytest.mark.parametrize(
    "metadata",
    [
        {"callback_data": "csat:4"},
        {"interactive": {"type": "list_reply", "list_reply": {"id": "csat:4", "title": "x"}}},
        {"interactive": {"type": "button_reply", "button_reply": {"id": "csat:4"}}},
        {"quick_reply": "csat:4"},
    ],
)
def test_a_tapped_button_is_an_answer_whatever_its_label(metadata: dict[str, Any]) -> None:
    assert parse_answer("4 · Very good", metadata) == Answer(4, "")
    assert parse_answer("anything", metadata) == Answer(4, "")


def test_a_button_of_another_kind_or_out_of_range_is_not_an_answer() -> None:
    assert parse_answer("", {"callback_data": "csat:9"}) is None
    assert parse_answer("", {"callback_data": "solved:yes"}) is None


def test_the_survey_is_off_unless_enabled_and_has_a_question() -> None:
    assert not survey_config({}).enabled
    assert not survey_config({"csat": {"enabled": "yes"}}).enabled
    on = survey_config({"csat": {"enabled": True}})
    assert on.enabled and on.question == DEFAULT_QUESTION
    assert survey_config({"csat": {"enabled": True, "question": " Rate us "}}).question == "Rate us"
    assert [q["id"] for q in quick_replies()] == ["csat:5", "csat:4", "csat:3", "csat:2", "csat:1"]
    assert all(len(q["title"]) <= 24 for q in quick_replies())  # WhatsApp's list row limit


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("yes", "Must be an object"),
        ({"enabled": "true"}, "enabled must be true or false"),
        ({"enabled": True, "question": 5}, "question must be text"),
        ({"enabled": True, "question": "x" * 1001}, "at most 1000"),
        ({"enabled": True, "colour": "red"}, "Unknown keys: colour"),
    ],
)
def test_bad_settings_are_explained(value: Any, fragment: str) -> None:
    assert any(fragment in error for error in validate_config(value))


@pytest.mark.django_db
def test_the_channel_api_refuses_a_bad_survey_setting_with_the_field_at_fault(
    api: ApiFor, admin_a: User
) -> None:
    payload = {
        "name": "Widget",
        "provider": "generic",
        "secret": GENERIC_SECRET,
        "config": {"csat": {"enabled": "on"}},
    }
    refused = api(admin_a).post("/api/v1/channels/", payload, format="json")
    assert refused.status_code == 400
    assert refused.json() == {"config": {"csat": ["enabled must be true or false."]}}

    payload["config"] = {"csat": {"enabled": True, "question": "How did we do (1-5)?"}}
    created = api(admin_a).post("/api/v1/channels/", payload, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["config"]["csat"] == {"enabled": True, "question": "How did we do (1-5)?"}
