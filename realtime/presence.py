"""⑤ Presence: open agent consoles and their heartbeats decide who is really there.

Redis holds, under one hash tag (`{presence}`, so the scripts stay single-slot on a cluster):

* `conns:<user id>` — a sorted set of the agent's open console connections, scored by their
  last heartbeat (unix seconds);
* `hb` — every open console of every agent (`"<user id>|<connection>"`), same scores: the
  index the checker scans for consoles that stopped beating (a web process that died);
* `due` — agents whose last console went away, scored by when their grace period ends.

A console registers on connect and leaves on disconnect; while open, its web process refreshes
it every `PRESENCE_HEARTBEAT_SECONDS` (one pipelined call for all its consoles) and so does each
client `ping`. A console silent for `PRESENCE_TIMEOUT_SECONDS` counts as closed. When an
agent's last console closes, the agent enters `due`; reconnecting before the grace period
(`PRESENCE_GRACE_SECONDS`) ends takes them out again and nothing happened. Otherwise the
checker (`manage.py run_presence`, `presence_tick`) sets them `away` through
`set_agent_status`, which re-routes their unaccepted offers and tells supervisors
(`agent.status`).

Only agents who had a console open ever enter `due`: an integration or a bot whose status is
set over REST never opens one, and presence never touches it. Only `available` agents are
moved (`offline` and `away` stay as they are).

Several checkers may run: reaping and claiming are single Lua scripts, and a claimed agent is
leased (re-claimable after `_LEASE_SECONDS` if its checker died before acting).
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.conf import settings

from realtime.batching import run_script
from realtime.connections import presence_async_client, presence_sync_client

logger = logging.getLogger(__name__)

_LEASE_SECONDS = 30
_BATCH = 500


def _base() -> str:
    return f"{settings.REDIS_KEY_PREFIX}:{{presence}}"


def conns_key(user_id: int) -> str:
    return f"{_base()}:conns:{user_id}"


def hb_key() -> str:
    return f"{_base()}:hb"


def due_key() -> str:
    return f"{_base()}:due"


# KEYS: conns, hb, due. ARGV: connection, now, user id.
_OPEN_LUA = """
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3] .. '|' .. ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[3])
return redis.call('ZCARD', KEYS[1])
"""

# KEYS: conns, hb, due. ARGV: connection, user id, grace deadline.
# Returns 1 when this was the agent's last console (the grace period starts).
_CLOSE_LUA = """
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[2] .. '|' .. ARGV[1])
if removed == 1 and redis.call('ZCARD', KEYS[1]) == 0 then
  redis.call('ZADD', KEYS[3], ARGV[3], ARGV[2])
  return 1
end
return 0
"""

# KEYS: hb, then one conns key per console. ARGV: now, then (connection, hb member) pairs.
# XX: a console the checker already reaped is not resurrected by a late heartbeat.
_HEARTBEAT_LUA = """
for i = 2, #KEYS do
  redis.call('ZADD', KEYS[i], 'XX', ARGV[1], ARGV[2 * i - 2])
  redis.call('ZADD', KEYS[1], 'XX', ARGV[1], ARGV[2 * i - 1])
end
return #KEYS - 1
"""

# KEYS: hb, due. ARGV: stale cutoff, grace deadline, limit, conns key prefix.
_REAP_LUA = """
local stale = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
for _, member in ipairs(stale) do
  redis.call('ZREM', KEYS[1], member)
  local sep = string.find(member, '|', 1, true)
  local user = string.sub(member, 1, sep - 1)
  local conns = ARGV[4] .. user
  if redis.call('ZREM', conns, string.sub(member, sep + 1)) == 1
     and redis.call('ZCARD', conns) == 0 then
    redis.call('ZADD', KEYS[2], 'NX', ARGV[2], user)
  end
end
return #stale
"""

# KEYS: due. ARGV: now, lease until, limit, conns key prefix.
# Agents with a console again are dropped; the others are leased and returned.
_CLAIM_LUA = """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
local claimed = {}
for _, user in ipairs(due) do
  if redis.call('ZCARD', ARGV[4] .. user) > 0 then
    redis.call('ZREM', KEYS[1], user)
  else
    redis.call('ZADD', KEYS[1], 'XX', ARGV[2], user)
    claimed[#claimed + 1] = user
  end
end
return claimed
"""

# KEYS: due. ARGV: user, lease. Forget the agent unless someone re-queued it meanwhile.
_DONE_LUA = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) == tonumber(ARGV[2]) then
  return redis.call('ZREM', KEYS[1], ARGV[1])
end
return 0
"""


# --- the web process side (async) ------------------------------------------------------------


@dataclass
class _LocalConsoles:
    """The consoles open in this process (one registry per event loop)."""

    consoles: dict[str, int] = field(default_factory=dict)  # connection → user id
    task: asyncio.Task[None] | None = None


_local: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LocalConsoles] = (
    weakref.WeakKeyDictionary()
)


