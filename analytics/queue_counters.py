"""Live metrics counters: per-event tallies in per-minute Redis buckets, summed at read time.

Step ④ of the data flow for numbers: the chat actions (arrival in the inbound batch, the first
agent reply, resolution, abandonment) call ``record`` next to their outbox publish; it writes
after the commit, so a rolled-back transaction counts nothing. Reading a window is one Lua call
per company that sums its last ``window`` minute buckets on the server (60 small hashes for the
default hour; a cached sum of the settled minutes and the two latest buckets once warm) —
never a scan of the company's chats.

**Layout.** One hash per company and minute, ``<prefix>:{c<company>}:lm:<unix minute>``, with
fields ``<scope>:<counter>``: the scope is ``all`` (the company) or a queue id. The ``{c42}``
hash tag puts all of a company's buckets in one slot, so the summing script works on a Redis
Cluster. Buckets expire ``MAX_WINDOW_MINUTES`` plus an hour after their minute.

**Counters** (``FIELDS``): ``offered``; ``answered`` with ``wait_ms`` (arrival to first reply)
and ``answered_in_time`` (within the queue's threshold at the time of the answer);
``abandoned`` and ``abandoned_counted`` (those the queue's abandon policy counts against the
service level); ``handled`` with ``handle_ms`` (first reply to resolution). Each is counted in
the minute it happened, against the chat's queue at that moment, with that queue's settings —
so the company's figures (``all``) judge every chat by its own queue's threshold and policy.

**Losing Redis** loses the counters, not the facts: ``manage.py rebuild_live_metrics`` writes
the buckets again from the database (analytics.queue_history).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Any, Final

import redis
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from redis.commands.core import Script

from events.redis_clients import REDIS_ERRORS, is_cluster_client, sync_client

__all__ = [
    "ALL",
    "FIELDS",
    "Tally",
    "abandoned",
    "answered",
    "arrived",
    "bucket_key",
    "handled",
    "minute_of",
    "read_windows",
    "record",
    "write",
]

logger = logging.getLogger(__name__)

ALL: Final = "all"
FIELDS: Final = (
    "offered",
    "answered",
    "answered_in_time",
    "wait_ms",
    "abandoned",
    "abandoned_counted",
    "handled",
    "handle_ms",
)
_FIELD_SET: Final = frozenset(FIELDS)
# Longest window (analytics.live_metrics.MAX_WINDOW_MINUTES) plus the interval roll-up's lag.
KEEP_SECONDS: Final = (24 * 60 + 60) * 60

# (minute, scope, field, amount)
Increment = tuple[int, str, str, int]


@dataclass(slots=True)
class Tally:
    """Summed counters of one scope over a window."""

    offered: int = 0
    answered: int = 0
    answered_in_time: int = 0
    wait_ms: int = 0
    abandoned: int = 0
    abandoned_counted: int = 0
    handled: int = 0
    handle_ms: int = 0

    def add(self, other: Tally) -> None:
        for f in FIELDS:
            setattr(self, f, getattr(self, f) + getattr(other, f))

    def as_dict(self) -> dict[str, int]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def minute_of(at: dt.datetime) -> int:
    """The unix minute ``at`` falls in."""
    return int(at.timestamp() // 60)


def bucket_key(company_id: int, minute: int) -> str:
    return f"{settings.REDIS_KEY_PREFIX}:{{c{company_id}}}:lm:{minute}"


def _scopes(queue_id: int | None) -> tuple[str, ...]:
    return (ALL,) if queue_id is None else (ALL, str(queue_id))


def _ms(delta: dt.timedelta) -> int:
    return max(0, round(delta.total_seconds() * 1000))


# --- what each event counts (pure) ---------------------------------------------------------


def arrived(queue_id: int | None, at: dt.datetime) -> list[Increment]:
    """A chat arrived (its first message): offered."""
    minute = minute_of(at)
    return [(minute, scope, "offered", 1) for scope in _scopes(queue_id)]


def answered(
    queue_id: int | None,
    arrived_at: dt.datetime,
    answered_at: dt.datetime,
    threshold_seconds: float,
) -> list[Increment]:
    """The first agent reply: answered, its wait, and in time if within the threshold."""
    minute = minute_of(answered_at)
    wait = _ms(answered_at - arrived_at)
    in_time = 1 if wait <= threshold_seconds * 1000 else 0
    out: list[Increment] = []
    for scope in _scopes(queue_id):
        out += [
            (minute, scope, "answered", 1),
            (minute, scope, "wait_ms", wait),
            (minute, scope, "answered_in_time", in_time),
        ]
    return out


def abandoned(queue_id: int | None, at: dt.datetime, *, counts: bool) -> list[Increment]:
    """A chat closed as abandoned before any answer; ``counts``: against the service level,
    as its queue's policy says (``QueueTargets.abandon_counts``)."""
    minute = minute_of(at)
    out: list[Increment] = []
    for scope in _scopes(queue_id):
        out += [(minute, scope, "abandoned", 1), (minute, scope, "abandoned_counted", int(counts))]
    return out


