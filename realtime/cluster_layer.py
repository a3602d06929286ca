"""⑤ The channel layer on a Redis Cluster: sharded pub/sub (Redis 7 `SSUBSCRIBE`/`SPUBLISH`).

Classic pub/sub on a cluster broadcasts every message to every node; sharded pub/sub keeps a
channel on its slot's primary, so the layer scales with the cluster. channels-redis does not
speak it, so this layer does, with channels-redis' message format, groups and serializer (the
event log's script packs the same msgpack envelope and SPUBLISHes it: events/log.py).

* One subscriber connection per primary (`NodeSubscriber`), holding the channels of that
  node's slots; SSUBSCRIBE takes one slot per command, so a batch is one command per slot,
  all written at once. Like `realtime.layers`, requests of the moment are batched by one
  writer task; unlike it, a request returns only once Redis has *confirmed* the subscription
  (the replies are read here), so no fence is needed (`confirms_subscriptions`).
* A node that fails (connection lost, or Redis unsubscribes us because its slot moved: a
  failover or a resharding) hands its channels to a recovery task, which re-reads the slot map
  and subscribes them on the new owner, retrying with back-off. Messages published meanwhile
  are gone — pub/sub drops by design, the event log is the record — so every consumer whose
  channels were moved gets `{"type": "sb.resubscribed"}` and catches up from the log
  (`realtime.consumers.base.StreamConsumer.sb_resubscribed`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import uuid
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from channels_redis.pubsub import RedisPubSubChannelLayer
from channels_redis.utils import _wrap_close, decode_hosts
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import AbstractConnection
from redis.cluster import key_slot
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError

from events.log import group_channel
from events.redis_clients import async_client
from realtime.layers import SubscriptionBatches

logger = logging.getLogger(__name__)

CONFIRM_TIMEOUT_SECONDS = 5.0
RESUBSCRIBED = {"type": "sb.resubscribed"}


@dataclass(eq=False)
class _Command:
    """An SSUBSCRIBE or SUNSUBSCRIBE sent, waiting for one confirmation per channel."""

    kind: bytes
    channels: list[str]
    done: asyncio.Future[None]
    left: set[str] = field(init=False)

    def __post_init__(self) -> None:
        self.left = set(self.channels)


class NodeSubscriber(SubscriptionBatches):
    """One primary's subscriber connection and the channels it carries."""

    def __init__(self, layer: ShardedLoopLayer, name: str) -> None:
        self.layer = layer
        self.name = name
        self.channels: set[str] = set()  # subscribed, as far as Redis confirmed
        self._conn: AbstractConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._sent: deque[_Command] = deque()
        self._init_batches()
        self._lock = asyncio.Lock()
        self.dead = False

    async def change(self, channel: str, *, subscribed: bool) -> None:
        """Subscribe or unsubscribe `channel`; returns once Redis confirmed it (raises if the
        node failed meanwhile)."""
        await asyncio.shield(self._request(channel, subscribed=subscribed))

    async def _write(self, wanted: dict[str, bool]) -> None:
        async with self._lock:
            if self.dead:
                raise RedisConnectionError(f"subscriber of {self.name} is gone")
            conn = await self._connection()
            add = [c for c, on in wanted.items() if on and c not in self.channels]
            remove = [c for c, on in wanted.items() if not on and c in self.channels]
            commands = [
                *self._commands(b"ssubscribe", add),
                *self._commands(b"sunsubscribe", remove),
            ]
            if not commands:
                return
            packed = [
                conn.pack_command(command.kind.decode().upper(), *command.channels)
                for command in commands
            ]
            self._sent.extend(commands)
            self.channels.update(add)  # from here on, replies and failures account for them
            await conn.send_packed_command([part for parts in packed for part in parts])
            async with asyncio.timeout(CONFIRM_TIMEOUT_SECONDS):
                await asyncio.gather(*(command.done for command in commands))
            self.channels.difference_update(remove)

    def _commands(self, kind: bytes, channels: list[str]) -> list[_Command]:
        by_slot: dict[int, list[str]] = {}
        for channel in channels:
            by_slot.setdefault(key_slot(channel.encode()), []).append(channel)
        loop = asyncio.get_running_loop()
        return [_Command(kind, names, loop.create_future()) for names in by_slot.values()]

    async def _connection(self) -> AbstractConnection:
        if self._conn is None:
            node = self.layer.cluster.get_node(node_name=self.name)
            if node is None:
                raise RedisConnectionError(f"{self.name} is no longer in the cluster")
            # RESP2: confirmations and messages come back as replies (RESP3 would hand them to
            # a push handler); no read timeout: a subscriber waits for messages indefinitely.
            options = {**node.connection_kwargs, "socket_timeout": None, "protocol": 2}
            options.pop("oss_cluster_maint_notifications_handler", None)
            options["socket_keepalive"] = True
            conn = node.connection_class(**options)
            await conn.connect()
            self._conn = conn
            self._reader = asyncio.ensure_future(self._read(conn))
        return self._conn

    async def _read(self, conn: AbstractConnection) -> None:
        try:
            while True:
                try:
                    reply = await conn.read_response(timeout=math.inf)
                except ResponseError as exc:  # a command refused (MOVED: the slot moved)
                    if self._sent:
                        command = self._sent.popleft()
                        if not command.done.done():
                            command.done.set_exception(exc)
                        self.channels.difference_update(command.channels)
                        if command.kind == b"ssubscribe":
                            self.layer.orphaned(command.channels)
                    continue
                self._dispatch(reply)
        except asyncio.CancelledError:
            raise
        except (RedisError, OSError) as exc:
            logger.warning("channel layer lost its subscriber of %s: %r", self.name, exc)
        self._fail()

    def _dispatch(self, reply: Any) -> None:
        if not isinstance(reply, list) or len(reply) < 3:
            return
        kind, channel = reply[0], reply[1]
        name = channel.decode() if isinstance(channel, bytes) else str(channel)
        if kind == b"smessage":
            self.layer.deliver(name, reply[2])
            return
        head = self._sent[0] if self._sent else None
        if head is not None and head.kind == kind and name in head.left:
            head.left.discard(name)
            if not head.left:
                self._sent.popleft()
                if not head.done.done():
                    head.done.set_result(None)
        elif kind == b"sunsubscribe":
            # Not asked for: Redis dropped the channel because its slot left this node.
            self.channels.discard(name)
            self.layer.orphaned([name])

    def _fail(self) -> None:
        """The connection is gone: fail what waits, hand every channel to the recovery."""
        self.dead = True
        error = RedisConnectionError(f"subscriber of {self.name} lost")
        while self._sent:
            command = self._sent.popleft()
            if not command.done.done():
                command.done.set_exception(error)
                command.done.exception()
        lost, self.channels = list(self.channels), set()
        self.layer.forget(self)
        self.layer.orphaned(lost)

    async def close(self) -> None:
        self.dead = True
        for task in (self._writer, self._reader):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.disconnect()
        self._conn = None


