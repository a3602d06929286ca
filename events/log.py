"""④ The durable per-company event log and the channel layer, written in one step.

Every event gets a company-wide `seq` (one INCR per company) and is appended to the log of each
group it goes to — a Redis stream whose entry id is `<seq>-0`, so a reconnecting client asks for
"everything after seq N" with one XRANGE per group, and the stream's `max-deleted-entry-id`
says whether that gap has already been trimmed away. The same Lua script then PUBLISHes the
envelope to the group's channels-redis pub/sub channel, so live delivery follows seq order even
with several publishers. The channel layer alone is never the record: it drops by design.

Events from the outbox (`events.outbox`) carry their outbox row id, and the script logs a row
at most once: it keeps the company's highest logged row id (`{c42}:outbox`) and does nothing
for a row at or below it. Publishers take a company's rows in id order (see the outbox), so a
re-publish after a crash between this script and the row's deletion is a no-op.

Keys of one company share a hash tag (`{c42}`), so they live on one Redis Cluster slot. On a
cluster (`REDIS_CLUSTER`) the script SPUBLISHes instead (sharded pub/sub): a sharded channel
must hash to the script's slot, so each group's live channel carries the company's tag
(`live_group`, `group_channel`) — the seq order of live delivery holds there too.
`publish_now` is for events that are not the record of a change (wallboard stats, tests).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import redis
from django.conf import settings
from redis.commands.core import Script

from events.redis_clients import cluster_enabled, sync_client
from events.schema import Event

_json = msgspec.json.Encoder()

# A publisher holds outbox row locks while it talks to Redis: a stalled server must fail the
# call (the rows roll back to the relay), not hold the locks for ever.
SOCKET_TIMEOUT_SECONDS = 5.0

# KEYS: seq key, the company's logged-outbox-row key, then one log stream per group.
# ARGV: maxlen, envelope head, envelope tail, outbox row id (0: none), then one pub/sub channel
# per group. Returns the seq given, or 0 for an outbox row that is already in the log.
_PUBLISH_LUA = """
local row = tonumber(ARGV[4])
if row > 0 then
  if row <= tonumber(redis.call('GET', KEYS[2]) or '0') then return 0 end
  redis.call('SET', KEYS[2], row)
end
local seq = redis.call('INCR', KEYS[1])
local id = seq .. '-0'
local envelope = ARGV[2] .. seq .. ARGV[3]
local packed = cmsgpack.pack({type = 'sb.event', event = envelope, seq = seq})
for i = 3, #KEYS do
  redis.call('XADD', KEYS[i], 'MAXLEN', '~', ARGV[1], id, 'e', envelope)
  redis.call('PUBLISH', ARGV[i + 2], packed)
end
return seq
"""
# The same on a cluster: sharded pub/sub, to channels in the script's own slot.
_SPUBLISH_LUA = _PUBLISH_LUA.replace("redis.call('PUBLISH'", "redis.call('SPUBLISH'")
_COMPANY_GROUP = re.compile(r"company\.(\d+)\.")


def _prefix() -> str:
    return settings.REDIS_KEY_PREFIX


def seq_key(company_id: int) -> str:
    return f"{_prefix()}:{{c{company_id}}}:seq"


def log_key(company_id: int, group: str) -> str:
    return f"{_prefix()}:{{c{company_id}}}:log:{group}"


def logged_row_key(company_id: int) -> str:
    """The highest outbox row id of the company already in its log."""
    return f"{_prefix()}:{{c{company_id}}}:outbox"


def live_group(company_id: int, group: str) -> str:
    """The channel-layer group that carries `group`'s events of `company_id` live.

    On one Redis, the group itself. On a cluster, a company-scoped name
    (`company.42.agent.7` for `agent.7`), so that its sharded channel hashes with the
    company's keys and the log script can SPUBLISH to it; the log keeps the group's own name.
    """
    if not cluster_enabled() or group.startswith(f"company.{company_id}."):
        return group
    return f"company.{company_id}.{group}"


def group_channel(group: str, prefix: str | None = None) -> str:
    """The pub/sub channel of a channel-layer group (channels-redis' naming on one Redis; on a
    cluster with the slot's hash tag: `{c42}` for a company's groups, else the group). The
    prefix is the layer's, CHANNEL_LAYER_PREFIX unless given."""
    prefix = settings.CHANNEL_LAYER_PREFIX if prefix is None else prefix
    if not cluster_enabled():
        return f"{prefix}__group__{group}"
    match = _COMPANY_GROUP.match(group)
    tag = f"c{match[1]}" if match else group
    return f"{prefix}__group__{{{tag}}}{group}"


_clients: dict[str, tuple[redis.Redis, Script]] = {}