def handled(
    queue_id: int | None, answered_at: dt.datetime, resolved_at: dt.datetime
) -> list[Increment]:
    """A chat resolved after an answer: handled, with its handle time."""
    minute = minute_of(resolved_at)
    handle = _ms(resolved_at - answered_at)
    out: list[Increment] = []
    for scope in _scopes(queue_id):
        out += [(minute, scope, "handled", 1), (minute, scope, "handle_ms", handle)]
    return out


# --- Redis ---------------------------------------------------------------------------------

_clients: dict[str, tuple[redis.Redis, Script]] = {}

# The sums of a window's settled minutes (all but the last two) are cached for a while: one
# tick a second would otherwise add up the same 58 hashes sixty times a minute. A write into a
# settled minute (a late commit, a rebuild) bumps the company's epoch, which the cache records:
# a cache of another epoch is rebuilt.
# KEYS: [1] the cache, [2] the epoch, [3] the minute before, [4] the current minute, [5..] the
# settled minutes. ARGV: [1] the cache's lifetime in seconds. Returns [field, sum, ...].
_SUM_LUA = """
local epoch = redis.call('GET', KEYS[2]) or '0'
local sums = {}
local function add(flat)
  for j = 1, #flat, 2 do
    if flat[j] ~= '_epoch' then
      sums[flat[j]] = (sums[flat[j]] or 0) + tonumber(flat[j + 1])
    end
  end
end
if #KEYS > 4 then
  if redis.call('HGET', KEYS[1], '_epoch') == epoch then
    add(redis.call('HGETALL', KEYS[1]))
  else
    for i = 5, #KEYS do
      add(redis.call('HGETALL', KEYS[i]))
    end
    local flat = {'_epoch', epoch}
    for k, v in pairs(sums) do
      flat[#flat + 1] = k
      flat[#flat + 1] = tostring(v)
    end
    redis.call('DEL', KEYS[1])
    redis.call('HSET', KEYS[1], unpack(flat))
    redis.call('EXPIRE', KEYS[1], ARGV[1])
  end
end
add(redis.call('HGETALL', KEYS[3]))
add(redis.call('HGETALL', KEYS[4]))
local out = {}
for k, v in pairs(sums) do
  out[#out + 1] = k
  out[#out + 1] = tostring(v)
end
return out
"""
CACHE_SECONDS: Final = 120


def epoch_key(company_id: int) -> str:
    return f"{settings.REDIS_KEY_PREFIX}:{{c{company_id}}}:lm:epoch"


def cache_key(company_id: int, window: int, last_minute: int) -> str:
    return f"{settings.REDIS_KEY_PREFIX}:{{c{company_id}}}:lm:sum:{window}:{last_minute}"


