"""⑤ Websocket URLs, and the ASGI application `routing_service.asgi` mounts for "websocket".

Credentials (session cookie or `?ticket=`), the origin check and roles are the consumers'
(realtime/auth.py): each refusal gets its own close code, and nothing runs before the handshake
is accepted (channels' AuthMiddlewareStack would read the session first, on one thread).
"""

from __future__ import annotations

from channels.generic.websocket import AsyncWebsocketConsumer
from channels.routing import URLRouter
from django.urls import re_path

from realtime.consumers import AgentConsumer, WallboardConsumer
from realtime.protocol import CloseCode


class NotFoundConsumer(AsyncWebsocketConsumer):
    """Any other websocket path: closed with 4404 instead of an application error."""

    async def connect(self) -> None:
        await self.accept()
        await self.close(code=int(CloseCode.NOT_FOUND))


websocket_urlpatterns = [
    re_path(r"^ws/agent/$", AgentConsumer.as_asgi()),
    re_path(r"^ws/wallboard/$", WallboardConsumer.as_asgi()),
    re_path(r"", NotFoundConsumer.as_asgi()),
]

websocket_application = URLRouter(websocket_urlpatterns)
