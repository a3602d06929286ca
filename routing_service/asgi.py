"""ASGI entry point: webhooks (bare ASGI), the rest of HTTP (Django), websockets (Channels).

Webhooks skip Django's request machinery: it costs more per request than verifying, normalising
and appending to the inbound stream together (see `routing_service.ingest.asgi_app`).
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "routing_service.settings")
django_asgi = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from realtime.routing import websocket_application  # noqa: E402
from routing_service.ingest.asgi_app import PREFIX as WEBHOOK_PREFIX  # noqa: E402
from routing_service.ingest.asgi_app import application as webhook_app  # noqa: E402
from routing_service.observability.access import AccessLogMiddleware  # noqa: E402

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]


async def http_app(scope: Scope, receive: Receive, send: Send) -> None:
    """`/webhooks/…` to the webhook application, everything else to Django."""
    if scope["path"].startswith(WEBHOOK_PREFIX):
        await webhook_app(scope, receive, send)
    else:
        await django_asgi(scope, receive, send)


# Websockets: /ws/agent/ and /ws/wallboard/ (realtime/routing.py, protocol in realtime/PROTOCOL.md).
application: Any = ProtocolTypeRouter({"http": http_app, "websocket": websocket_application})
if settings.ACCESS_LOG:  # development: a line per request (observability/access.py)
    application = AccessLogMiddleware(application)
