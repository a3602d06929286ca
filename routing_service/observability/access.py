"""One access line per request, for development: ``POST /webhooks/generic/… 202 3 ms``.

Production leaves access logging to nginx (a line per webhook costs more than the webhook, see
deploy/web.sh), so this is off unless ``ACCESS_LOG`` is on — by default when ``DEBUG`` is,
as under ``scripts/start``. It wraps the whole ASGI application (``routing_service.asgi``)
rather than being Django middleware, because webhooks never reach Django; and it works the
same under uvicorn and daphne, whose own access logs differ (and lack the duration).

HTTP requests are logged when their response ends (status and milliseconds from the start of
the request), websockets when the handshake is answered (``101`` accepted, ``403`` refused).
The path is logged without its query string, which may carry a websocket ticket.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["AccessLogMiddleware", "access_line"]

logger = logging.getLogger("switchboard.access")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def access_line(method: str, path: str, status: int, seconds: float) -> str:
    return f"{method} {path} {status} {seconds * 1000:.0f} ms"


class AccessLogMiddleware:
    """Logs each HTTP request and websocket handshake of ``app`` at INFO."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        method = scope.get("method", "GET") if kind == "http" else "WS"
        path = scope.get("path", "")
        status = 0
        logged = False

        def log(code: int) -> None:
            nonlocal logged
            if not logged:
                logged = True
                logger.info(access_line(method, path, code, time.perf_counter() - started))

        async def send_logged(message: Message) -> None:
            nonlocal status
            event = message["type"]
            if event == "http.response.start":
                status = int(message["status"])
            await send(message)
            if event == "http.response.body" and not message.get("more_body", False):
                log(status)
            elif event == "websocket.accept":
                log(101)
            elif event == "websocket.close":
                log(403)  # closed before it was accepted: the handshake was refused
            elif event == "websocket.http.response.start":
                log(int(message["status"]))

        try:
            await self.app(scope, receive, send_logged)
        except BaseException:
            if kind == "http" and not logged:
                log(status or 500)  # the server answers 500 for an application error
            raise
        if kind == "http" and not logged:
            log(status or 499)  # no complete response: the client went away (nginx's 499)
