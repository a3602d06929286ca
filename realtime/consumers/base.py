"""⑤ The life cycle every Switchboard socket shares: refuse or accept, join, catch up, stream.

1. **Accept, then check** — origin, credentials (ticket or session), role, company. A refusal
   closes with a 44xx code (realtime/PROTOCOL.md); accepting first is what lets the code reach
   a browser.
2. **Join the groups, then read the log.** Group messages that arrive meanwhile wait in the
   channel layer's queue (a consumer handles one message at a time), so nothing published after
   the subscription is lost; a fence (realtime/fence.py) makes sure Redis has really processed
   the SUBSCRIBEs before the log is read, or an event published in between would be in neither.
3. **Catch up**: with `?last_seq=N` the missed events from the durable log, in seq order; without
   it — or when the gap is no longer in the log — a `snapshot` at the current seq.
4. **Stream**: each live event is sent as is unless its seq is not above the last one sent
   (the seam with the replay, or the same event reaching two of the socket's groups).

Client frames are size-checked and rate-limited before parsing; a bad frame gets an `error`,
not a closed socket. Each action runs as the user re-read from the database, and the socket
closes with 4401 once that user's credentials change (realtime/revocation.py).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import Any, ClassVar

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from events.ephemeral import ephemeral_frame
from events.log import live_group
from events.schema import EventType, queue_group
from realtime import revocation
from realtime.actions import run_action
from realtime.auth import Query, authenticate, header, origin_allowed, parse_query, site_origin
from realtime.db import in_thread
from realtime.fence import confirm_subscriptions
from realtime.protocol import (
    ActionRequest,
    CloseCode,
    FrameError,
    Refused,
    TokenBucket,
    ack_frame,
    error_frame,
    frame,
    frame_too_big,
    now_iso,
    parse_action,
)
from realtime.replay import read_since, snapshot_point
from realtime.revocation import CredentialsRevoked, Identity
from realtime.snapshots import SnapshotPoint
from routing_service.chats.actions import ActionError
from routing_service.observability import metrics
from routing_service.tenancy.models import Company, User
from routing_service.tenancy.sockets import user_group

logger = logging.getLogger(__name__)

_slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def _setup_slots() -> asyncio.Semaphore:
    """At most WS_CONNECT_CONCURRENCY sockets of this process are being set up at once.

    Under a reconnect storm thousands of set-ups in flight at once only slow one another down
    (and the handshakes of the next sockets with them); taking turns keeps the throughput at
    its best and the waiting sockets cost nothing but their place in the queue.
    """
    loop = asyncio.get_running_loop()
    slots = _slots.get(loop)
    if slots is None:
        slots = _slots[loop] = asyncio.Semaphore(settings.WS_CONNECT_CONCURRENCY)
    return slots


class StreamConsumer(AsyncWebsocketConsumer):
    """Base of the agent console and wallboard sockets; subclasses fill in the hooks."""

    allowed_actions: ClassVar[frozenset[str]] = frozenset({"ping"})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.user: User | None = None
        self.identity: Identity | None = None
        self.company: Company | None = None
        self.joined: list[str] = []  # groups whose events the socket streams (and replays)
        self.control: list[str] = []  # groups of control messages: never logged
        self.last_seq = 0
        self.ready = False
        self.closing = False
        self.opened_hook_ran = False
        self.bucket = TokenBucket(settings.WS_RATE_PER_SECOND, settings.WS_RATE_BURST)

    # --- hooks --------------------------------------------------------------------------------

    async def authorise(self, user: User, query: Query) -> Company:
        """The company this socket watches, or Refused."""
        raise NotImplementedError

    def group_names(self) -> list[str]:
        raise NotImplementedError

    def revocation_group(self) -> str:
        """The per-user group that carries the close message of a revocation to this socket
        (routing_service/tenancy/sockets.py)."""
        assert self.user is not None
        return user_group(self.user.pk)

    def build_snapshot(self, point: SnapshotPoint) -> dict[str, Any]:
        """The snapshot's data at `point` (sync: runs in a worker thread)."""
        raise NotImplementedError

    async def opened(self) -> None:
        """After joining, before catching up."""

    async def closed(self) -> None:
        """On disconnect, if `opened` ran."""

    async def ping(self) -> None:
        """A client `ping` arrived."""

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels' dispatch without its `aclose_old_connections()` before every message.

        That call is a `sync_to_async` hop onto the process' single thread-sensitive thread for
        every frame, event and connect of every socket: under a reconnect storm they queue
        behind one another (accepts come late, handshakes time out) and each live event waits
        its turn. It is not needed here: the event loop never touches the ORM, and every
        database call runs through `realtime.db.in_thread`, which cleans up its connection.
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    # --- connect ------------------------------------------------------------------------------

    async def connect(self) -> None:
        # Accepted at once (the handshake never times out and a refusal can carry its code);
        # the setup itself takes turns (see `_setup_slots`).
        await self.accept()
        async with _setup_slots():
            await self.set_up()

    async def set_up(self) -> None:
        try:
            query = parse_query(self.scope)
            if not origin_allowed(header(self.scope, b"origin"), site_origin(self.scope)):
                raise Refused(CloseCode.FORBIDDEN, "origin not allowed")
            user = await authenticate(self.scope, query)
            self.company = await self.authorise(user, query)
            self.user = user
            self.identity = Identity.of(user)
        except Refused as refused:
            logger.info("websocket refused (%s): %s", int(refused.code), refused.reason)
            await self.shut(refused.code, refused.reason)
            return
        try:
            await self.join(self.group_names())
            await self.opened()
            self.opened_hook_ran = True
            await self.catch_up(query.last_seq)
        except Exception:
            logger.exception("websocket connect failed")
            await self.shut(CloseCode.INTERNAL_ERROR, "server error")
            return
        self.ready = True
        revocation.watch(self.channel_name, self.identity, self.channel_layer)
        metrics.websocket_opened(self)

    async def join(self, groups: list[str]) -> None:
        """The event groups and, unless it is one of them, the revocation group (in the same
        batch of SUBSCRIBEs, confirmed by the same fence)."""
        assert self.company is not None
        for group in groups:
            await self.channel_layer.group_add(
                live_group(self.company.pk, group), self.channel_name
            )
            self.joined.append(group)
        control = self.revocation_group()
        if control not in self.live_groups():
            await self.channel_layer.group_add(control, self.channel_name)
            self.control.append(control)
        await confirm_subscriptions(self.channel_layer, self.channel_name)

    async def catch_up(self, last_seq: int | None) -> None:
        assert self.company is not None
        reason: str | None = None
        if last_seq is None:
            seq, queue_seq = await snapshot_point(self.company.pk, queue_group(self.company.pk))
            point = SnapshotPoint(seq, queue_seq)
        else:
            replay = await read_since(
                self.company.pk, self.joined, last_seq, limit=settings.WS_REPLAY_MAX_EVENTS
            )
            if replay.resync_reason is None:
                self.last_seq = last_seq
                for event_seq, text in replay.events:
                    await self.send(text_data=text)
                    self.last_seq = event_seq
                return
            seq, reason = replay.current_seq, replay.resync_reason
            point = SnapshotPoint(seq)
        # The seq is read before the database: every event up to it is in the snapshot.
        data = await in_thread(self.build_snapshot)(point)
        self.last_seq = seq
        snapshot = {"resync": reason is not None, "resync_reason": reason, **data}
        await self.send(text_data=frame(EventType.SNAPSHOT, seq, snapshot))

    async def sb_revoke(self, message: dict[str, Any]) -> None:
        """The user's credentials changed (routing_service/tenancy/sockets.py) or the sweep
        found them changed (no stamp): close, unless this socket was opened since."""
        version: int | None = message.get("credentials_version")
        opened_at = self.identity.credentials_version if self.identity is not None else None
        if version is not None and opened_at is not None and version <= opened_at:
            return
        await self.shut(CloseCode.UNAUTHENTICATED, "credentials changed: sign in again")

    async def shut(self, code: CloseCode, reason: str = "") -> None:
        if not self.closing:
            self.closing = True
            await self.close(code=int(code), reason=reason)

    def live_groups(self) -> list[str]:
        """The channel-layer groups the joined groups' events arrive on (`events.log.live_group`:
        the groups themselves on one Redis, company-scoped names on a cluster)."""
        if self.company is None:
            return list(self.joined)
        return [live_group(self.company.pk, group) for group in self.joined]

    # --- events -------------------------------------------------------------------------------

    async def sb_resubscribed(self, message: dict[str, Any]) -> None:
        """The channel layer moved this socket's subscriptions to another Redis node (a cluster
        failover): events published meanwhile reached no one live, so read them from the log."""
        if self.closing or not self.ready:
            return
        try:
            await self.catch_up(self.last_seq)
        except Exception:  # the socket closed meanwhile, or Redis failed again
            logger.warning("catching up after a resubscription failed", exc_info=True)

    async def sb_event(self, message: dict[str, Any]) -> None:
        """A published event (events/log.py): already the envelope JSON, sent as is."""
        seq = int(message["seq"])
        if self.closing or seq <= self.last_seq:
            return
        self.last_seq = seq
        await self.send(text_data=message["event"])

    async def sb_ephemeral(self, message: dict[str, Any]) -> None:
        """A live-only signal (events/ephemeral.py: `chat.typing`): sent at the socket's current
        seq, like an `ack`, so it neither moves nor breaks the client's replay position."""
        if self.closing or not self.ready:
            return
        await self.send(text_data=ephemeral_frame(message, self.last_seq))

    # --- client frames ------------------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.closing or not self.ready:
            return
        if frame_too_big(text_data, bytes_data, settings.WS_MAX_FRAME_BYTES):
            await self.shut(CloseCode.MESSAGE_TOO_BIG, "frame too big")
            return
        if not self.bucket.take():
            await self.shut(CloseCode.FLOOD, "too many frames")
            return
        if text_data is None:
            await self.send_error(None, "bad_frame", "Frames must be JSON text.")
            return
        try:
            request = parse_action(text_data, self.allowed_actions)
        except FrameError as exc:
            await self.send_error(exc.request_id, exc.code, exc.message, exc.field)
            return
        try:
            result = await self.perform(request)
        except CredentialsRevoked:
            await self.send_error(
                request.request_id, "unauthenticated", "Your sign-in has ended: sign in again."
            )
            await self.shut(CloseCode.UNAUTHENTICATED, "credentials changed: sign in again")
        except ActionError as exc:
            await self.send_error(request.request_id, exc.code, exc.message, exc.field)
        except Exception:
            logger.exception("websocket action %s failed", request.action)
            await self.send_error(request.request_id, "server_error", "The action failed.")
        else:
            await self.send(text_data=ack_frame(self.last_seq, request.request_id, result))

    async def perform(self, request: ActionRequest) -> dict[str, Any]:
        if request.action == "ping":
            await self.ping()
            return {"pong": True, "server_time": now_iso()}
        assert self.identity is not None
        result: dict[str, Any] = await in_thread(run_action)(self.identity, request)
        return result

    async def send_error(
        self, request_id: Any, code: str, message: str, field: str | None = None
    ) -> None:
        await self.send(text_data=error_frame(self.last_seq, request_id, code, message, field))

    # --- disconnect ---------------------------------------------------------------------------

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        """Channels' handler without its closing `aclose_old_connections()` hop (see `dispatch`):
        a storm's thousands of closing sockets would queue on that one thread too. These
        consumers join their groups themselves (`self.groups` stays empty)."""
        await self.disconnect(message.get("code", 1000))
        raise StopConsumer()

    async def disconnect(self, code: int) -> None:
        self.closing = True
        metrics.websocket_closed(self)
        revocation.unwatch(self.channel_name)
        for group in [*self.live_groups(), *self.control]:
            await self.channel_layer.group_discard(group, self.channel_name)
        self.joined = []
        self.control = []
        if self.opened_hook_ran:
            self.opened_hook_ran = False
            await self.closed()
