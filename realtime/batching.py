"""⑤ Many sockets' small calls, made as one: the connect path under a reconnect storm.

Thousands of sockets setting up at once each redeem a ticket, load their user, register their
console and read the event log: tiny calls whose cost is mostly per call (a thread hop and an
ORM query; a pooled Redis connection taken and given back, a write, a read). A `Coalescer`
gathers the calls that arrive while the previous batch is in flight (or in the same turn of the
event loop) and makes them as one: a single query, a single pipelined round trip. Alone, a call
waits for one loop turn more than it did; in a storm each batch carries dozens.

State is per event loop (futures and asyncio connections belong to one), like
`realtime.connections`.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import redis.asyncio as aredis
from redis.exceptions import NoScriptError

from events.redis_clients import is_cluster_client
from realtime.connections import script

K = TypeVar("K")
V = TypeVar("V")

_MAX_BATCH = 256


@dataclass
class _Pending(Generic[K, V]):
    calls: list[tuple[K, asyncio.Future[V]]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None


class Coalescer(Generic[K, V]):
    """`await coalescer(key)`: `fetch` answers many keys at once, in their order (a key may
    come twice: each call gets its own answer, e.g. a ticket's first and second redemption)."""

    def __init__(self, fetch: Callable[[list[K]], Awaitable[Sequence[V]]]) -> None:
        self._fetch = fetch
        self._pending: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Pending[K, V]] = (
            weakref.WeakKeyDictionary()
        )

    async def __call__(self, key: K) -> V:
        loop = asyncio.get_running_loop()
        pending = self._pending.get(loop)
        if pending is None:
            pending = self._pending[loop] = _Pending()
        future: asyncio.Future[V] = loop.create_future()
        pending.calls.append((key, future))
        if pending.task is None or pending.task.done():
            pending.task = loop.create_task(self._drain(pending))
        return await future

    async def _drain(self, pending: _Pending[K, V]) -> None:
        await asyncio.sleep(0)  # the callers made runnable in this loop turn join the first batch
        while pending.calls:
            batch = pending.calls[:_MAX_BATCH]
            del pending.calls[:_MAX_BATCH]
            batch = [(key, future) for key, future in batch if not future.done()]
            if not batch:
                continue
            try:
                values = await self._fetch([key for key, _ in batch])
            except asyncio.CancelledError:
                for _, future in batch:
                    future.cancel()
                for _, future in pending.calls:
                    future.cancel()
                pending.calls.clear()
                raise
            except Exception as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), value in zip(batch, values, strict=True):
                if not future.done():
                    future.set_result(value)


@dataclass(frozen=True)
class ScriptCall:
    client: aredis.Redis
    source: str
    keys: tuple[str, ...]
    args: tuple[str | int | float, ...]


async def _run_scripts(calls: list[ScriptCall]) -> list[Any]:
    """One pipelined round trip per Redis client for the whole batch (EVALSHA, scripts loaded
    first if Redis lacks them). A failed script fails its own call only."""
    results: list[Any] = [None] * len(calls)
    by_client: dict[int, list[int]] = {}
    for index, call in enumerate(calls):
        by_client.setdefault(id(call.client), []).append(index)
    for indexes in by_client.values():
        client = calls[indexes[0]].client
        if is_cluster_client(client):
            # redis-py's cluster pipeline refuses scripts: one call each, all at once (the
            # client sends each to its slot's owner and loads the script where missing).
            replies = await asyncio.gather(
                *(_run_one(client, calls[i]) for i in indexes), return_exceptions=True
            )
            for index, reply in zip(indexes, replies, strict=True):
                results[index] = reply
            continue
        pipe = client.pipeline(transaction=False)
        for index in indexes:
            call = calls[index]
            await script(client, call.source)(
                keys=list(call.keys), args=list(call.args), client=pipe
            )
        replies = await pipe.execute(raise_on_error=False)
        for index, reply in zip(indexes, replies, strict=True):
            if isinstance(reply, NoScriptError):
                # A node without the script (a cluster node that took over a slot, or a
                # primary promoted after a failover): the plain call loads it and runs again.
                try:
                    reply = await _run_one(client, calls[index])
                except Exception as exc:
                    reply = exc
            results[index] = reply
    return results


async def _run_one(client: aredis.Redis, call: ScriptCall) -> Any:
    return await script(client, call.source)(keys=list(call.keys), args=list(call.args))


_scripts: Coalescer[ScriptCall, Any] = Coalescer(_run_scripts)


async def run_script(
    client: aredis.Redis,
    source: str,
    keys: Sequence[str],
    args: Sequence[str | int | float] = (),
) -> Any:
    """A Lua script's reply, the call pipelined with the other sockets' calls of the moment."""
    reply = await _scripts(ScriptCall(client, source, tuple(keys), tuple(args)))
    if isinstance(reply, Exception):
        raise reply
    return reply
