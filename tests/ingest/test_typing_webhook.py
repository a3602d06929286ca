"""The generic webhook's optional `typing` event: parsed into a typing signal (never a
message), appended to the inbound stream as a typing entry; an unknown `event` is a field
error."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from asgiref.sync import sync_to_async

from routing_service.ingest.adapters import ADAPTERS, WebhookRequest
from routing_service.ingest.adapters.base import PayloadError, TypingSignal
from routing_service.ingest.stream import TypingEntry, decode, encode
from tests.ingest.test_webhooks import (  # noqa: F401  (fixtures)
    app,
    client,
    company,
    entries,
    make_channel,
    post_generic,
    private_stream,
)


def parse(payload: dict[str, object]) -> object:
    body = json.dumps(payload).encode()
    req = WebhookRequest(
        method="POST", url="https://x/", body=body, content_type="application/json"
    )
    return ADAPTERS["generic"].parse(req)


def test_a_typing_event_is_a_typing_signal_not_a_message() -> None:
    result = parse({"event": "typing", "client": {"id": 42}, "typing": False})
    assert result.messages == []
    assert result.typing == [
        TypingSignal(provider="generic", client_external_id="42", typing=False)
    ]


def test_typing_defaults_to_started() -> None:
    result = parse({"event": "typing", "client": {"id": "c-1"}})
    assert result.typing[0].typing is True


def test_a_message_may_say_event_message() -> None:
    result = parse(
        {
            "event": "message",
            "message_id": "m1",
            "client": {"id": "c-1", "name": "Ann"},
            "text": "hi",
            "sent_at": "2026-01-01T10:00:00Z",
        }
    )
    assert [m.text for m in result.messages] == ["hi"]
    assert result.typing == []


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"event": "dancing", "client": {"id": "c"}}, "event"),
        ({"event": "typing", "client": {}}, "client.id"),
        ({"event": "typing", "client": {"id": "c"}, "typing": "yes"}, "typing"),
    ],
)
def test_bad_typing_events_name_the_field(payload: dict[str, object], field: str) -> None:
    with pytest.raises(PayloadError) as raised:
        parse(payload)
    assert field in raised.value.errors


def test_a_typing_entry_survives_the_stream_encoding() -> None:
    entry = TypingEntry(
        channel_id=1,
        company_id=2,
        received_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        typing=TypingSignal(provider="generic", client_external_id="c", typing=True),
    )
    assert decode(encode(entry)) == entry


# --- through the webhook endpoint: signed, answered 202, appended as a typing entry -----------


@pytest.mark.django_db(transaction=True)
async def test_a_signed_typing_event_is_appended_to_the_stream(client, make_channel) -> None:  # noqa: F811
    channel = await make_channel("generic")
    body = json.dumps({"event": "typing", "client": {"id": "c-7"}}).encode()

    response = await post_generic(client, channel, body)

    assert response.status_code == 202, response.text
    (entry,) = await sync_to_async(entries)(channel)
    assert isinstance(entry, TypingEntry)
    assert entry.typing == TypingSignal(provider="generic", client_external_id="c-7")
    # Unsigned, it is refused like any other request.
    unsigned = await client.post(
        f"/webhooks/generic/{channel.uuid}/",
        content=body,
        headers={"content-type": "application/json"},
    )
    assert unsigned.status_code == 401
