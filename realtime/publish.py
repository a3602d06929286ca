"""④ Publishing: the durable per-company event log and the channel layer, in one step.

Every event gets a company-wide `seq` (one INCR per company) and is appended to the log of each
group it goes to — a Redis stream whose entry id is `<seq>-0`, so a reconnecting client asks for
"everything after seq N" with one XRANGE per group, and the stream's `max-deleted-entry-id`
says whether that gap has already been trimmed away. The same Lua script then PUBLISHes the
envelope to the group's channels-redis pub/sub channel, so live delivery follows seq order even
with several publishers. The channel layer alone is never the record: it drops by design.

Keys of one company share a hash tag (`{c42}`), so they can live on one Redis Cluster slot.
Call `publish_on_commit` from inside the action's transaction; `publish_now` publishes a batch
with one pipelined round trip (the router's hot path).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar

import msgspec
import redis
from django.conf import settings
from django.db import transaction
from redis.commands.core import Script

from realtime.events import Event

__all__ = ["Event", "collecting", "publish_now", "publish_on_commit"]

logger = logging.getLogger(__name__)

_json = msgspec.json.Encoder()

# KEYS: seq key, then one log stream per group.
# ARGV: maxlen, event json prefix/suffix parts, then one pub/sub channel per group ("" = skip).
_PUBLISH_LUA = """
local seq = redis.call('INCR', KEYS[1])
local id = seq .. '-0'
local envelope = ARGV[2] .. seq .. ARGV[3]
local packed = cmsgpack.pack({type = 'sb.event', event = envelope, seq = seq})
for i = 2, #KEYS do
  redis.call('XADD', KEYS[i], 'MAXLEN', '~', ARGV[1], id, 'e', envelope)
  local channel = ARGV[i + 2]
  if channel ~= '' then redis.call('PUBLISH', channel, packed) end
end
return seq
"""


def _prefix() -> str:
    return settings.REDIS_KEY_PREFIX


def seq_key(company_id: int) -> str:
    return f"{_prefix()}:{{c{company_id}}}:seq"


def log_key(company_id: int, group: str) -> str:
    return f"{_prefix()}:{{c{company_id}}}:log:{group}"


def group_channel(group: str) -> str:
    """The pub/sub channel channels-redis' RedisPubSubChannelLayer uses for a group."""
    return f"{settings.CHANNEL_LAYER_PREFIX}__group__{group}"


@functools.cache
def _client() -> redis.Redis:
    return redis.Redis.from_url(settings.CHANNEL_LAYER_REDIS_URL)


@functools.cache
def _script() -> Script:
    return _client().register_script(_PUBLISH_LUA)


def envelope_parts(event: Event) -> tuple[str, str]:
    """The envelope JSON split around its seq, which only the log knows."""
    head = b'{"type":' + _json.encode(event.type) + b',"id":' + _json.encode(event.id) + b',"seq":'
    tail = b',"at":' + _json.encode(event.at) + b',"data":' + _json.encode(event.data) + b"}"
    return head.decode(), tail.decode()


def publish_now(events: Sequence[Event]) -> list[int]:
    """Log and broadcast `events` in order with one pipelined round trip; returns their seqs."""
    if not events:
        return []
    script = _script()
    maxlen = settings.EVENT_LOG_MAXLEN
    pipe = _client().pipeline(transaction=False)
    for event in events:
        head, tail = envelope_parts(event)
        keys = [seq_key(event.company_id)] + [log_key(event.company_id, g) for g in event.groups]
        args: list[str | int] = [maxlen, head, tail, *(group_channel(g) for g in event.groups)]
        script(keys=keys, args=args, client=pipe)
    return [int(seq) for seq in pipe.execute()]


_collector: ContextVar[list[Event] | None] = ContextVar("event_collector", default=None)


@contextmanager
def collecting() -> Iterator[list[Event]]:
    """Gather the events of every transaction committed inside the block instead of publishing
    each on its own; the caller publishes them with one `publish_now` (the router's batches)."""
    bucket: list[Event] = []
    token = _collector.set(bucket)
    try:
        yield bucket
    finally:
        _collector.reset(token)


def publish_on_commit(events: Iterable[Event]) -> None:
    """Publish once the surrounding transaction commits (never for a rolled-back change)."""
    batch = list(events)
    if not batch:
        return
    bucket = _collector.get()
    if bucket is not None:
        # Still on commit: a rolled-back savepoint drops its events, as Django drops callbacks.
        transaction.on_commit(lambda: bucket.extend(batch))
        return

    def send() -> None:
        try:
            publish_now(batch)
        except redis.RedisError:
            # The database change stands; clients re-sync from a snapshot on reconnect.
            logger.exception("publishing %d events failed", len(batch))

    transaction.on_commit(send, robust=True)