class ShardedLoopLayer:
    """One event loop's layer: the consumers' queues, their groups and the node subscribers."""

    extensions = ["groups", "flush"]
    confirms_subscriptions = True

    def __init__(
        self, hosts: Any = None, prefix: str = "asgi", *, channel_layer: Any = None, **_: Any
    ) -> None:
        self.prefix = prefix
        self.channel_layer = channel_layer
        host = decode_hosts(hosts)[0]
        self.cluster: RedisCluster = async_client(host["address"])  # type: ignore[assignment]
        self.channels: dict[str, asyncio.Queue[bytes]] = {}
        self.groups: dict[str, set[str]] = {}  # Redis channel of a group → consumer channels
        self.nodes: dict[str, NodeSubscriber] = {}
        self.placed: dict[str, NodeSubscriber] = {}  # subscribed Redis channel → its node
        self._orphans: set[str] = set()
        self._recovery: asyncio.Task[None] | None = None

    # --- the channel layer API -----------------------------------------------------------------

    def _get_group_channel_name(self, group: str) -> str:
        return group_channel(group, self.prefix)

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        await self.cluster.spublish(channel, self.channel_layer.serialize(message))

    async def new_channel(self, prefix: str = "specific.") -> str:
        channel = f"{self.prefix}{prefix}{uuid.uuid4().hex}"
        self.channels[channel] = asyncio.Queue()
        await self._subscribe(channel)
        return channel

    async def receive(self, channel: str) -> dict[str, Any]:
        if channel not in self.channels:
            self.channels[channel] = asyncio.Queue()
            await self._subscribe(channel)
        queue = self.channels[channel]
        try:
            message = await queue.get()
        except (asyncio.CancelledError, TimeoutError, GeneratorExit):
            # The consumer is exiting (channels' convention): drop its channel.
            if self.channels.pop(channel, None) is not None:
                with contextlib.suppress(Exception):
                    await self._unsubscribe(channel)
            raise
        result: dict[str, Any] = self.channel_layer.deserialize(message)
        return result

    async def group_add(self, group: str, channel: str) -> None:
        if channel not in self.channels:
            raise RuntimeError("group_add() takes channels that exist in this process")
        name = self._get_group_channel_name(group)
        self.groups.setdefault(name, set()).add(channel)
        await self._subscribe(name)

    async def group_discard(self, group: str, channel: str) -> None:
        name = self._get_group_channel_name(group)
        members = self.groups.get(name)
        if not members or channel not in members:
            return
        members.discard(channel)
        if not members:
            del self.groups[name]
            await self._unsubscribe(name)

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        name = self._get_group_channel_name(group)
        await self.cluster.spublish(name, self.channel_layer.serialize(message))

    async def flush(self) -> None:
        if self._recovery is not None:
            self._recovery.cancel()
            with contextlib.suppress(BaseException):
                await self._recovery
            self._recovery = None
        for node in list(self.nodes.values()):
            await node.close()
        self.nodes, self.placed, self.channels, self.groups = {}, {}, {}, {}
        self._orphans = set()
        await self.cluster.aclose()

    # --- subscriptions -------------------------------------------------------------------------

    def _wanted(self, name: str) -> bool:
        return name in self.channels or name in self.groups

    async def _node_for(self, name: str) -> NodeSubscriber:
        await self.cluster.initialize()
        node = self.cluster.get_node_from_key(name)
        if node is None:
            raise RedisConnectionError(f"no node serves the slot of {name}")
        subscriber = self.nodes.get(node.name)
        if subscriber is None or subscriber.dead:
            subscriber = self.nodes[node.name] = NodeSubscriber(self, node.name)
        return subscriber

    async def _subscribe(self, name: str) -> None:
        if name in self._orphans:
            return  # the recovery subscribes it
        node = self.placed.get(name)
        if node is None or node.dead:
            node = self.placed[name] = await self._node_for(name)
        # Even when already placed: the node's batches run in order, so this returns only once
        # an earlier, still unconfirmed SSUBSCRIBE of the same channel is confirmed too.
        try:
            await node.change(name, subscribed=True)
        except BaseException:
            if self.placed.get(name) is node:
                del self.placed[name]
            raise

    async def _unsubscribe(self, name: str) -> None:
        self._orphans.discard(name)
        node = self.placed.pop(name, None)
        if node is not None and not node.dead:
            with contextlib.suppress(RedisError, OSError, TimeoutError):
                await node.change(name, subscribed=False)

    def deliver(self, name: str, data: bytes) -> None:
        queue = self.channels.get(name)
        if queue is not None:
            queue.put_nowait(data)
            return
        for channel in self.groups.get(name, set()):
            queue = self.channels.get(channel)
            if queue is not None:
                queue.put_nowait(data)

    def forget(self, node: NodeSubscriber) -> None:
        if self.nodes.get(node.name) is node:
            del self.nodes[node.name]

    def orphaned(self, names: Iterable[str]) -> None:
        """Channels whose node failed or moved them: subscribe them again where they live now."""
        for name in names:
            self.placed.pop(name, None)
            if self._wanted(name):
                self._orphans.add(name)
        if self._orphans and (self._recovery is None or self._recovery.done()):
            self._recovery = asyncio.ensure_future(self._recover())

    async def _recover(self) -> None:
        delay = 0.05
        moved: set[str] = set()
        while True:
            self._orphans = {name for name in self._orphans if self._wanted(name)}
            if not self._orphans:
                break
            try:
                await self.cluster.nodes_manager.initialize()  # re-read the slot map
                for name in list(self._orphans):
                    node = await self._node_for(name)
                    self.placed[name] = node
                    try:
                        await node.change(name, subscribed=True)
                    except BaseException:
                        self.placed.pop(name, None)
                        raise
                    self._orphans.discard(name)
                    moved.add(name)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.info("channel layer resubscribing (%s); retrying in %.2f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)
        logger.warning("channel layer resubscribed %d channel(s) after a node change", len(moved))
        notice = self.channel_layer.serialize(RESUBSCRIBED)
        consumers: set[str] = set()
        for name in moved:
            consumers.update([name] if name in self.channels else self.groups.get(name, set()))
        for channel in consumers:
            queue = self.channels.get(channel)
            if queue is not None:
                queue.put_nowait(notice)


class ShardedPubSubChannelLayer(RedisPubSubChannelLayer):
    """channels-redis' pub/sub layer interface on a Redis Cluster's sharded pub/sub."""

    confirms_subscriptions = True

    def _get_layer(self) -> ShardedLoopLayer:
        loop = asyncio.get_running_loop()
        layer = self._layers.get(loop)
        if layer is None:
            layer = self._layers[loop] = ShardedLoopLayer(
                *self._args, **self._kwargs, channel_layer=self
            )
            _wrap_close(self, loop)
        return layer
