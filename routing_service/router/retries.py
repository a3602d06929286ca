"""② The router's retries: when an entry that failed in the database is tried again, and which
later entries wait for it.

An entry that fails for a reason of its own (not an outage) is retried by the router that read
it, within its own loop, after a short back-off (`RETRY_DELAYS`: 0.1 s, 0.5 s, then every 2 s),
until `ROUTER_MAX_ATTEMPTS` (5) sends it to the dead-letter stream 4.6 s after its first
failure — not the ~2 minutes that waiting `ROUTER_CLAIM_IDLE_MS` (30 s) between tries took.
Meanwhile it stays pending in the stream (a router that takes the shard over still has it), and
every later entry of the same conversation — or about the same message (a receipt or an edit)
— waits behind it, so one client's messages are still recorded in stream order; entries of
other conversations go on.

Pure: plain values and a clock passed in, no Redis, no ORM (the worker does the I/O).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from routing_service.ingest.stream import Entry, InboundEntry, TypingEntry

# An error of the entry's own rarely goes away by waiting (a race with another writer does,
# at once); what matters is that a poison entry leaves the way within seconds.
RETRY_DELAYS: tuple[float, ...] = (0.1, 0.5, 2.0)


class Retryable(Protocol):
    stream: str
    entry_id: str


T = TypeVar("T", bound=Retryable)
OrderKey = tuple[Hashable, ...]


def retry_delay(attempts: int) -> float:
    """Seconds to wait before the next try of an entry that failed `attempts` times."""
    return RETRY_DELAYS[min(max(attempts, 1), len(RETRY_DELAYS)) - 1]


def order_keys(entry: Entry | None) -> frozenset[OrderKey]:
    """What an entry must stay in order with: its conversation (a client of a company) and the
    provider message it is or is about. Undecodable entries have none (dead-lettered at once)."""
    if entry is None:
        return frozenset()
    if isinstance(entry, InboundEntry):
        message = entry.message
        return frozenset(
            {
                ("conversation", entry.company_id, message.client_external_id),
                ("message", entry.channel_id, message.provider_message_id),
            }
        )
    if isinstance(entry, TypingEntry):
        return frozenset({("conversation", entry.company_id, entry.typing.client_external_id)})
    return frozenset({("message", entry.channel_id, entry.status.provider_message_id)})


def stream_position(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


@dataclass
class _Held(Generic[T]):
    item: T
    keys: frozenset[OrderKey]
    due: float | None  # when to try again; None: it waits behind an earlier held entry


class RetryQueue(Generic[T]):
    """Entries held back by this router: failed ones until their retry is due, and the later
    entries that share an order key with one of them."""

    def __init__(self) -> None:
        self._held: dict[tuple[str, str], _Held[T]] = {}
        self._keys: Counter[OrderKey] = Counter()

    def __len__(self) -> int:
        return len(self._held)

    def __contains__(self, item: T) -> bool:
        return (item.stream, item.entry_id) in self._held

    def blocks(self, keys: Iterable[OrderKey]) -> bool:
        """Whether an entry with these keys must wait behind a held one."""
        return any(self._keys[key] for key in keys)

    def retry_at(self, item: T, keys: frozenset[OrderKey], due: float) -> None:
        """Hold a failed entry until `due`."""
        self._put(_Held(item, keys, due))

    def hold(self, item: T, keys: frozenset[OrderKey]) -> None:
        """Hold an entry behind the held ones it shares a key with."""
        self._put(_Held(item, keys, None))

    def next_due(self) -> float | None:
        dues = [held.due for held in self._held.values() if held.due is not None]
        return min(dues) if dues else None

    def take_due(self, now: float) -> list[T]:
        """Release, in stream order, the failed entries whose retry is due and the entries
        waiting behind nothing that is still held; the rest stay."""
        blocking: set[OrderKey] = set()
        released: list[T] = []
        for key, held in sorted(
            self._held.items(), key=lambda kv: (kv[0][0], stream_position(kv[0][1]))
        ):
            if (held.due is None or held.due <= now) and blocking.isdisjoint(held.keys):
                released.append(held.item)
                self._remove(key)
            else:
                blocking |= held.keys
        return released

    def drop_streams(self, streams: Iterable[str]) -> None:
        """Forget the entries of shards this router no longer holds: the next owner claims
        them, pending as they are."""
        gone = set(streams)
        for key in [key for key in self._held if key[0] in gone]:
            self._remove(key)

    def _put(self, held: _Held[T]) -> None:
        key = (held.item.stream, held.item.entry_id)
        if key in self._held:
            self._remove(key)
        self._held[key] = held
        self._keys.update(held.keys)

    def _remove(self, key: tuple[str, str]) -> None:
        held = self._held.pop(key)
        self._keys.subtract(held.keys)
        for order_key in held.keys:
            if self._keys[order_key] <= 0:
                del self._keys[order_key]