def _registry() -> _LocalConsoles:
    return _local.setdefault(asyncio.get_running_loop(), _LocalConsoles())


async def console_opened(user_id: int, connection: str) -> None:
    registry = _registry()
    registry.consoles[connection] = user_id
    await run_script(
        presence_async_client(),
        _OPEN_LUA,
        [conns_key(user_id), hb_key(), due_key()],
        [connection, time.time(), user_id],
    )
    if registry.task is None or registry.task.done():
        registry.task = asyncio.create_task(_heartbeat_loop(registry))


async def console_closed(user_id: int, connection: str) -> bool:
    """Forget the console; True when it was the agent's last (the grace period starts)."""
    registry = _registry()
    registry.consoles.pop(connection, None)
    if not registry.consoles and registry.task is not None:
        registry.task.cancel()
        registry.task = None
    deadline = time.time() + settings.PRESENCE_GRACE_SECONDS
    last = await run_script(
        presence_async_client(),
        _CLOSE_LUA,
        [conns_key(user_id), hb_key(), due_key()],
        [connection, user_id, deadline],
    )
    return bool(last)


async def touch(consoles: Sequence[tuple[str, int]]) -> None:
    """Refresh the heartbeat of these (connection, user id) consoles."""
    client = presence_async_client()
    now = time.time()
    for start in range(0, len(consoles), _BATCH):
        chunk = consoles[start : start + _BATCH]
        keys = [hb_key(), *(conns_key(user_id) for _, user_id in chunk)]
        args: list[str | float] = [now]
        for connection, user_id in chunk:
            args += [connection, f"{user_id}|{connection}"]
        await run_script(client, _HEARTBEAT_LUA, keys, args)


async def _heartbeat_loop(registry: _LocalConsoles) -> None:
    """The server-side heartbeat: proves this process still holds its consoles."""
    while registry.consoles:
        await asyncio.sleep(settings.PRESENCE_HEARTBEAT_SECONDS)
        try:
            await touch(list(registry.consoles.items()))
        except Exception:  # Redis hiccup: the next beat retries; the timeout is 3 beats
            logger.exception("presence heartbeat failed")


# --- the checker (sync: `manage.py run_presence`) --------------------------------------------


@dataclass(frozen=True)
class TickResult:
    reaped: int  # consoles that stopped beating
    away: list[int]  # agents set away


def presence_tick(now: float | None = None) -> TickResult:
    """One pass: reap silent consoles, then set away agents whose grace period ended."""
    from routing_service.chats.actions import ActionError, set_agent_status
    from routing_service.tenancy.models import AgentStatus, User

    now = time.time() if now is None else now
    client = presence_sync_client()
    prefix = f"{_base()}:conns:"
    reaped = int(
        client.eval(
            _REAP_LUA,
            2,
            hb_key(),
            due_key(),
            now - settings.PRESENCE_TIMEOUT_SECONDS,
            now + settings.PRESENCE_GRACE_SECONDS,
            _BATCH,
            prefix,
        )
    )
    lease = now + _LEASE_SECONDS
    claimed = [int(u) for u in client.eval(_CLAIM_LUA, 1, due_key(), now, lease, _BATCH, prefix)]
    away: list[int] = []
    for user_id in claimed:
        try:
            status = User.objects.filter(pk=user_id).values_list("status", flat=True).first()
            if status == AgentStatus.AVAILABLE:
                set_agent_status(user_id, AgentStatus.AWAY, reason="no open console")
                away.append(user_id)
        except ActionError:
            logger.warning("presence: agent %s could not be set away", user_id, exc_info=True)
        except Exception:
            # Leased: another pass retries after the lease.
            logger.exception("presence: setting agent %s away failed", user_id)
            continue
        client.eval(_DONE_LUA, 1, due_key(), user_id, lease)
    return TickResult(reaped, away)


def open_consoles(user_id: int) -> int:
    """How many consoles the agent has open (for tests and the admin)."""
    return int(presence_sync_client().zcard(conns_key(user_id)))
