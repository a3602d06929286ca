"""Failed-login throttling for every password login: web, admin and `POST /api/v1/auth/token/`.

Two counters per attempt, in Redis (the cache's server; the state is disposable):

- per (account, address): `LOGIN_FAILURES_PER_ACCOUNT` failures of one username from one
  address lock that pair. Nobody can lock a real user out from elsewhere: the user's own
  address keeps its own counter, and a success there clears it.
- per address: `LOGIN_FAILURES_PER_ADDRESS` failures from one address, whatever the usernames,
  lock that address (password spraying). Higher, since an office shares one address.

A lock lasts `LOGIN_LOCKOUT_SECONDS` from the failure that set it; attempts refused while locked
are not counted (they check no password), so they do not prolong it. Counters are also
forgotten that long after the first attempt of a window.

An attempt is counted when it *starts*, before the password is checked, and given back when it
succeeds. Counting only finished failures would let a burst of parallel guesses all pass the
check while the password hashes run: with `begin` first, at most the limit can be in flight.
IPv6 clients are counted per /64, the block one subscriber usually holds.

Why not django-axes: it applies one failure limit to every lockout key, so a per-address limit
high enough for an office would raise the per-account one with it; its backend also needs a
`request` in every `authenticate()` call (Django's test `Client.login()` has none).

A request whose address cannot be read counts as one client, `unknown`: behind a proxy on a Unix
socket, set TRUSTED_PROXY_COUNT. A Redis outage fails open (logged): logins keep working without
the throttle rather than nobody logging in. The password-reset flow, when it comes, can count
its requests the same way under counters of its own (`begin(..., kind="reset")`).
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import logging
import math
from dataclasses import dataclass
from typing import Any

import redis
from django.conf import settings
from django.utils.translation import ngettext

from events.redis_clients import sync_client
from routing_service.security.addresses import UNKNOWN, IPAddress, client_address

logger = logging.getLogger(__name__)

# KEYS: the (account, address) counter, the address counter. ARGV: their limits (0: none), the
# window in seconds. Refused: the seconds until every lock among them has ended; else counts the
# attempt (a new counter starts its window) and returns 0.
_BEGIN = """
local wait = 0
for i = 1, 2 do
  local limit = tonumber(ARGV[i])
  if limit > 0 and tonumber(redis.call('GET', KEYS[i]) or '0') >= limit then
    local ttl = redis.call('TTL', KEYS[i])
    if ttl < 1 then ttl = tonumber(ARGV[3]) end
    if ttl > wait then wait = ttl end
  end
end
if wait > 0 then return wait end
for i = 1, 2 do
  if redis.call('INCR', KEYS[i]) == 1 then redis.call('EXPIRE', KEYS[i], ARGV[3]) end
end
return 0
"""

# The attempt failed (it is already counted). A counter at its limit is locked: it lives the
# whole lock-out from now. Returns the lock-out in seconds, or 0.
_FAILED = """
local locked = 0
for i = 1, 2 do
  local limit = tonumber(ARGV[i])
  if limit > 0 and tonumber(redis.call('GET', KEYS[i]) or '0') >= limit then
    redis.call('EXPIRE', KEYS[i], ARGV[3])
    locked = tonumber(ARGV[3])
  end
end
return locked
"""

# The attempt succeeded: the pair starts afresh; the address gets its attempt back.
_SUCCEEDED = """
redis.call('DEL', KEYS[1])
if tonumber(redis.call('GET', KEYS[2]) or '0') > 0 then redis.call('DECR', KEYS[2]) end
return 0
"""


class LoginLocked(Exception):
    """Too many failed logins: refuse without checking the password, for `retry_after` s."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"login locked for {retry_after} s")
        self.retry_after = max(1, int(retry_after))

    @property
    def minutes(self) -> int:
        return max(1, math.ceil(self.retry_after / 60))

    @property
    def message(self) -> str:
        """What the person at the form (or the API client) is told."""
        return ngettext(
            "Too many failed log-in attempts. Please try again in %(minutes)d minute.",
            "Too many failed log-in attempts. Please try again in %(minutes)d minutes.",
            self.minutes,
        ) % {"minutes": self.minutes}


@functools.cache
def _client(url: str) -> redis.Redis:
    # Short timeouts: a login waits on Redis at most a moment before failing open.
    return sync_client(url, socket_connect_timeout=1, socket_timeout=1)


@functools.cache
def _script(url: str, source: str) -> Any:
    return _client(url).register_script(source)


def _run(source: str, keys: list[str], args: list[int]) -> int:
    url = settings.CACHE_REDIS_URL
    return int(_script(url, source)(keys=keys, args=args))


def address_bucket(address: IPAddress | None) -> str:
    """What one client is counted as: its IPv4 address, or its IPv6 /64."""
    if address is None:
        return UNKNOWN
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def _keys(kind: str, address: str, username: str) -> list[str]:
    # Usernames are hashed: any length or character, no account names in Redis. The address is
    # a hash tag, so both keys of one attempt live on one Redis Cluster slot (one script).
    account = hashlib.sha256(username.strip().casefold().encode()).hexdigest()[:32]
    base = f"{settings.REDIS_KEY_PREFIX}:{kind}:{{{address}}}"
    return [f"{base}:account:{account}", f"{base}:address"]


def _limits() -> list[int]:
    return [
        int(settings.LOGIN_FAILURES_PER_ACCOUNT),
        int(settings.LOGIN_FAILURES_PER_ADDRESS),
        int(settings.LOGIN_LOCKOUT_SECONDS),
    ]


@dataclass(frozen=True)
class Attempt:
    """One counted login attempt; say how it ended with `failed()` or `succeeded()`."""

    keys: list[str]
    counted: bool
    address: str = UNKNOWN

    def failed(self) -> None:
        """Raises LoginLocked when this failure reaches a limit (the caller answers 429)."""
        if not self.counted:
            return
        try:
            locked = _run(_FAILED, self.keys, _limits())
        except redis.RedisError as exc:
            logger.error("login throttle unavailable, failure not counted: %s", exc)
            return
        if locked:
            # Address only: usernames typed by an attacker do not belong in logs.
            logger.warning("login locked out for %d s after failures from %s", locked, self.address)
            raise LoginLocked(locked)

    def succeeded(self) -> None:
        if not self.counted:
            return
        try:
            _run(_SUCCEEDED, self.keys, [])
        except redis.RedisError as exc:
            logger.error("login throttle unavailable, success not recorded: %s", exc)


def begin(request: Any, username: str, *, kind: str = "login") -> Attempt:
    """Count a login attempt by `username` from the request's client, before its password is
    checked. Raises LoginLocked while that account from that address, or that address, is
    locked. `kind` names the counters (the three logins share `login`)."""
    address = address_bucket(client_address(request))
    keys = _keys(kind, address, username)
    try:
        wait = _run(_BEGIN, keys, _limits())
    except redis.RedisError as exc:
        logger.error("login throttle unavailable, attempt not counted: %s", exc)
        return Attempt(keys, counted=False, address=address)
    if wait:
        raise LoginLocked(wait)
    return Attempt(keys, counted=True, address=address)
