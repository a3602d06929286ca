"""⑤ Websocket tickets: a short-lived, single-use credential for `/ws/...?ticket=`.

Browsers cannot put an `Authorization` header on a websocket handshake, and a token in a URL
ends up in proxy logs. So an authenticated client asks `POST /api/v1/ws-ticket/` for a ticket
and spends it at once: it is signed (tampering is detected without a database), expires after
`settings.WS_TICKET_TTL_SECONDS`, and can be redeemed only once — the random nonce it carries
is claimed in Redis with `SET NX`, so a ticket copied out of a log is worthless even inside its
lifetime, and several web processes agree on which redemption was first. It also carries the
user's credentials stamp (`User.credentials_version`): the consumer refuses a ticket issued
before a password, role or company change or a deactivation, when it loads the user anyway.
"""

from __future__ import annotations

import datetime as dt
import functools
import secrets
from typing import NamedTuple

import redis
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core import signing

from events.redis_clients import sync_client
from realtime.batching import run_script
from realtime.connections import async_client

__all__ = ["Redeemed", "aredeem_ticket", "issue_ticket", "redeem_ticket"]

_SALT = "switchboard.realtime.wsticket"
# A used nonce is remembered a little longer than a ticket can live, so it cannot come back.
_NONCE_MARGIN_SECONDS = 5

# KEYS: the nonce key. ARGV: user id, seconds to remember it. 1 on the first redemption.
_CLAIM_LUA = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then return 1 end
return 0
"""


def _signer() -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=_SALT)


def _nonce_key(nonce: str) -> str:
    return f"{settings.REDIS_KEY_PREFIX}:wsticket:{nonce}"


def _ttl() -> int:
    return int(settings.WS_TICKET_TTL_SECONDS)


@functools.cache
def _redis(url: str) -> redis.Redis:
    """One sync client (and connection pool) per process and URL."""
    return sync_client(url)


class Redeemed(NamedTuple):
    """Whom a ticket was issued to, and under which credentials stamp."""

    user_id: int
    credentials_version: int


def issue_ticket(user: AbstractBaseUser) -> tuple[str, dt.datetime]:
    """A ticket for `user` (as of its credentials stamp) and the moment it stops being
    accepted."""
    user_id = int(user.pk)
    version = int(getattr(user, "credentials_version", 0))
    nonce = secrets.token_urlsafe(16)  # URL-safe base64: never a ":"
    ticket = _signer().sign(f"{user_id}:{version}:{nonce}")
    expires_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=_ttl())
    return ticket, expires_at


def _verify(ticket: str) -> tuple[Redeemed, str] | None:
    """Who a well-signed, unexpired ticket names, and its nonce; None otherwise."""
    if not isinstance(ticket, str) or not ticket or len(ticket) > 512:
        return None
    try:
        value = _signer().unsign(ticket, max_age=_ttl())
    except signing.BadSignature:  # SignatureExpired is a BadSignature too
        return None
    parts = value.split(":")
    if len(parts) != 3:
        return None
    user_part, version_part, nonce = parts
    if not (user_part.isascii() and user_part.isdigit()) or not nonce:
        return None
    if not (version_part.isascii() and version_part.isdigit()):
        return None
    return Redeemed(int(user_part), int(version_part)), nonce


def redeem_ticket(ticket: str) -> Redeemed | None:
    """Whom the ticket was issued to, the first time it is presented; None otherwise."""
    verified = _verify(ticket)
    if verified is None:
        return None
    redeemed, nonce = verified
    first_use = _redis(settings.REDIS_URL).set(
        _nonce_key(nonce), redeemed.user_id, nx=True, ex=_ttl() + _NONCE_MARGIN_SECONDS
    )
    return redeemed if first_use else None


async def aredeem_ticket(ticket: str) -> Redeemed | None:
    """`redeem_ticket` for the websocket consumer, without blocking the event loop.

    Uses the running loop's pooled client (asyncio connections belong to the loop that made
    them: a client per call cost ~1.5 ms of a handshake's ~6 ms in a reconnect storm), and the
    claims of sockets connecting together share one pipelined round trip.
    """
    verified = _verify(ticket)
    if verified is None:
        return None
    redeemed, nonce = verified
    client = async_client(settings.REDIS_URL)
    keys = [_nonce_key(nonce)]
    first_use = await run_script(
        client, _CLAIM_LUA, keys, [redeemed.user_id, _ttl() + _NONCE_MARGIN_SECONDS]
    )
    return redeemed if first_use == 1 else None
