"""The control message that closes every websocket of one user, on every web process.

Each socket (realtime/consumers) joins the group `user.<id>`. After a credentials change
commits, `close_user_sockets` sends that group `{"type": "sb.revoke", "credentials_version":
N}`; a socket opened under an older stamp closes with 4401, one opened since (the user signed
in again) stays. The message is not an event: it is neither logged nor replayed, or a socket
that reconnects with `?last_seq=` would be closed by a revocation older than itself.

The channel layer drops messages by design, so this is the fast path only: sockets also re-read
the user row on every action and sweep their users periodically (realtime/revocation.py).
Lives here, below realtime/, so that the tenancy actions need no import from the websocket side.
"""

from __future__ import annotations

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

REVOKE_MESSAGE_TYPE = "sb.revoke"


def user_group(user_id: int) -> str:
    """Every socket of one user (agent consoles and wallboards alike)."""
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
    async_to_sync(layer.group_send)(user_group(user_id), message)
