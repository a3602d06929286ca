"""① Webhook ingestion: the HTTP endpoint providers call, `/webhooks/<provider>/<channel uuid>/`.

A bare ASGI application mounted in front of Django (see `routing_service.asgi`): Django's
request machinery costs more than everything this path has to do, and providers retry (and
eventually disable webhooks) when we are slow. Per request it

1. resolves the provider and the channel (in-process cache, `channels_cache`) → 404 / 405;
2. reads the body incrementally, never more than the channel's limit → 413;
3. lets the provider's adapter check authenticity and normalise (`adapters`) → 415 / 401 /
   403 / 400: the credentials' presence and shape before the body is read, the signature
   before anything is parsed (where the provider's scheme allows), and both off the event
   loop when the body is large (`offload`), so that no request, authentic or hostile, holds
   the loop that every API call and websocket of the process shares;
4. appends every message and status event to the inbound stream with the atomic
   dedupe-and-append script (`appender.StreamAppender`) → 503 when Redis fails;
5. answers 202 with the stream entry ids, 200 for a duplicate, or the provider's own body.

It never routes and never writes to the database: the router (②) does that from the stream.
Its answers are true: 2xx only for messages that are in the stream (an entry id from Redis, or
the seen key of an earlier request); a 503 says "nothing was accepted" only when nothing was,
and "unknown" when Redis stalled past the time bound (the provider's retry is then a
duplicate or a first append, never a second entry).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, quote

import orjson
from django.conf import settings
from django.db import DatabaseError

from routing_service.ingest.adapters import (
    ADAPTERS,
    MALFORMED,
    HandshakeAdapter,
    ParseResult,
    Refusal,
    UnsupportedMediaType,
    WebhookError,
    WebhookRequest,
    authenticate,
    parse_request,
    refusal,
)
from routing_service.ingest.adapters.base import NON_FIELD_ERRORS, require_media_type
from routing_service.ingest.appender import (
    LOG_INTERVAL_SECONDS,
    AppendResult,
    StreamAppender,
    Throttled,
    Unconfirmed,
)
from routing_service.ingest.channels_cache import ChannelCache, ChannelInfo
from routing_service.ingest.offload import Offloader, ParserUnavailable
from routing_service.ingest.stream import Entry, InboundEntry, StatusEntry, TypingEntry
from routing_service.observability import metrics
from routing_service.observability.logging import bind_asgi_request_id

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

PREFIX = "/webhooks/"
RETRY_AFTER_SECONDS = 5
MAX_QUERY_FIELDS = 32
# Bodies larger than this are verified and parsed off the event loop (`offload`). Up to here
# the worst input costs ~1.5 ms of CPU (a form of percent-escapes, JSON of tiny objects); a
# 1 MiB body costs up to ~100 ms, which on the loop would stall every request of the process.
OFFLOAD_BYTES = 16 * 1024

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
RETRY_LATER = [(b"retry-after", str(RETRY_AFTER_SECONDS).encode())]
# The three 503s say what is true of the request's messages; `accepted` says it for programs.
UNAVAILABLE = json_response(
    503,
    {"detail": "Temporarily unavailable; nothing was accepted. Retry later.", "accepted": "none"},
    RETRY_LATER,
)
PARTLY_ACCEPTED = json_response(
    503,
    {
        "detail": "Temporarily unavailable; only part of this request was accepted. Retry it: "
        "the messages already accepted are recognised as duplicates.",
        "accepted": "partial",
    },
    RETRY_LATER,
)
OUTCOME_UNKNOWN = json_response(
    503,
    {
        "detail": "The inbound stream did not confirm in time whether this request was "
        "accepted. Retry it: a message that was accepted is recognised as a duplicate.",
        "accepted": "unknown",
    },
    RETRY_LATER,
)
BUSY = json_response(
    503,
    {
        "detail": "Too many large requests at once; nothing was accepted. Retry later.",
        "accepted": "none",
    },
    RETRY_LATER,
)


class Disconnected(Exception):
    """The client went away before sending its whole body: there is nobody to answer."""


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
        self._log_outage = Throttled(LOG_INTERVAL_SECONDS)
        self.offload = Offloader()

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
        if adapter.max_body_bytes is not None:  # the provider never sends more
            limit = min(limit, adapter.max_body_bytes)
        declared = headers.get("content-length")
        size = None
        if declared is not None:
            if not (declared.isascii() and declared.isdigit()):
                return detail(400, "Invalid Content-Length header.")
            size = int(declared)
            if size > limit:
                return _too_large(limit)
        now = self.clock()
        if size is None or size > OFFLOAD_BYTES:
            # A large body is read only once its credentials look right (small ones: `verify`
            # runs the same checks, no need to do them twice).
            head = WebhookRequest(method=method, url="", headers=headers, content_type=content_type)
            try:
                adapter.verify_headers(head, channel.secrets, now)
            except WebhookError as exc:
                return _error(exc)
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
        result = await self._authenticate_and_parse(provider, req, channel, now)
        if isinstance(result, Response):
            return result

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
        entries.extend(
            TypingEntry(
                channel_id=channel.id,
                company_id=channel.company_id,
                received_at=received_at,
                typing=signal,
            )
            for signal in result.typing
        )
        if not entries:
            # Update kinds we do not handle (Telegram callback queries, WhatsApp account
            # changes...): acknowledged so the provider does not retry them forever.
            return _provider_answer(result.response) or IGNORED
        ids = await self.stream.append(entries)
        if failed := _unconfirmed(ids):
            return failed
        appended = [entry_id for entry_id in ids if isinstance(entry_id, str)]
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

    async def _authenticate_and_parse(
        self, provider: str, req: WebhookRequest, channel: ChannelInfo, now: float
    ) -> ParseResult | Response:
        """Verify, then parse: inline for small bodies, off the event loop for large ones."""
        if len(req.body) <= OFFLOAD_BYTES:
            checked = authenticate(provider, req, channel.secrets, now)
            result = parse_request(provider, req) if checked is None else checked
        elif self.offload.busy:
            return BUSY
        else:
            checked = await self.offload.verify(provider, req, channel.secrets, now)
            if checked is not None:
                result = checked
            else:
                try:
                    result = await self.offload.parse(provider, req)
                except ParserUnavailable:
                    return UNAVAILABLE
        if isinstance(result, Refusal):
            if result == MALFORMED:
                logger.warning("Unparseable %s webhook for channel %s", provider, channel.id)
            return json_response(result.status_code, result.body)
        return result

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


def _unconfirmed(results: Sequence[AppendResult]) -> Response | None:
    """The 503 for a request not every entry of which is known to be in the stream, if any."""
    if all(not isinstance(result, Unconfirmed) for result in results):
        return None
    if Unconfirmed.UNKNOWN in results:
        return OUTCOME_UNKNOWN
    if any(isinstance(result, str) for result in results):
        return PARTLY_ACCEPTED
    return UNAVAILABLE


def _too_large(limit: int) -> Response:
    return detail(413, f"Request body is larger than {limit} bytes.")


def _error(exc: WebhookError) -> Response:
    answer = refusal(exc)
    return json_response(answer.status_code, answer.body)


def _provider_answer(response: tuple[int, str, bytes] | None) -> Response | None:
    if response is None:
        return None
    status, content_type, body = response
    return Response(status, body, content_type.encode("latin-1"))


application = WebhookApp()
