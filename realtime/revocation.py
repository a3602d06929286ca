"""⑤ A socket lives only as long as the credentials it was opened with.

A socket remembers who opened it (`Identity`: user, credentials stamp, role, company). The
tenancy actions raise the stamp on a password, role or company change, a deactivation or a
"revoke my tokens" (routing_service/tenancy/actions.py). Three things then end the socket:

1. **Push** (milliseconds): after commit the action sends `sb.revoke` to the user's groups
   `agent.<id>` (consoles) and `user.<id>` (wallboards) (routing_service/tenancy/sockets.py);
   a socket opened under an older stamp closes with 4401.
2. **Every action** re-reads the user row (one primary-key read, joined to the company, on the
   thread the action runs on anyway) and runs as that fresh user, never the copy from connect.
   A changed stamp, role, company or password, or an inactive user or company, refuses the
   action with an `error` (`unauthenticated`) and closes 4401 — so an action already on its way
   when the push arrives, or when the push was lost, does nothing.
3. **A sweep**: the channel layer drops messages by design, and a socket still connecting
   when the push went out had not joined its group yet. Every `WS_REVALIDATE_SECONDS` each
   process checks the users of all its open sockets with one query and closes the stale
   ones: the bound for a socket that only listens (a wallboard) when the push is lost.

`ping` is exempt from (2): it reads and writes nothing of the user's, and it is the frame a
reconnect storm sends thousands of; (1) and (3) cover an idle socket.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from django.conf import settings

from realtime.db import in_thread
from routing_service.tenancy.models import User
from routing_service.tenancy.sockets import REVOKE_MESSAGE_TYPE

logger = logging.getLogger(__name__)

_SWEEP_BATCH = 1000


class CredentialsRevoked(Exception):
    """The socket's user is no longer who it was opened as: refuse, then close 4401."""


class UserRow(NamedTuple):
    """What an identity is checked against: the user's row as stored now."""

    is_active: bool
    credentials_version: int
    role: str
    company_id: int | None
    company_active: bool | None  # None: no company (a superadmin)
    password: str  # the hash


@dataclass(frozen=True)
class Identity:
    """Who a socket was opened as."""

    user_id: int
    credentials_version: int
    role: str
    company_id: int | None
    password: str = field(repr=False)  # the hash, never logged

    @classmethod
    def of(cls, user: User) -> Identity:
        return cls(user.pk, user.credentials_version, user.role, user.company_id, user.password)

    def holds(self, row: UserRow | None) -> bool:
        """Whether the stored user still is this identity. The stamp alone covers changes made
        through the actions; role, company and password hash are compared too, for rows
        changed behind them (a shell's `set_password()` and `save()`, SQL)."""
        return (
            row is not None
            and row.is_active
            and row.credentials_version == self.credentials_version
            and row.role == self.role
            and row.company_id == self.company_id
            and row.company_active is not False
            and row.password == self.password
        )


def _row(user: User) -> UserRow:
    company_active = user.company.is_active if user.company is not None else None
    return UserRow(
        user.is_active,
        user.credentials_version,
        user.role,
        user.company_id,
        company_active,
        user.password,
    )


def current_user(identity: Identity) -> User:
    """The socket's user as stored now (sync: on the action's thread); CredentialsRevoked
    unless it still is `identity`."""
    user = User.objects.select_related("company").filter(pk=identity.user_id).first()
    if user is None or not identity.holds(_row(user)):
        raise CredentialsRevoked
    return user


def _stale(identities: list[Identity]) -> set[int]:
    """The user ids among `identities` that no longer hold (one query per batch)."""
    ids = sorted({i.user_id for i in identities})
    rows: dict[int, UserRow] = {}
    for start in range(0, len(ids), _SWEEP_BATCH):
        found = User.objects.filter(pk__in=ids[start : start + _SWEEP_BATCH]).values_list(
            "pk",
            "is_active",
            "credentials_version",
            "role",
            "company_id",
            "company__is_active",
            "password",
        )
        for pk, is_active, version, role, company_id, company_active, password in found:
            rows[pk] = UserRow(is_active, version, role, company_id, company_active, password)
    return {i.user_id for i in identities if not i.holds(rows.get(i.user_id))}


def revoke_message(credentials_version: int | None) -> dict[str, Any]:
    """`sb.revoke` for a consumer: with a stamp, sockets opened under an older one close;
    without (the sweep's verdict), the socket it is sent to closes."""
    return {"type": REVOKE_MESSAGE_TYPE, "credentials_version": credentials_version}


# --- the sweep: open sockets of this process ---------------------------------------------------


@dataclass
class _OpenSockets:
    identities: dict[str, Identity] = field(default_factory=dict)  # channel name → identity
    layer: Any = None
    task: asyncio.Task[None] | None = None


_local: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _OpenSockets] = (
    weakref.WeakKeyDictionary()
)


def _registry() -> _OpenSockets:
    return _local.setdefault(asyncio.get_running_loop(), _OpenSockets())


def watch(channel_name: str, identity: Identity, layer: Any) -> None:
    """Include an open socket in this process' sweeps (until `unwatch`)."""
    registry = _registry()
    registry.identities[channel_name] = identity
    registry.layer = layer
    if registry.task is None or registry.task.done():
        registry.task = asyncio.create_task(_sweep_loop(registry))


def unwatch(channel_name: str) -> None:
    registry = _registry()
    registry.identities.pop(channel_name, None)
    if not registry.identities and registry.task is not None:
        registry.task.cancel()
        registry.task = None


async def sweep() -> int:
    """Check the users of every open socket of this process now; tell the stale sockets to
    close (through the channel layer, so each closes from its own consumer). Returns how many."""
    registry = _registry()
    watched = list(registry.identities.items())
    if not watched:
        return 0
    stale_users = await in_thread(_stale)([identity for _, identity in watched])
    stale = [channel for channel, identity in watched if identity.user_id in stale_users]
    for channel in stale:
        await registry.layer.send(channel, revoke_message(None))
    return len(stale)


async def _sweep_loop(registry: _OpenSockets) -> None:
    while registry.identities:
        await asyncio.sleep(settings.WS_REVALIDATE_SECONDS)
        try:
            closed = await sweep()
        except Exception:  # a database or Redis hiccup: the next sweep retries
            logger.exception("revocation sweep failed")
        else:
            if closed:
                logger.info("revocation sweep closed %d sockets", closed)
