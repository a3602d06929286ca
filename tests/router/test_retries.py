"""The router's retry queue (routing_service/router/retries.py): pure, no Redis or database."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from routing_service.ingest.adapters.base import StatusEvent
from routing_service.ingest.stream import InboundEntry, StatusEntry
from routing_service.router.retries import (
    RETRY_DELAYS,
    RetryQueue,
    order_keys,
    retry_delay,
    stream_position,
)
from tests.support.inbound import inbound_message

NOW = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)


@dataclass(frozen=True)
class Item:
    stream: str
    entry_id: str


def message(client: str, message_id: str, company: int = 1, channel: int = 7) -> InboundEntry:
    return InboundEntry(
        channel_id=channel,
        company_id=company,
        received_at=NOW,
        message=inbound_message(message_id, client),
    )


def receipt(message_id: str, channel: int = 7) -> StatusEntry:
    return StatusEntry(
        channel_id=channel,
        company_id=1,
        received_at=NOW,
        status=StatusEvent(provider="generic", provider_message_id=message_id, status="read"),
    )


def test_back_off_is_short_then_steady() -> None:
    assert [retry_delay(n) for n in range(1, 7)] == [0.1, 0.5, 2.0, 2.0, 2.0, 2.0]
    # Five attempts (the default ROUTER_MAX_ATTEMPTS): dead-lettered 4.6 s after the first.
    assert sum(retry_delay(n) for n in range(1, 5)) == sum(RETRY_DELAYS) + 2.0 == 4.6


def test_order_keys_tie_a_conversation_and_a_message_to_its_receipts() -> None:
    first, later = message("c-1", "m-1"), message("c-1", "m-2")
    other_client, other_company = message("c-2", "m-3"), message("c-1", "m-4", company=2)

    assert order_keys(first) & order_keys(later)
    assert not order_keys(first) & order_keys(other_client)
    assert not order_keys(first) & order_keys(other_company)
    assert order_keys(receipt("m-1")) <= order_keys(first)
    assert not order_keys(receipt("m-1", channel=8)) & order_keys(first)
    assert order_keys(None) == frozenset()


def test_a_failed_entry_is_released_when_due_with_what_waited_behind_it() -> None:
    queue: RetryQueue[Item] = RetryQueue()
    failed, behind = Item("s0", "5-0"), Item("s0", "7-0")
    queue.retry_at(failed, order_keys(message("c-1", "m-1")), due=10.0)
    assert queue.blocks(order_keys(message("c-1", "m-2")))
    assert not queue.blocks(order_keys(message("c-2", "m-3")))
    queue.hold(behind, order_keys(message("c-1", "m-2")))

    assert queue.take_due(9.9) == []
    assert queue.next_due() == 10.0
    assert queue.take_due(10.0) == [failed, behind]
    assert len(queue) == 0 and queue.next_due() is None
    assert not queue.blocks(order_keys(message("c-1", "m-2")))


def test_an_entry_waits_while_an_earlier_one_of_its_conversation_is_held() -> None:
    queue: RetryQueue[Item] = RetryQueue()
    early, late = Item("s0", "1-0"), Item("s0", "2-0")
    waiting = Item("s0", "3-0")
    queue.retry_at(early, order_keys(message("c-1", "m-1")), due=50.0)
    queue.retry_at(late, order_keys(message("c-2", "m-2")), due=1.0)
    # Waits behind both: it is about c-1's conversation and c-2's message m-2.
    queue.hold(waiting, order_keys(message("c-1", "m-2")))

    assert queue.take_due(2.0) == [late]
    assert waiting in queue and early in queue
    assert queue.take_due(50.0) == [early, waiting]


def test_entries_are_released_in_stream_order_and_shards_can_be_dropped() -> None:
    queue: RetryQueue[Item] = RetryQueue()
    items = [Item("s1", "10-1"), Item("s0", "9-0"), Item("s1", "10-0"), Item("s1", "9-5")]
    for n, item in enumerate(items):
        queue.retry_at(item, order_keys(message(f"c-{n}", f"m-{n}")), due=0.0)
    queue.drop_streams(["s0"])

    assert queue.take_due(1.0) == [Item("s1", "9-5"), Item("s1", "10-0"), Item("s1", "10-1")]


def test_retrying_an_entry_again_replaces_its_hold() -> None:
    queue: RetryQueue[Item] = RetryQueue()
    item = Item("s0", "1-0")
    keys = order_keys(message("c-1", "m-1"))
    queue.retry_at(item, keys, due=1.0)
    queue.retry_at(item, keys, due=3.0)

    assert len(queue) == 1
    assert queue.take_due(2.0) == []
    assert queue.take_due(3.0) == [item]
    assert not queue.blocks(keys)


@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.one_of(st.none(), st.floats(0, 10))),
        max_size=30,
    ),
    st.floats(0, 10),
)
def test_nothing_is_released_ahead_of_an_earlier_held_entry_of_its_conversation(
    entries: list[tuple[int, float | None]], now: float
) -> None:
    queue: RetryQueue[Item] = RetryQueue()
    for n, (client, due) in enumerate(entries):
        item = Item("s0", f"{n}-0")
        keys = order_keys(message(f"c-{client}", f"m-{n}"))
        if due is None:
            queue.hold(item, keys)
        else:
            queue.retry_at(item, keys, due)

    released = queue.take_due(now)

    positions = [stream_position(item.entry_id) for item in released]
    assert positions == sorted(positions)
    for item in released:
        n = int(item.entry_id.split("-")[0])
        client, due = entries[n]
        assert due is None or due <= now
        for earlier in range(n):  # every earlier entry of the client went too
            if entries[earlier][0] == client:
                assert Item("s0", f"{earlier}-0") not in queue