def log_client() -> tuple[redis.Redis, Script]:
    """One client and registered script per process and URL (tests point the URL elsewhere)."""
    url = settings.CHANNEL_LAYER_REDIS_URL
    found = _clients.get(url)
    if found is None:
        client = sync_client(url, socket_timeout=SOCKET_TIMEOUT_SECONDS, socket_connect_timeout=2.0)
        source = _SPUBLISH_LUA if cluster_enabled() else _PUBLISH_LUA
        found = _clients[url] = (client, client.register_script(source))
    return found


@dataclass(frozen=True)
class Entry:
    """An event as the log takes it: the envelope JSON split around its seq, which only the log
    knows, and the outbox row it comes from (0: none)."""

    company_id: int
    groups: tuple[str, ...]
    head: str
    tail: str
    row_id: int = 0


def envelope_parts(type_: str, event_id: str, at: str, data_json: str) -> tuple[str, str]:
    """The envelope `{"type", "id", "seq", "at", "data"}` around its missing seq."""
    head = '{"type":' + _json.encode(type_).decode() + ',"id":' + _json.encode(event_id).decode()
    return head + ',"seq":', ',"at":' + _json.encode(at).decode() + ',"data":' + data_json + "}"


def encode_data(data: dict[str, Any]) -> str:
    return _json.encode(data).decode()


def entry_for(event: Event, row_id: int = 0, data_json: str | None = None) -> Entry:
    head, tail = envelope_parts(
        event.type,
        event.id,
        event.at,
        data_json if data_json is not None else encode_data(event.data),
    )
    return Entry(event.company_id, event.groups, head, tail, row_id)


def publish_entries(entries: Sequence[Entry]) -> list[int]:
    """Log and broadcast `entries` in order with one pipelined round trip; returns their seqs
    (0 for an outbox row that was logged before)."""
    if not entries:
        return []
    client, script = log_client()
    maxlen = settings.EVENT_LOG_MAXLEN
    # The key and channel names of seq_key, logged_row_key, log_key and group_channel, spelled
    # out: settings are read once per call, not a few times per event (the router's hot path).
    prefix, channels = settings.REDIS_KEY_PREFIX, settings.CHANNEL_LAYER_PREFIX
    if cluster_enabled():
        return _publish_on_cluster(client, script, entries)
    pipe = client.pipeline(transaction=False)
    for entry in entries:
        company = f"{prefix}:{{c{entry.company_id}}}"
        keys = [f"{company}:seq", f"{company}:outbox"]
        keys += [f"{company}:log:{g}" for g in entry.groups]
        args: list[str | int] = [maxlen, entry.head, entry.tail, entry.row_id]
        args += [f"{channels}__group__{g}" for g in entry.groups]
        script(keys=keys, args=args, client=pipe)
    return [int(seq) for seq in pipe.execute()]


def _publish_on_cluster(client: redis.Redis, script: Script, entries: Sequence[Entry]) -> list[int]:
    """`publish_entries` on a cluster: one pipeline per slot owner (a company's entries stay
    in order: one slot, one node), on that node's own client, which loads the script where it
    is missing (a new node, a replica promoted by a failover). redis-py's cluster pipeline
    refuses scripts. If a node fails or says MOVED, the slot map is read again and the call
    fails: outbox rows stay for the relay, and those already logged elsewhere are no-ops then
    (rows are logged at most once)."""
    cluster: Any = client
    maxlen = settings.EVENT_LOG_MAXLEN
    by_node: dict[str, tuple[Any, list[int]]] = {}
    for i, entry in enumerate(entries):
        node = cluster.get_node_from_key(seq_key(entry.company_id))
        by_node.setdefault(node.name, (node, []))[1].append(i)
    seqs = [0] * len(entries)
    for node, indexes in by_node.values():
        pipe = node.redis_connection.pipeline(transaction=False)
        for i in indexes:
            entry = entries[i]
            keys = [seq_key(entry.company_id), logged_row_key(entry.company_id)]
            keys += [log_key(entry.company_id, g) for g in entry.groups]
            args: list[str | int] = [maxlen, entry.head, entry.tail, entry.row_id]
            args += [group_channel(live_group(entry.company_id, g)) for g in entry.groups]
            script(keys=keys, args=args, client=pipe)
        try:
            replies = pipe.execute()
        except (redis.ConnectionError, redis.TimeoutError, redis.ResponseError):
            cluster.nodes_manager.initialize()
            raise
        for i, seq in zip(indexes, replies, strict=True):
            seqs[i] = int(seq)
    return seqs


def publish_now(events: Sequence[Event]) -> list[int]:
    """Log and broadcast events that are no database change's record (wallboard stats): there
    is nothing to replay them from if this fails. Changes go through `events.outbox`."""
    return publish_entries([entry_for(event) for event in events])
