"""① → ② The inbound stream: what the webhook appends and the router reads.

One entry per normalised inbound message or provider status event, as msgspec JSON in field
`e`. The stream is sharded by company (`INBOUND_SHARDS`, default 8); every key of a shard shares
the hash tag `{s<n>}` so a shard can live on one Redis Cluster slot and the dedupe-and-append
script stays atomic.

Deduplication happens twice: here, a `seen` key per channel and provider message id (SET NX,
kept `INBOUND_DEDUPE_TTL` seconds) lets the webhook answer 200 to a provider's retry without
appending again; in the database, the unique (channel, provider message id) constraint makes a
replayed entry harmless whatever Redis forgot.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal, TypeAlias

import msgspec
from django.conf import settings

from routing_service.ingest.adapters.base import InboundMessage, StatusEvent, TypingSignal


class InboundEntry(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind", tag="message"):
    """A customer message, tied to the channel (and so the company) it arrived on."""

    channel_id: int
    company_id: int
    received_at: dt.datetime
    message: InboundMessage


class StatusEntry(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind", tag="status"):
    """A delivery/read receipt or edit from the provider."""

    channel_id: int
    company_id: int
    received_at: dt.datetime
    status: StatusEvent


class TypingEntry(msgspec.Struct, frozen=True, kw_only=True, tag_field="kind", tag="typing"):
    """The customer is typing: in the stream so it keeps its place among the client's
    messages (a "typing" never arrives after the message it announced), not deduplicated."""

    channel_id: int
    company_id: int
    received_at: dt.datetime
    typing: TypingSignal


Entry: TypeAlias = InboundEntry | StatusEntry | TypingEntry
_encoder = msgspec.json.Encoder()
_decoder: msgspec.json.Decoder[Entry] = msgspec.json.Decoder(Entry)

# KEYS[1] seen key ('' when the entry has no id to dedupe on), KEYS[2] stream.
# ARGV[1] dedupe ttl seconds, ARGV[2] payload. Returns the entry id, or false for a duplicate.
# The id is remembered only after XADD succeeded: a script's earlier writes are not rolled back
# when a later command fails, and a failed append must not turn the provider's retry into a
# "duplicate" of nothing. The seen key holds the entry id, so a webhook that lost Redis's answer
# can still find out whether (and as which entry) its message is in the stream
# (`asgi_app.StreamAppender`); keys written before it held the id hold "1".
APPEND_LUA = """
if KEYS[1] ~= '' and redis.call('EXISTS', KEYS[1]) == 1 then return false end
local id = redis.call('XADD', KEYS[2], '*', 'e', ARGV[2])
if KEYS[1] ~= '' then redis.call('SET', KEYS[1], id, 'EX', ARGV[1]) end
return id
"""
AppendStatus = Literal["appended", "duplicate"]


def shard_count() -> int:
    return max(1, int(getattr(settings, "INBOUND_SHARDS", 1)))


def shard_of(company_id: int) -> int:
    return company_id % shard_count()


def stream_key(shard: int) -> str:
    return f"{settings.INBOUND_STREAM}:{{s{shard}}}"


def all_stream_keys() -> list[str]:
    return [stream_key(s) for s in range(shard_count())]


def dead_letter_key(shard: int) -> str:
    return f"{settings.DEAD_LETTER_STREAM}:{{s{shard}}}"


def seen_key(shard: int, channel_id: int, provider_message_id: str) -> str:
    return f"{settings.INBOUND_STREAM}:{{s{shard}}}:seen:{channel_id}:{provider_message_id}"


def encode(entry: Entry) -> bytes:
    return _encoder.encode(entry)


def decode(payload: bytes) -> Entry:
    return _decoder.decode(payload)


def append_args(entry: Entry) -> tuple[list[str], list[str | bytes | int]]:
    """KEYS and ARGV for APPEND_LUA (messages are deduplicated, status and typing events are
    not)."""
    shard = shard_of(entry.company_id)
    if isinstance(entry, InboundEntry):
        seen = seen_key(shard, entry.channel_id, entry.message.provider_message_id)
    else:
        seen = ""
    return [seen, stream_key(shard)], [settings.INBOUND_DEDUPE_TTL, encode(entry)]
