"""The workspace's pure rules: mentions, canned-response variables, client attributes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from routing_service.chats.workspace_rules import (
    attribute_errors,
    client_identities,
    is_color,
    mentioned_usernames,
    render_canned,
    unknown_variables,
)

VALUES = {"client.name": "Grace", "agent.name": "Ada", "company.name": "Acme"}


def test_mentions_are_words_after_an_at_sign_not_email_addresses() -> None:
    text = "@grace and @linus.t, please; ask me@grace.example or (@ada_l). Thanks @grace."
    assert mentioned_usernames(text) == ["grace", "linus.t", "ada_l"]
    assert mentioned_usernames("no one here") == []


def test_at_most_twenty_mentions_are_read() -> None:
    assert len(mentioned_usernames(" ".join(f"@u{i}" for i in range(50)))) == 20


def test_variables_are_substituted_with_or_without_spaces() -> None:
    text = "Hi {{client.name}}, {{ agent.name }} of {{company.name}}."
    assert render_canned(text, VALUES) == "Hi Grace, Ada of Acme."


def test_unknown_or_missing_variables_stay_as_typed_and_template_tags_are_text() -> None:
    assert render_canned("{{client.email}} {% now 'Y' %} {{client.name}}", {}) == (
        "{{client.email}} {% now 'Y' %} {{client.name}}"
    )
    assert unknown_variables("{{client.email}} {{ agent.name }} {{x}} {{x}}") == [
        "client.email",
        "x",
    ]


@given(st.text(max_size=40), st.text(max_size=40))
def test_a_value_is_inserted_verbatim_and_never_expanded_again(prefix: str, value: str) -> None:
    rendered = render_canned(prefix.replace("{", "(") + "{{client.name}}", {"client.name": value})
    assert rendered == prefix.replace("{", "(") + value


@pytest.mark.parametrize(
    ("value", "fault"),
    [
        ({"plan": "gold", "seats": 3, "trial": False, "note": None, "score": 1.5}, None),
        ([], "object"),
        ({"": "x"}, "Keys"),
        ({"k" * 65: "x"}, "Keys"),
        ({"nested": {"a": 1}}, "values"),
        ({"list": [1]}, "values"),
        ({"long": "x" * 1001}, "1000"),
        ({f"k{i}": i for i in range(51)}, "50"),
        ({f"k{i}": "x" * 999 for i in range(20)}, "bytes"),
    ],
)
def test_attributes_are_a_small_flat_object(value: object, fault: str | None) -> None:
    errors = attribute_errors(value)
    if fault is None:
        assert errors == []
    else:
        assert errors and fault in " ".join(errors)


def test_colours_and_identities() -> None:
    assert is_color("#1a7F37") and not is_color("red") and not is_color("#1234567")
    assert client_identities("telegram:42") == [{"provider": "telegram", "id": "42"}]
    assert client_identities("cust-7") == [{"provider": "generic", "id": "cust-7"}]
