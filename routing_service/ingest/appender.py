"""① → the inbound stream: the webhook's batched, time-bounded append.

`StreamAppender.append` puts a request's entries on the inbound stream with the atomic
dedupe-and-append script (`stream.APPEND_LUA`) and says, for each entry, what is true: its
stream id, "duplicate" (the seen key says an earlier request appended it), "not appended"
(provably not in the stream) or "unknown". It answers within `ANSWER_BOUND_SECONDS` whatever
Redis does:

* Redis has `APPEND_TIMEOUT` (3 s) to answer a batch: connecting, loading the script, sending
  and reading the replies all count.
* A call that was never written is not in the stream. A call written but not answered in time
  may still run later (Redis stalled, not dead: it reads the socket when it resumes), so the
  appender finds out before answering, within `PROBE_TIMEOUT` (1.5 s), on a connection of its
  own: `CLIENT KILL ID` the connection(s) that carried the unanswered calls — after that
  Redis runs nothing more they sent — then `GET` each message's seen key, which the script
  sets atomically with the XADD and which holds the entry id.
* If that cannot be done in time either (Redis still stalled), or the entry has no seen key
  (status events are not deduplicated), the outcome is "unknown": the webhook answers a 503
  that says so, and the provider's retry is safe (a message that did get in is a duplicate).
* With `REDIS_WAIT_REPLICAS` > 0 (the default on a cluster) the batch ends with `WAIT`: an
  entry counts as appended only once that many replicas have it, so a primary killed right
  after cannot take an accepted message with it. Fewer replicas in time: "unknown".
* On a Redis Cluster (`REDIS_CLUSTER`) the calls are split by their shard's slot owner, one
  pipelined write per node, all nodes at once. A stalled call there cannot be cut off (CLIENT
  KILL is per node, and the node may be gone), so the probe only confirms: a seen key with the
  id means appended, anything else stays "unknown". A MOVED answer (the slot moved: failover,
  resharding) means "not appended" and refreshes the slot map for the next batch.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from django.conf import settings
from redis.asyncio.connection import AbstractConnection
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff, NoBackoff
from redis.cluster import key_slot
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError

from events.redis_clients import REDIS_ERRORS, async_client, cluster_enabled
from routing_service.ingest.stream import APPEND_LUA, Entry, append_args

logger = logging.getLogger(__name__)

AppendCall = tuple[list[str], list[str | bytes | int]]

REDIS_CONNECT_TIMEOUT = 1.0
REDIS_MAX_CONNECTIONS = 256
MAX_BATCH = 256  # commands per pipeline
# Providers give up after 10-15 s (Twilio 15, Meta ~20) and retry; answer well before that.
APPEND_TIMEOUT = 3.0
PROBE_TIMEOUT = 1.5
PROBE_MAX_CONNECTIONS = 32
# What docs/operations.md promises: the append step never keeps a webhook longer than this
# (APPEND_TIMEOUT + PROBE_TIMEOUT, plus room for a busy event loop).
ANSWER_BOUND_SECONDS = 5.0
LOG_INTERVAL_SECONDS = 10.0
SLOTS_REFRESH_SECONDS = 30.0  # a cluster's slot map is read again at least this often
_FAILURES: tuple[type[Exception], ...] = (*REDIS_ERRORS, TimeoutError)


class Unconfirmed(enum.Enum):
    """An entry the append could not give a stream id (nor call a duplicate)."""

    NOT_APPENDED = "not_appended"  # provably not in the stream
    UNKNOWN = "unknown"  # Redis did not say in time, and could not be asked


# Per entry: the stream id, None for a duplicate, or why there is neither.
AppendResult = str | None | Unconfirmed

# The state of a call while its batch is under way.
_UNSENT = object()  # not written to any connection
_SENT = object()  # written, no reply read yet

# CLIENT ID of each connection, asked once when it connects (see `_connect`), so a connection
# whose replies never came can be named in `CLIENT KILL ID`. Weak: the pool owns connections.
_client_ids: weakref.WeakKeyDictionary[AbstractConnection, int] = weakref.WeakKeyDictionary()


async def _connect(conn: AbstractConnection) -> None:
    """redis-py's own connection set-up, then remember the server's id for this connection."""
    await conn.on_connect()
    _client_ids.pop(conn, None)
    try:
        await conn.send_command("CLIENT", "ID", check_health=False)
        _client_ids[conn] = int(await conn.read_response())
    except ResponseError:
        # CLIENT refused (an ACL): appends still work; an unanswered one stays "unknown".
        logger.warning("CLIENT ID refused by the stream Redis; stalled appends stay unknown")


class Throttled:
    """Log an outage once per interval, not once per request of a flood."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._last = 0.0

    def __call__(self) -> bool:
        now = time.monotonic()
        if now - self._last < self.interval:
            return False
        self._last = now
        return True


