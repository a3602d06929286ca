"""A local stand-in for chat providers' HTTP APIs and generic callback receivers.

A threaded `http.server` on 127.0.0.1 with an ephemeral port. It records every request and
answers like the provider whose path was called, so a channel whose `api_base_url` (or
`callback_url`) points here delivers for real without leaving the machine:

    server = ProviderServer().start()
    channel.config = {"api_base_url": server.url, ...}
    server.fail_next(2)                        # the next two requests get a 500
    server.fail_next(1, status=429, retry_after=3)
    server.wait_for_requests(3)
    server.requests[-1].json()
    server.stop()

`ProviderServer(ssl_context=ctx)` serves HTTPS with the context's certificate (tests of TLS
name checks make one with trustme).

Default answers: Twilio `POST …/Messages.json` → 201 `{"sid": "SM…"}`; WhatsApp
`POST …/<phone id>/messages` → 200 `{"messages": [{"id": "wamid.…"}]}`; Telegram
`POST …/bot<token>/sendMessage` (and `sendPhoto`, `sendDocument`) → 200 `{"ok": true,
"result": {"message_id", "chat"}}`; anything else → 200 `{"ok": true}`.
`respond_with(handler)` replaces them. `serve(route, reply)` answers one path (any method,
query string ignored) with a fixed reply before all of that — the media a provider's API
hands out, for instance.
"""

from __future__ import annotations

import itertools
import json
import re
import ssl
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit


@dataclass(frozen=True)
class RecordedRequest:
    """One request as received. Header names are lower-case."""

    method: str
    path: str  # with the query string, as sent
    headers: Mapping[str, str]
    body: bytes
    received_at: float  # time.monotonic()

    @property
    def route(self) -> str:
        """The path without the query string."""
        return urlsplit(self.path).path

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return dict(parse_qsl(self.body.decode(), keep_blank_values=True))

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)


@dataclass(frozen=True)
class Reply:
    """What the server answers. A dict or list body is sent as JSON."""

    status: int = 200
    body: bytes | dict[str, Any] | list[Any] | str = b""
    headers: Mapping[str, str] = field(default_factory=dict)

    def encoded(self) -> tuple[bytes, dict[str, str]]:
        headers = dict(self.headers)
        if isinstance(self.body, dict | list):
            headers.setdefault("Content-Type", "application/json")
            return json.dumps(self.body).encode(), headers
        if isinstance(self.body, str):
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
            return self.body.encode(), headers
        return self.body, headers


Handler = Callable[[RecordedRequest], Reply]

_TWILIO = re.compile(r"/2010-04-01/Accounts/[^/]+/Messages\.json$")
_WHATSAPP = re.compile(r"/\d+/messages$")
_TELEGRAM = re.compile(r"/bot[^/]+/send(Message|Photo|Document)$")


def provider_like(request: RecordedRequest, n: int) -> Reply:
    """Answer as the provider whose API path was called; `n` numbers the request (1, 2, ...)."""
    route = request.route
    if _TWILIO.search(route):
        return Reply(201, {"sid": f"SM{n:032x}", "status": "queued"})
    if _WHATSAPP.search(route):
        return Reply(200, {"messaging_product": "whatsapp", "messages": [{"id": f"wamid.{n}"}]})
    if _TELEGRAM.search(route):
        try:
            chat_id = request.json().get("chat_id")
        except (ValueError, AttributeError):
            chat_id = _multipart_field(request, "chat_id")
        return Reply(200, {"ok": True, "result": {"message_id": n, "chat": {"id": chat_id}}})
    return Reply(200, {"ok": True})


def _multipart_field(request: RecordedRequest, name: str) -> str | None:
    """A plain field of a multipart/form-data body (Telegram uploads), if it has it."""
    marker = f'name="{name}"\r\n\r\n'.encode()
    start = request.body.find(marker)
    if start < 0:
        return None
    start += len(marker)
    return request.body[start : request.body.find(b"\r\n", start)].decode()


