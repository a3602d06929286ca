"""The control message that closes every websocket of one user, on every web process.

Every socket of a user is in one of two per-user groups: an agent console in `agent.<id>`,
which it joins for its events anyway, a wallboard in `user.<id>` (a group of its own would
cost every console one more Redis subscription, and consoles are most sockets). After a
credentials change commits, `close_user_sockets` sends both groups `{"type": "sb.revoke",
"credentials_version": N}`; a socket opened under an older stamp closes with 4401, one opened
since (the user signed in again) stays. The message is not an event: it is neither logged nor
replayed, or a socket that reconnects with `?last_seq=` would be closed by a revocation older
than itself.

The channel layer drops messages by design, so this is the fast path only: sockets also re-read
the user row on every action and sweep their users periodically (realtime/revocation.py).
Lives here, below realtime/, so that the tenancy actions need no import from the websocket side;
the consoles' group name comes from the event schema (events/, the layer below both).
"""

from __future__ import annotations

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from events.schema import agent_group

REVOKE_MESSAGE_TYPE = "sb.revoke"


def user_group(user_id: int) -> str:
    """The sockets of one user that are in no per-user group of their own (wallboards)."""
    return f"user.{user_id}"


def close_user_sockets(user_id: int, credentials_version: int) -> None:
    """Close the user's sockets opened under a stamp older than `credentials_version`.

    Sync (an `on_commit` callback): from a request or action thread `async_to_sync` runs the
    send on the server's event loop; from a command, on a loop of its own.
    """
    layer = get_channel_layer()
    if layer is None:
        return
    message = {"type": REVOKE_MESSAGE_TYPE, "credentials_version": credentials_version}

    async def send() -> None:
        for group in (agent_group(user_id), user_group(user_id)):
            await layer.group_send(group, message)

    async_to_sync(send)()
