"""① Webhook ingestion: the HTTP endpoint providers call, `/webhooks/<provider>/<channel uuid>/`.

A bare ASGI application mounted in front of Django (see `routing_service.asgi`): Django's
request machinery costs more than everything this path has to do, and providers retry (and
eventually disable webhooks) when we are slow. Per request it

1. resolves the provider and the channel (in-process cache, `channels_cache`) → 404 / 405;
2. reads the body incrementally, never more than the channel's limit → 413;
3. lets the provider's adapter check authenticity and normalise (`adapters`) → 415 / 401 /
   403 / 400;
4. appends every message and status event to the inbound stream with the atomic
   dedupe-and-append script (`stream.APPEND_LUA`) in one pipeline → 503 when Redis fails;
5. answers 202 with the stream entry ids, 200 for a duplicate, or the provider's own body.

It never routes and never writes to the database: the router (②) does that from the stream.
It never answers 2xx for a message unless Redis returned a stream entry id for it (or the
script's seen-key says an earlier request already appended it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, quote

import orjson
import redis.asyncio as aioredis
from django.conf import settings
from django.db import DatabaseError
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError, ResponseError

from routing_service.ingest.adapters import (
    ADAPTERS,
    HandshakeAdapter,
    PayloadError,
    SignatureError,
    UnsupportedMediaType,
    WebhookError,
    WebhookRequest,
)
from routing_service.ingest.adapters.base import NON_FIELD_ERRORS, require_media_type
from routing_service.ingest.channels_cache import ChannelCache, ChannelInfo
from routing_service.ingest.stream import (
    APPEND_LUA,
    Entry,
    InboundEntry,
    StatusEntry,
    append_args,
)
from routing_service.observability import metrics
from routing_service.observability.logging import bind_asgi_request_id

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]
AppendCall = tuple[list[str], list[str | bytes | int]]

PREFIX = "/webhooks/"
RETRY_AFTER_SECONDS = 5
REDIS_CONNECT_TIMEOUT = 1.0
# Providers give up after 10-15 s (Twilio 15, Meta ~20); answer 503 well before that.
REDIS_SOCKET_TIMEOUT = 5.0
REDIS_MAX_CONNECTIONS = 256
MAX_BATCH = 256  # commands per pipeline
MAX_QUERY_FIELDS = 32
LOG_INTERVAL_SECONDS = 10.0

JSON_TYPE = b"application/json"
TEXT_TYPE = b"text/plain; charset=utf-8"


class Response:
    __slots__ = ("body", "content_type", "headers", "status")

    def __init__(
        self,
        status: int,
        body: bytes,
        content_type: bytes = JSON_TYPE,
        headers: Iterable[tuple[bytes, bytes]] = (),
    ) -> None:
        self.status = status
        self.body = body
        self.content_type = content_type
        self.headers = headers


def json_response(status: int, data: Any, headers: Iterable[tuple[bytes, bytes]] = ()) -> Response:
    return Response(status, orjson.dumps(data), JSON_TYPE, headers)


def detail(status: int, message: str, headers: Iterable[tuple[bytes, bytes]] = ()) -> Response:
    return json_response(status, {"detail": message}, headers)


# isinstance() against a runtime-checkable Protocol costs ~40 µs: decide once, not per request.
HANDSHAKES: dict[str, HandshakeAdapter] = {
    name: adapter for name, adapter in ADAPTERS.items() if isinstance(adapter, HandshakeAdapter)
}
NOT_FOUND = detail(404, "Not found.")
DUPLICATE = json_response(200, {"status": "duplicate"})
IGNORED = json_response(200, {"status": "ignored"})
UNAVAILABLE = detail(
    503,
    "Temporarily unavailable; nothing was accepted. Retry later.",
    [(b"retry-after", str(RETRY_AFTER_SECONDS).encode())],
)


class Disconnected(Exception):
    """The client went away before sending its whole body: there is nobody to answer."""


class StreamUnavailable(Exception):
    """Redis did not confirm the append (connection, timeout, script or server error)."""


class _Throttled:
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


class _LoopState:
    """What belongs to one event loop: the client (its connections) and the open batch."""

    __slots__ = ("client", "loop", "pending", "scheduled", "tasks")

    def __init__(self, loop: asyncio.AbstractEventLoop, client: aioredis.Redis) -> None:
        self.loop = loop
        self.client = client
        self.pending: list[tuple[list[AppendCall], asyncio.Future[list[Any]]]] = []
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

    @property
    def url(self) -> str:
        return self._url or settings.STREAM_REDIS_URL

    def _current(self) -> _LoopState:
        loop = asyncio.get_running_loop()
        state = self._state
        if state is None or state.loop is not loop:
            # Connections belong to the loop that opened them (a new loop means a new test).
            client = aioredis.Redis.from_url(
                self.url,
                socket_connect_timeout=REDIS_CONNECT_TIMEOUT,
                socket_timeout=REDIS_SOCKET_TIMEOUT,
                socket_keepalive=True,
                health_check_interval=30,
                max_connections=REDIS_MAX_CONNECTIONS,
                # One quick retry replaces a pooled connection Redis closed; then fail fast.
                retry=Retry(ExponentialBackoff(cap=0.05, base=0.01), 1),
            )
            state = self._state = _LoopState(loop, client)
            self._sha = ""
        return state

    async def append(self, entries: Sequence[Entry]) -> list[str | None]:
        """The stream id of each entry, or None where the script saw a duplicate.

        Raises StreamUnavailable unless Redis answered for every entry.
        """
        calls = [append_args(entry) for entry in entries]
        state = self._current()
        future: asyncio.Future[list[Any]] = state.loop.create_future()
        state.pending.append((calls, future))
        if not state.scheduled:
            state.scheduled = True
            state.loop.call_soon(self._flush, state)
        results = await future
        ids: list[str | None] = []
        for result in results:
            if isinstance(result, BaseException):
                raise StreamUnavailable(str(result)) from result
            ids.append(result.decode() if isinstance(result, bytes) else result)
        return ids

    def _flush(self, state: _LoopState) -> None:
        state.scheduled = False
        pending, state.pending = state.pending, []
        batch: list[tuple[list[AppendCall], asyncio.Future[list[Any]]]] = []
        size = 0
        for item in pending:
            batch.append(item)
            size += len(item[0])
            if size >= self.max_batch:
                self._start(state, batch)
                batch, size = [], 0
        if batch:
            self._start(state, batch)

    def _start(
        self, state: _LoopState, batch: list[tuple[list[AppendCall], asyncio.Future[list[Any]]]]
    ) -> None:
        task = state.loop.create_task(self._send(state.client, batch))
        state.tasks.add(task)  # a strong reference until done: the loop keeps only weak ones
        task.add_done_callback(state.tasks.discard)

    async def _send(
        self,
        client: aioredis.Redis,
        batch: list[tuple[list[AppendCall], asyncio.Future[list[Any]]]],
    ) -> None:
        calls = [call for item_calls, _ in batch for call in item_calls]
        try:
            results = await self._execute(client, calls)
        except (RedisError, OSError, TimeoutError) as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(StreamUnavailable(str(exc) or type(exc).__name__))
            return
        except BaseException as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(StreamUnavailable(f"{type(exc).__name__}: {exc}"))
            raise
        start = 0
        for item_calls, future in batch:
            end = start + len(item_calls)
            if not future.done():  # its request may have been cancelled (client gone)
                future.set_result(results[start:end])
            start = end

    async def _execute(self, client: aioredis.Redis, calls: list[AppendCall]) -> list[Any]:
        if not self._sha:
            self._sha = await client.script_load(APPEND_LUA)
        results = await self._run(client, calls)
        retry = [i for i, r in enumerate(results) if isinstance(r, NoScriptError)]
        if retry:
            self._sha = await client.script_load(APPEND_LUA)
            again = await self._run(client, [calls[i] for i in retry])
            for i, result in zip(retry, again, strict=True):
                results[i] = result
        return results

    async def _run(self, client: aioredis.Redis, calls: list[AppendCall]) -> list[Any]:
        """Send the calls in one write on one pooled connection and read every reply.

        The low-level pool API instead of `client.pipeline()`: a pipeline object, its command
        stack and generic packing cost more than the rest of the request. Error replies are
        returned in place (like `execute(raise_on_error=False)`). A connection that fails is
        replaced once, as redis-py's own retry would; for a message that Redis did append
        before failing, the retry answers "duplicate" — true, it is in the stream.
        """
        sha = self._sha.encode()
        packed = b"".join(_pack_evalsha(sha, keys, args) for keys, args in calls)
        pool = client.connection_pool
        for attempt in (1, 2):
            conn = await pool.get_connection()
            try:
                await conn.send_packed_command(packed, check_health=False)
                results: list[Any] = []
                for _ in calls:
                    try:
                        results.append(await conn.read_response())
                    except ResponseError as exc:
                        results.append(exc)
                return results
            except RedisConnectionError:
                await conn.disconnect()
                if attempt == 2:
                    raise
            except BaseException:
                await conn.disconnect()  # unread replies would be taken for the next ones
                raise
            finally:
                await pool.release(conn)
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        state, self._state = self._state, None
        if state is not None:
            if state.tasks:
                await asyncio.gather(*state.tasks, return_exceptions=True)
            await state.client.aclose()


class WebhookApp:
    """The ASGI application for `/webhooks/…` (HTTP only).

    Arguments override settings (tests point `redis_url` at a dead port, benchmarks tune the
    cache); by default everything comes from settings on first use.
    """

    def __init__(
        self,
        *,
        redis_url: str | None = None,
        channels: ChannelCache | None = None,
        max_body_bytes: int | None = None,
        trust_forwarded_headers: bool | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.stream = StreamAppender(redis_url)
        self.channels = channels or ChannelCache()
        self._max_body_bytes = max_body_bytes
        self._trust_forwarded = trust_forwarded_headers
        self.clock = clock
        self._log_outage = _Throttled(LOG_INTERVAL_SECONDS)

    @property
    def default_max_body_bytes(self) -> int:
        return self._max_body_bytes or settings.WEBHOOK_MAX_BODY_BYTES

    @property
    def trust_forwarded_headers(self) -> bool:
        if self._trust_forwarded is None:
            return bool(getattr(settings, "WEBHOOK_TRUST_FORWARDED_HEADERS", False))
        return self._trust_forwarded

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            raise ValueError(f"The webhook application serves HTTP only, not {scope['type']!r}.")
        request_id = bind_asgi_request_id(scope)
        try:
            response = await self.handle(scope, receive)
        except Disconnected:
            return
        except Exception:
            logger.exception("Webhook %s %s failed", scope.get("method"), scope.get("path"))
            response = detail(500, "Internal error. Retry later.")
        headers: Headers = [
            (b"content-type", response.content_type),
            (b"content-length", str(len(response.body)).encode()),
        ]
        headers.extend(response.headers)
        headers.append((b"x-request-id", request_id))
        metrics.count_webhook(scope, response.status)
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body})

    async def handle(self, scope: Scope, receive: Receive) -> Response:
        path: str = scope["path"]
        if not path.startswith(PREFIX):
            return NOT_FOUND
        parts = path[len(PREFIX) :].split("/")
        if len(parts) == 3 and parts[2] == "":  # the canonical trailing slash
            parts.pop()
        if len(parts) != 2:
            return NOT_FOUND
        provider, key = parts
        adapter = ADAPTERS.get(provider)
        if adapter is None:
            return NOT_FOUND

        method: str = scope["method"]
        handshake = provider in HANDSHAKES
        if method != "POST" and not (method == "GET" and handshake):
            allow = b"GET, POST" if handshake else b"POST"
            return detail(405, f'Method "{method}" not allowed.', [(b"allow", allow)])

        try:
            channel = await self.channels.get(key)  # None for a segment that is not a UUID
        except (DatabaseError, OSError) as exc:
            # Only a cache miss reaches the database; without it we cannot verify anything.
            if self._log_outage():
                logger.error("Channel lookup failed, answering 503: %s", exc)
            return UNAVAILABLE
        if channel is None or not channel.is_active or channel.provider != provider:
            return NOT_FOUND

        headers = _headers(scope)
        if method == "GET":
            return self._handshake(HANDSHAKES[provider], channel, scope, headers)

        content_type = headers.get("content-type", "")
        if content_type not in adapter.content_types:  # the adapter checks it again anyway
            try:
                require_media_type(
                    WebhookRequest(method=method, url="", content_type=content_type),
                    adapter.content_types,
                )
            except UnsupportedMediaType as exc:
                return detail(exc.status_code, str(exc))

        limit = channel.max_body_bytes or self.default_max_body_bytes
        declared = headers.get("content-length")
        if declared is not None:
            if not (declared.isascii() and declared.isdigit()):
                return detail(400, "Invalid Content-Length header.")
            if int(declared) > limit:
                return _too_large(limit)
        body = await _read_body(receive, limit)
        if body is None:
            return _too_large(limit)

        received_at = datetime.now(UTC)
        req = WebhookRequest(
            method=method,
            url=self._public_url(scope, headers),
            headers=headers,
            body=body,
            content_type=content_type,
            received_at=received_at,
        )
        try:
            adapter.verify(req, channel.secrets, self.clock())
            result = adapter.parse(req)
        except WebhookError as exc:
            return _error(exc)
        except Exception:
            # Authenticated or not, input an adapter cannot digest (nesting bombs, bad UTF-8
            # inside strings...) is the sender's fault: 400, never 500.
            logger.warning("Unparseable %s webhook for channel %s", provider, channel.id)
            return json_response(400, {"errors": {NON_FIELD_ERRORS: ["Malformed payload."]}})

        entries: list[Entry] = [
            InboundEntry(
                channel_id=channel.id,
                company_id=channel.company_id,
                received_at=received_at,
                message=message,
            )
            for message in result.messages
        ]
        entries.extend(
            StatusEntry(
                channel_id=channel.id,
                company_id=channel.company_id,
                received_at=received_at,
                status=status,
            )
            for status in result.statuses
        )
        if not entries:
            # Update kinds we do not handle (Telegram callback queries, WhatsApp account
            # changes...): acknowledged so the provider does not retry them forever.
            return _provider_answer(result.response) or IGNORED
        try:
            ids = await self.stream.append(entries)
        except StreamUnavailable as exc:
            if self._log_outage():
                logger.error("Inbound stream unavailable, answering 503: %s", exc)
            return UNAVAILABLE

        appended = [entry_id for entry_id in ids if entry_id is not None]
        if result.response is not None:
            return _provider_answer(result.response) or IGNORED
        if not appended:
            return DUPLICATE
        answer: dict[str, Any] = {"status": "accepted", "ids": appended}
        if len(appended) == 1:
            answer["id"] = appended[0]
        if duplicates := len(ids) - len(appended):
            answer["duplicates"] = duplicates
        return json_response(202, answer)

    def _handshake(
        self,
        adapter: HandshakeAdapter,
        channel: ChannelInfo,
        scope: Scope,
        headers: dict[str, str],
    ) -> Response:
        try:
            pairs = parse_qsl(
                scope.get("query_string", b"").decode("latin-1"),
                keep_blank_values=True,
                max_num_fields=MAX_QUERY_FIELDS,
            )
        except ValueError:
            return json_response(400, {"errors": {NON_FIELD_ERRORS: ["Too many query fields."]}})
        req = WebhookRequest(
            method="GET",
            url=self._public_url(scope, headers),
            headers=headers,
            query=dict(pairs),
        )
        try:
            challenge = adapter.handshake(req, channel.secrets)
        except WebhookError as exc:
            return _error(exc)
        return Response(200, challenge, TEXT_TYPE)

    def _public_url(self, scope: Scope, headers: dict[str, str]) -> str:
        """The URL as the provider called it (Twilio signs it), behind a proxy if trusted."""
        scheme = scope.get("scheme") or "http"
        host = headers.get("host", "")
        if self.trust_forwarded_headers:
            scheme = _first(headers.get("x-forwarded-proto")) or scheme
            host = _first(headers.get("x-forwarded-host")) or host
        if not host:
            server = scope.get("server")
            if server:
                name, port = server[0], server[1]
                default = {"http": 80, "https": 443}.get(scheme)
                host = name if port is None or port == default else f"{name}:{port}"
        raw_path = scope.get("raw_path")
        path = raw_path.decode("latin-1") if raw_path else quote(scope["path"])
        url = f"{scheme}://{host}{path}"
        query = scope.get("query_string", b"")
        if query:
            url += "?" + query.decode("latin-1")
        return url


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


def _first(value: str | None) -> str:
    """The client-facing value of a forwarded header a proxy chain may have extended."""
    return value.split(",", 1)[0].strip() if value else ""


def _headers(scope: Scope) -> dict[str, str]:
    """Lower-case names (ASGI servers already lower-case them); repeats joined with commas."""
    headers: dict[str, str] = {}
    for name, value in scope.get("headers", ()):
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        headers[key] = f"{headers[key]},{text}" if key in headers else text
    return headers


async def _read_body(receive: Receive, limit: int) -> bytes | None:
    """The request body, or None as soon as it grows past `limit` (the rest is never read)."""
    message = await receive()
    chunks: list[bytes] = []
    size = 0
    while True:
        if message["type"] == "http.disconnect":
            raise Disconnected
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                return None
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
        message = await receive()
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _too_large(limit: int) -> Response:
    return detail(413, f"Request body is larger than {limit} bytes.")


def _error(exc: WebhookError) -> Response:
    if isinstance(exc, PayloadError):
        return json_response(exc.status_code, {"errors": exc.errors})
    if isinstance(exc, SignatureError):
        return detail(exc.status_code, exc.reason)
    return detail(exc.status_code, str(exc))


def _provider_answer(response: tuple[int, str, bytes] | None) -> Response | None:
    if response is None:
        return None
    status, content_type, body = response
    return Response(status, body, content_type.encode("latin-1"))


application = WebhookApp()