def _client() -> tuple[redis.Redis, Script]:
    url = settings.REDIS_URL
    found = _clients.get(url)
    if found is None:
        client = sync_client(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        found = _clients[url] = (client, client.register_script(_SUM_LUA))
    return found


def write(company_id: int, increments: Iterable[Increment]) -> None:
    """Add ``increments`` to the company's buckets: one pipeline, amounts merged first."""
    merged: dict[tuple[int, str], int] = defaultdict(int)
    for minute, scope, field, amount in increments:
        if amount:
            merged[(minute, f"{scope}:{field}")] += amount
        else:
            merged.setdefault((minute, f"{scope}:{field}"), 0)
    if not merged:
        return
    client, _ = _client()
    pipe = client.pipeline(transaction=False)
    minutes = set()
    for (minute, field), amount in merged.items():
        pipe.hincrby(bucket_key(company_id, minute), field, amount)
        minutes.add(minute)
    for minute in minutes:
        pipe.expireat(bucket_key(company_id, minute), (minute + 1) * 60 + KEEP_SECONDS)
    if min(minutes) < minute_of(timezone.now()) - 1:  # a settled minute: caches are stale
        pipe.incr(epoch_key(company_id))
        pipe.expire(epoch_key(company_id), KEEP_SECONDS)
    pipe.execute()


def record(company_id: int, increments: Sequence[Increment]) -> None:
    """Write ``increments`` once the current transaction commits (now, outside one).

    Call from an action, next to its outbox publish. Redis being down costs the live numbers
    (logged), never the action: ``rebuild_live_metrics`` restores them from the database.
    """
    if not increments:
        return
    items = list(increments)

    def _write() -> None:
        try:
            write(company_id, items)
        except REDIS_ERRORS:
            logger.warning("live metrics counters for company %s not written", company_id)

    transaction.on_commit(_write, robust=True)


def window_minutes(now: dt.datetime, window: int) -> range:
    """The buckets of a ``window``-minute window ending at ``now``: the current minute and the
    ``window - 1`` before it."""
    last = minute_of(now)
    return range(last - window + 1, last + 1)


def _parse(flat: Sequence[Any]) -> dict[str, Tally]:
    by_scope: dict[str, Tally] = {}
    for i in range(0, len(flat), 2):
        name = flat[i].decode() if isinstance(flat[i], bytes) else str(flat[i])
        scope, _, field = name.rpartition(":")
        if field not in _FIELD_SET:
            continue
        tally = by_scope.get(scope)
        if tally is None:
            tally = by_scope[scope] = Tally()
        setattr(tally, field, getattr(tally, field) + int(float(flat[i + 1])))
    return by_scope


def window_keys(company_id: int, now: dt.datetime, window: int) -> list[str]:
    """The summing script's keys (see ``_SUM_LUA``) for a window ending at ``now``."""
    minutes = window_minutes(now, window)
    last = minutes[-1]
    current = bucket_key(company_id, last)
    before = bucket_key(company_id, last - 1) if window > 1 else current + ":none"
    settled = [bucket_key(company_id, m) for m in minutes[:-2]]
    return [cache_key(company_id, window, last), epoch_key(company_id), before, current, *settled]


def read_windows(
    company_ids: Sequence[int], now: dt.datetime, window: int
) -> dict[int, dict[str, Tally]]:
    """Per company, per scope (``ALL`` or a queue id as text), the window's sums.

    One script call per company, pipelined on one Redis (a cluster pipeline refuses scripts:
    one call each there). A company's settled minutes come from its cached sum when it is
    current: a call reads three small hashes, not ``window``.
    """
    client, script = _client()
    keys = {c: window_keys(c, now, window) for c in company_ids}
    args = [CACHE_SECONDS]
    if is_cluster_client(client):
        replies = [script(keys=keys[c], args=args) for c in company_ids]
    else:
        pipe = client.pipeline(transaction=False)
        for company_id in company_ids:
            script(keys=keys[company_id], args=args, client=pipe)
        replies = pipe.execute()
    return {c: _parse(reply) for c, reply in zip(company_ids, replies, strict=True)}


def clear(company_id: int, minutes: Iterable[int]) -> None:
    """Drop the company's buckets for ``minutes`` (before a rebuild writes them again)."""
    client, _ = _client()
    keys = [bucket_key(company_id, m) for m in minutes]
    for start in range(0, len(keys), 500):
        client.delete(*keys[start : start + 500])
    client.incr(epoch_key(company_id))  # every cached sum is stale now
