"""ASGI entry point: HTTP (Django), websockets (Channels)."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "routing_service.settings")
django_asgi = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402

from realtime.routing import websocket_application  # noqa: E402

# Websockets: /ws/agent/ and /ws/wallboard/ (realtime/routing.py, protocol in realtime/PROTOCOL.md).
application = ProtocolTypeRouter({"http": django_asgi, "websocket": websocket_application})