class ProviderServer:
    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, *, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self._lock = threading.Condition()
        self._requests: list[RecordedRequest] = []
        self._failures: list[Reply] = []
        self._handler: Handler | None = None
        self._routes: dict[str, Reply] = {}
        self._counter = itertools.count(1)
        self._httpd = ThreadingHTTPServer((host, port), self._make_handler())
        self._httpd.daemon_threads = True
        self._httpd.handle_error = self._handle_error  # type: ignore[method-assign]
        self._scheme = "http"
        if ssl_context is not None:
            # The handshake happens in the request's thread (first read), not in accept().
            self._httpd.socket = ssl_context.wrap_socket(
                self._httpd.socket, server_side=True, do_handshake_on_connect=False
            )
            self._scheme = "https"
        self._thread: threading.Thread | None = None

    # --- life cycle ----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL, e.g. "http://127.0.0.1:54321" (no trailing slash)."""
        host, port = self._httpd.server_address[:2]
        return f"{self._scheme}://{host!s}:{port}"

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def start(self) -> Self:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, name="provider-server", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet about clients that hung up or failed the TLS handshake; loud otherwise."""
        error = sys.exc_info()[1]
        if not isinstance(error, ssl.SSLError | ConnectionError | TimeoutError):
            ThreadingHTTPServer.handle_error(self._httpd, request, client_address)

    # --- behaviour -----------------------------------------------------------------------------

    def fail_next(
        self,
        count: int,
        *,
        status: int = 500,
        retry_after: int | str | None = None,
        body: bytes | dict[str, Any] | str = b"",
    ) -> None:
        """Answer the next `count` requests with `status` (and `Retry-After` if given)."""
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        reply = Reply(status, body or {"error": f"injected failure ({status})"}, headers)
        with self._lock:
            self._failures.extend([reply] * count)

    def fail_always(self, status: int = 500, body: bytes | dict[str, Any] | str = b"") -> None:
        """Every request from now on fails (until `reset()`)."""
        self.respond_with(lambda _req: Reply(status, body or {"error": "injected failure"}))

    def respond_with(self, handler: Handler | None) -> None:
        """Answer with `handler(request)`; None restores the provider-like answers."""
        with self._lock:
            self._handler = handler

    def serve(self, route: str, reply: Reply) -> str:
        """Answer requests for `route` (a path) with `reply`; returns its absolute URL."""
        with self._lock:
            self._routes[route] = reply
        return self.url + route

    def reset(self) -> None:
        """Forget requests, pending failures and a custom handler."""
        with self._lock:
            self._requests.clear()
            self._failures.clear()
            self._handler = None
            self._routes.clear()

    # --- inspection ----------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def requests_to(self, route: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.route == route]

    def wait_for_requests(self, count: int, timeout: float = 10.0) -> list[RecordedRequest]:
        """Block until at least `count` requests arrived; AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self._requests) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"expected {count} requests within {timeout} s, got {len(self._requests)}"
                    )
                self._lock.wait(left)
            return list(self._requests)

    # --- the HTTP side -------------------------------------------------------------------------

    def _answer(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self._requests.append(request)
            n = next(self._counter)
            failure = self._failures.pop(0) if self._failures else None
            handler = self._handler
            fixed = self._routes.get(request.route)
            self._lock.notify_all()
        if failure is not None:
            return failure
        if fixed is not None:
            return fixed
        if handler is not None:
            return handler(request)
        return provider_like(request, n)

    def _make_handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 5  # an idle keep-alive connection frees its thread after 5 s

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = RecordedRequest(
                    method=self.command,
                    path=self.path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                    received_at=time.monotonic(),
                )
                try:
                    reply = server._answer(request)
                except Exception as exc:  # a broken test handler should fail loudly, not hang
                    reply = Reply(599, f"handler error: {exc!r}")
                payload, headers = reply.encoded()
                try:
                    self.send_response(reply.status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client gave up (or was killed) first

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output quiet

        return _Handler
