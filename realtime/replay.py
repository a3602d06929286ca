"""⑤ Catching up: the events a reconnecting client missed, read from the durable log.

`events.log` appends every event to one Redis stream per group with entry id `<seq>-0`.
A client that comes back with `?last_seq=N` gets, for each group of its connection, the entries
from `(N+1)-0` on, merged by seq (an event sent to two of its groups is logged twice with the
same seq, and delivered once). One Lua script reads every log and what was removed from it at
one instant, so "was anything after N trimmed away?" and "what is after N?" agree.

The consumer joins its groups *before* calling this (see `consumers.base`): an event published
after the read is then delivered live, one published before is in the log, and the seam is
de-duplicated by seq.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from events.log import log_key, seq_key
from realtime.batching import run_script
from realtime.connections import async_client

# KEYS: the company's seq key, then one log per group. ARGV: first id wanted, count limit.
# Returns {current seq, then per log: its removal record (see `_lost`), its entries}.
_READ_LUA = """
local out = {tonumber(redis.call('GET', KEYS[1]) or '0')}
for i = 2, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then
    local info = redis.call('XINFO', 'STREAM', KEYS[i])
    local f = {}
    for j = 1, #info, 2 do f[info[j]] = info[j + 1] end
    local first = f['first-entry']
    out[#out + 1] = {
      f['max-deleted-entry-id'], tostring(f['entries-added']), tostring(f['length']),
      first and first[1] or ''
    }
    out[#out + 1] = redis.call('XRANGE', KEYS[i], ARGV[1], '+', 'COUNT', ARGV[2])
  else
    out[#out + 1] = {}
    out[#out + 1] = {}
  end
end
return out
"""

_CURRENT_LUA = "return tonumber(redis.call('GET', KEYS[1]) or '0')"

# KEYS: the company's seq key, the queue group's log. Returns {current seq, the seq of the
# queue's latest event (0: none logged)}.
_POINT_LUA = """
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)[1]
local queue = 0
if last then queue = tonumber(string.match(last[1], '^(%d+)')) end
return {tonumber(redis.call('GET', KEYS[1]) or '0'), queue}
"""


@dataclass
class Replay:
    """What the log says about `after`: the current seq, and the missed events or why not."""

    current_seq: int
    events: list[tuple[int, str]] = field(default_factory=list)
    # None: `events` is complete. Otherwise why a fresh snapshot is needed instead.
    resync_reason: str | None = None


async def current_seq(company_id: int) -> int:
    """The company's latest seq (0 before its first event)."""
    return int(await run_script(async_client(), _CURRENT_LUA, [seq_key(company_id)]))


async def snapshot_point(company_id: int, queue_group: str) -> tuple[int, int]:
    """The company's latest seq and that of its queue's latest event, read at one instant: a
    snapshot's company-wide queue built after seq C still holds at seq S if the queue had no
    event in (C, S] (realtime.snapshots caches it on that condition)."""
    keys = [seq_key(company_id), log_key(company_id, queue_group)]
    seq, queue = await run_script(async_client(), _POINT_LUA, keys)
    return int(seq), int(queue)


def _entry_seq(entry_id: bytes | str) -> int:
    raw = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
    return int(raw.partition("-")[0]) if raw else 0


def _lost(record: list[bytes], after: int) -> bool:
    """Whether an entry with seq > `after` may have been removed from this log.

    `max-deleted-entry-id` covers XDEL, but Redis 7.0 does not advance it when MAXLEN trims
    the head, so trimming is judged from the rest: entries were removed (`entries-added` >
    `length`), and they are all older than the first entry left — so they are harmless only
    if that first entry comes right after `after` or earlier. (A log that simply had no events
    between `after` and its first entry also resyncs: safe, if not strictly needed.)
    """
    if not record:
        return False  # the group never had an event
    deleted, added, length, first = record
    if _entry_seq(deleted) > after:
        return True
    if int(added) > int(length):
        return int(length) == 0 or _entry_seq(first) > after + 1
    return False


async def read_since(company_id: int, groups: Sequence[str], after: int, *, limit: int) -> Replay:
    """The events of `groups` with seq > `after`, in seq order, each once."""
    keys = [seq_key(company_id), *(log_key(company_id, g) for g in groups)]
    raw = await run_script(async_client(), _READ_LUA, keys, [f"{after + 1}-0", limit + 1])
    current = int(raw[0])
    if after > current:
        # The client saw a seq this Redis never issued (the data was lost or replaced).
        return Replay(current, resync_reason="unknown_seq")
    if after == current:
        return Replay(current)
    merged: dict[int, str] = {}
    for i in range(1, len(raw), 2):
        record, entries = raw[i], raw[i + 1]
        if _lost(record, after):
            return Replay(current, resync_reason="trimmed")
        if len(entries) > limit:
            return Replay(current, resync_reason="too_many")
        for entry_id, fields in entries:
            body = fields[1]  # the only field, `e`: the envelope JSON
            merged[_entry_seq(entry_id)] = body.decode() if isinstance(body, bytes) else body
    if len(merged) > limit:
        return Replay(current, resync_reason="too_many")
    return Replay(current, sorted(merged.items()))