@dataclass(eq=False)
class _Flight:
    """One batch's calls and how far each got; still readable after a timeout cut it short."""

    calls: list[AppendCall]
    results: list[Any] = field(init=False)
    # One per write whose replies were not all read: the connection's CLIENT ID (None: unknown).
    unanswered: dict[object, int | None] = field(default_factory=dict)
    # Calls whose write fewer than REDIS_WAIT_REPLICAS replicas acknowledged in time.
    unreplicated: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.results = [_UNSENT] * len(self.calls)


Batch = list[tuple[list[AppendCall], asyncio.Future[list[AppendResult]]]]


class _LoopState:
    """What belongs to one event loop: the clients (their connections) and the open batch."""

    __slots__ = ("client", "loop", "pending", "probe", "scheduled", "tasks")

    def __init__(
        self, loop: asyncio.AbstractEventLoop, client: aioredis.Redis, probe: aioredis.Redis
    ) -> None:
        self.loop = loop
        self.client = client
        self.probe = probe
        self.pending: Batch = []
        self.scheduled = False
        self.tasks: set[asyncio.Task[None]] = set()


class StreamAppender:
    """Appends entries to the inbound stream with `APPEND_LUA`.

    One client (and connection pool) per process and event loop, created on first use and
    kept warm; the script is loaded once and called by its SHA. Appends requested during the
    same turn of the event loop — one request's entries, and those of every other request
    that got this far meanwhile — go to Redis as one pipeline: one write and one read instead
    of one round trip each, which is most of what this endpoint costs. No request waits for
    a batch to fill; a lone request is sent on the next turn of the loop.
    If Redis forgot the script (restart, SCRIPT FLUSH) only the commands that got NOSCRIPT
    are sent again, so nothing is appended twice.
    """

    def __init__(self, url: str | None = None, *, max_batch: int = MAX_BATCH) -> None:
        self._url = url
        self.max_batch = max_batch
        self._state: _LoopState | None = None
        self._sha = ""
        self._log_outage = Throttled(LOG_INTERVAL_SECONDS)
        self._refresh_slots = False
        self._next_slots_refresh = 0.0

    @property
    def url(self) -> str:
        return self._url or settings.STREAM_REDIS_URL

    def _current(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        state = self._state
        if state is None or state.loop is not loop:
            if cluster_enabled():
                state = self._state = self._cluster_state(loop)
                self._sha = ""
                return state
            # Connections belong to the loop that opened them (a new loop means a new test).
            client = async_client(
                self.url,
                socket_connect_timeout=REDIS_CONNECT_TIMEOUT,
                socket_timeout=APPEND_TIMEOUT,
                socket_keepalive=True,
                health_check_interval=30,
                max_connections=REDIS_MAX_CONNECTIONS,
                # One quick retry replaces a pooled connection Redis closed; then fail fast.
                retry=Retry(ExponentialBackoff(cap=0.05, base=0.01), 1),
                redis_connect_func=_connect,
            )
            # Its own pool: never a connection that may still carry a stalled batch.
            probe = async_client(
                self.url,
                socket_connect_timeout=PROBE_TIMEOUT,
                socket_timeout=PROBE_TIMEOUT,
                max_connections=PROBE_MAX_CONNECTIONS,
                retry=Retry(NoBackoff(), 0),
            )
            state = self._state = _LoopState(loop, client, probe)
            self._sha = ""
        return state

    def _cluster_state(self, loop: asyncio.AbstractEventLoop) -> _LoopState:
        client = async_client(
            self.url,
            socket_connect_timeout=REDIS_CONNECT_TIMEOUT,
            socket_timeout=APPEND_TIMEOUT,
            socket_keepalive=True,
            max_connections=REDIS_MAX_CONNECTIONS,
        )
        probe = async_client(
            self.url,
            socket_connect_timeout=PROBE_TIMEOUT,
            socket_timeout=PROBE_TIMEOUT,
            max_connections=PROBE_MAX_CONNECTIONS,
        )
        return _LoopState(loop, client, probe)

    async def append(self, entries: Sequence[Entry]) -> list[AppendResult]:
        """Per entry: its stream id, None for a duplicate, or `Unconfirmed`. Never raises for
        Redis trouble, and returns within `ANSWER_BOUND_SECONDS`."""
        calls = [append_args(entry) for entry in entries]
        state = self._current()
        future: asyncio.Future[list[AppendResult]] = state.loop.create_future()
        state.pending.append((calls, future))
        if not state.scheduled:
            state.scheduled = True
            state.loop.call_soon(self._flush, state)
        return await future

    def _flush(self, state: _LoopState) -> None:
        state.scheduled = False
        pending, state.pending = state.pending, []
        batch: Batch = []
        size = 0
        for item in pending:
            batch.append(item)
            size += len(item[0])
            if size >= self.max_batch:
                self._start(state, batch)
                batch, size = [], 0
        if batch:
            self._start(state, batch)

    def _start(self, state: _LoopState, batch: Batch) -> None:
        task = state.loop.create_task(self._send(state, batch))
        state.tasks.add(task)  # a strong reference until done: the loop keeps only weak ones
        task.add_done_callback(state.tasks.discard)

    async def _send(self, state: _LoopState, batch: Batch) -> None:
        flight = _Flight([call for item_calls, _ in batch for call in item_calls])
        error: BaseException | None = None
        try:
            async with asyncio.timeout(APPEND_TIMEOUT):
                await self._execute(state.client, flight)
        except _FAILURES as exc:
            error = exc
        except BaseException:
            # Cancelled (shutdown): no time to find out; say only what is known.
            _deliver(batch, _outcomes(flight, {}))
            raise
        verdicts: dict[int, AppendResult] = {}
        if any(result is _SENT for result in flight.results):
            verdicts = await self._find_out(state.probe, flight)
        outcomes = _outcomes(flight, verdicts)
        if error is not None and self._log_outage():
            lost = sum(1 for o in outcomes if o is Unconfirmed.NOT_APPENDED)
            unknown = sum(1 for o in outcomes if o is Unconfirmed.UNKNOWN)
            logger.error(
                "Inbound stream append failed (%s): %d of %d entries not appended, %d unknown",
                str(error) or type(error).__name__,
                lost,
                len(outcomes),
                unknown,
            )
        _deliver(batch, outcomes)

    async def _execute(self, client: aioredis.Redis, flight: _Flight) -> None:
        if cluster_enabled():
            await self._execute_on_cluster(client, flight)
            return
        if not self._sha:
            self._sha = await client.script_load(APPEND_LUA)
        await self._run(client, flight, range(len(flight.calls)))
        retry = [i for i, r in enumerate(flight.results) if isinstance(r, NoScriptError)]
        if retry:
            self._sha = await client.script_load(APPEND_LUA)
            await self._run(client, flight, retry)

    async def _run(self, client: aioredis.Redis, flight: _Flight, indexes: Sequence[int]) -> None:
        """Send the calls in one write on one pooled connection and read every reply into
        `flight.results`.

        The low-level pool API instead of `client.pipeline()`: a pipeline object, its command
        stack and generic packing cost more than the rest of the request. Error replies are
        kept in place (like `execute(raise_on_error=False)`). A connection that fails is
        replaced once, as redis-py's own retry would, and only the calls still without a reply
        are sent again: for a message Redis did append before failing, the retry answers
        "duplicate" — true, it is in the stream.
        """
        sha = self._sha.encode()
        pool = client.connection_pool
        todo = list(indexes)
        replicas = settings.REDIS_WAIT_REPLICAS
        for attempt in (1, 2):
            conn = await pool.get_connection()
            try:
                packed = b"".join(_pack_evalsha(sha, *flight.calls[i]) for i in todo)
                if replicas:
                    packed += _pack_wait(replicas)
                write = object()
                flight.unanswered[write] = _client_ids.get(conn)
                for i in todo:
                    flight.results[i] = _SENT
                await conn.send_packed_command(packed, check_health=False)
                for i in todo:
                    try:
                        flight.results[i] = await conn.read_response()
                    except ResponseError as exc:
                        flight.results[i] = exc
                if replicas and int(await conn.read_response()) < replicas:
                    flight.unreplicated.update(todo)
                del flight.unanswered[write]
                return
            except RedisConnectionError:
                await conn.disconnect(nowait=True)
                if attempt == 2:
                    raise
                todo = [i for i in todo if flight.results[i] is _SENT]
            except BaseException:
                # Unread replies would be taken for the next ones: this connection is done.
                await conn.disconnect(nowait=True)
                raise
            finally:
                await pool.release(conn)
        raise AssertionError("unreachable")

    async def _execute_on_cluster(self, client: aioredis.Redis, flight: _Flight) -> None:
        """The batch on a cluster: one pipelined write per slot owner, all at once."""
        cluster: Any = client
        if self._refresh_slots or time.monotonic() >= self._next_slots_refresh:
            # Also every SLOTS_REFRESH_SECONDS: a replica that (re)joined counts for WAIT.
            self._refresh_slots = False
            self._next_slots_refresh = time.monotonic() + SLOTS_REFRESH_SECONDS
            await cluster.nodes_manager.initialize()
        await cluster.initialize()
        if not self._sha:
            self._sha = await client.script_load(APPEND_LUA)  # on every primary
        by_node: dict[str, tuple[Any, list[int]]] = {}
        for i, (keys, _) in enumerate(flight.calls):
            node = cluster.get_node_from_key(keys[1])  # the shard's stream
            by_node.setdefault(node.name, (node, []))[1].append(i)
        outcomes = await asyncio.gather(
            *(
                self._run_on_node(node, flight, todo, _wait_for(cluster, flight, todo))
                for node, todo in by_node.values()
            ),
            return_exceptions=True,
        )
        retry = [i for i, r in enumerate(flight.results) if isinstance(r, NoScriptError)]
        if retry:  # a node that took a slot over (a promoted replica) without the script
            await client.script_load(APPEND_LUA)
            by_node = {}
            for i in retry:
                node = cluster.get_node_from_key(flight.calls[i][0][1])
                by_node.setdefault(node.name, (node, []))[1].append(i)
            outcomes += await asyncio.gather(
                *(
                    self._run_on_node(node, flight, todo, _wait_for(cluster, flight, todo))
                    for node, todo in by_node.values()
                ),
                return_exceptions=True,
            )
        if any(isinstance(r, ResponseError) and "MOVED" in str(r) for r in flight.results):
            self._refresh_slots = True
        errors = [o for o in outcomes if isinstance(o, BaseException)]
        if errors:
            self._refresh_slots = True
            raise errors[0]

    async def _run_on_node(
        self, node: Any, flight: _Flight, todo: list[int], replicas: int
    ) -> None:
        sha = self._sha.encode()
        conn = node.acquire_connection()
        try:
            packed = b"".join(_pack_evalsha(sha, *flight.calls[i]) for i in todo)
            if replicas:
                packed += _pack_wait(replicas)
            flight.unanswered[conn] = None  # never CLIENT KILLed: the probe only confirms
            for i in todo:
                flight.results[i] = _SENT
            await conn.send_packed_command(packed, check_health=False)
            for i in todo:
                try:
                    flight.results[i] = await conn.read_response()
                except ResponseError as exc:
                    flight.results[i] = exc
            if replicas and int(await conn.read_response()) < replicas:
                flight.unreplicated.update(todo)
            del flight.unanswered[conn]
        except BaseException:
            await conn.disconnect(nowait=True)
            raise
        finally:
            node.release(conn)

    async def _confirm_on_cluster(
        self, probe: aioredis.Redis, flight: _Flight
    ) -> dict[int, AppendResult]:
        """Unanswered calls on a cluster: appended if the seen key holds the id (read from the
        slot's owner now, a promoted replica included); otherwise still unknown."""
        seen = {
            i: flight.calls[i][0][0]
            for i, result in enumerate(flight.results)
            if result is _SENT and flight.calls[i][0][0]
        }
        if not seen:
            return {}
        try:
            async with asyncio.timeout(PROBE_TIMEOUT):
                pipe = probe.pipeline(transaction=False)
                for key in seen.values():
                    pipe.get(key)
                values = await pipe.execute(raise_on_error=False)
        except _FAILURES:
            return {}
        verdicts: dict[int, AppendResult] = {}
        for i, value in zip(seen, values, strict=True):
            if isinstance(value, bytes) and b"-" in value:
                verdicts[i] = value.decode()
        return verdicts

    async def _find_out(self, probe: aioredis.Redis, flight: _Flight) -> dict[int, AppendResult]:
        """For calls sent but unanswered: appended (id or duplicate) or provably not, as far as
        Redis can tell within PROBE_TIMEOUT; calls left out of the answer stay unknown."""
        if cluster_enabled():
            return await self._confirm_on_cluster(probe, flight)
        ids = set(flight.unanswered.values())
        seen = {
            i: flight.calls[i][0][0]
            for i, result in enumerate(flight.results)
            if result is _SENT and flight.calls[i][0][0]
        }
        if None in ids or not seen:
            return {}  # a connection we cannot name may still run them; statuses have no key
        commands: list[tuple[Any, ...]] = [("CLIENT", "KILL", "ID", cid) for cid in ids]
        commands += [("GET", key) for key in seen.values()]
        replies: list[Any] = []
        conn: AbstractConnection | None = None
        pool = probe.connection_pool
        try:
            async with asyncio.timeout(PROBE_TIMEOUT):
                conn = await pool.get_connection()
                # One connection, so the kills run before the reads.
                await conn.send_packed_command(conn.pack_commands(commands), check_health=False)
                for _ in commands:
                    try:
                        replies.append(await conn.read_response())
                    except ResponseError as exc:
                        replies.append(exc)
        except _FAILURES:
            if conn is not None:
                await conn.disconnect(nowait=True)
            return {}
        finally:
            if conn is not None:
                await pool.release(conn)
        kills, values = replies[: len(ids)], replies[len(ids) :]
        # 0 killed is as good as 1: that connection is gone, and with it whatever it had not run.
        if not all(isinstance(killed, int) for killed in kills):
            return {}
        verdicts: dict[int, AppendResult] = {}
        for i, value in zip(seen, values, strict=True):
            if isinstance(value, ResponseError):
                continue
            if value is None:
                verdicts[i] = Unconfirmed.NOT_APPENDED
            else:
                entry_id = value.decode() if isinstance(value, bytes) else str(value)
                # "1": a key from before the seen key held the id; the entry is in, id unknown.
                verdicts[i] = entry_id if "-" in entry_id else None
        return verdicts

    async def aclose(self) -> None:
        state, self._state = self._state, None
        if state is not None:
            if state.tasks:
                await asyncio.gather(*state.tasks, return_exceptions=True)
            await state.client.aclose()
            await state.probe.aclose()


def _outcomes(flight: _Flight, verdicts: dict[int, AppendResult]) -> list[AppendResult]:
    outcomes: list[AppendResult] = []
    for i, result in enumerate(flight.results):
        if i in flight.unreplicated and isinstance(result, bytes):
            # In the primary, not (yet) on enough replicas: a failover now would lose it.
            outcomes.append(Unconfirmed.UNKNOWN)
        elif result is _UNSENT:
            outcomes.append(Unconfirmed.NOT_APPENDED)
        elif result is _SENT:
            outcomes.append(verdicts.get(i, Unconfirmed.UNKNOWN))
        elif isinstance(result, BaseException):
            # Redis answered with an error: the script did not run, or failed before XADD.
            outcomes.append(Unconfirmed.NOT_APPENDED)
        elif isinstance(result, bytes):
            outcomes.append(result.decode())
        else:
            outcomes.append(result)  # None: the script saw a duplicate
    return outcomes


def _deliver(batch: Batch, outcomes: list[AppendResult]) -> None:
    start = 0
    for item_calls, future in batch:
        end = start + len(item_calls)
        if not future.done():  # its request may have been cancelled (client gone)
            future.set_result(outcomes[start:end])
        start = end


def _wait_for(cluster: Any, flight: _Flight, todo: list[int]) -> int:
    """How many replicas a node's batch waits for: REDIS_WAIT_REPLICAS, but no more than the
    slot map gives its slots. A primary promoted by a failover has none until the failed node
    comes back as its replica: waiting for one then would refuse every webhook of its shards
    (a 503 until an operator acts); its appends rest on one node meanwhile, as before the
    cluster had replicas."""
    slot = key_slot(flight.calls[todo[0]][0][1].encode())
    known = cluster.nodes_manager.slots_cache.get(slot) or [None]
    return min(settings.REDIS_WAIT_REPLICAS, len(known) - 1)


def _pack_wait(replicas: int) -> bytes:
    """WAIT for `replicas` to have this connection's writes, within REDIS_WAIT_TIMEOUT_MS."""
    timeout = str(settings.REDIS_WAIT_TIMEOUT_MS).encode()
    count = str(replicas).encode()
    return b"*3\r\n$4\r\nWAIT\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (
        len(count),
        count,
        len(timeout),
        timeout,
    )


def _pack_evalsha(sha: bytes, keys: list[str], args: list[str | bytes | int]) -> bytes:
    """EVALSHA in RESP, written out directly: redis-py's generic packer costs ~10 µs."""
    parts = [b"EVALSHA", sha, str(len(keys)).encode()]
    parts.extend(key.encode() for key in keys)
    parts.extend(arg if isinstance(arg, bytes) else str(arg).encode() for arg in args)
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        out.append(b"$%d\r\n" % len(part))
        out.append(part)
        out.append(b"\r\n")
    return b"".join(out)
