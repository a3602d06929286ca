"""A thin test client over channels' WebsocketCommunicator on the full ASGI application."""

from __future__ import annotations

import itertools
import json
from typing import Any

from channels.testing import WebsocketCommunicator

from routing_service.asgi import application

# The page the consoles under test are served from: the Origin the sockets send and, as the
# browser would, the Host they connect to.
HOST = "localhost"
ORIGIN = f"http://{HOST}"
_request_ids = itertools.count(1)


class Closed(Exception):
    def __init__(self, code: int | None) -> None:
        super().__init__(f"socket closed with {code}")
        self.code = code


class Socket:
    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.communicator = communicator
        self.closed_with: int | None = None
        self.disconnected = False

    async def frame(self, timeout: float = 5) -> dict[str, Any]:
        """The next server frame, decoded; raises Closed when the server closed instead.

        A timeout fails the test: the communicator cancels the application when it gives up.
        """
        output = await self.communicator.receive_output(timeout)
        if output["type"] == "websocket.close":
            self.closed_with = output.get("code", 1000)
            await self.disconnect()
            raise Closed(self.closed_with)
        assert output["type"] == "websocket.send", output
        return json.loads(output["text"])

    async def frame_of(self, *types: str, timeout: float = 5) -> dict[str, Any]:
        """The next frame of one of `types`, skipping others."""
        while True:
            got = await self.frame(timeout)
            if got["type"] in types:
                return got

    async def event_for(
        self, type_: str, conversation_id: int, timeout: float = 5
    ) -> dict[str, Any]:
        """The next `type_` event about this conversation, skipping others."""
        while True:
            got = await self.frame_of(type_, timeout=timeout)
            if got["data"].get("conversation_id") == conversation_id:
                return got

    async def expect_close(self, timeout: float = 5) -> int | None:
        """Read (and ignore) frames until the server closes; returns the close code."""
        try:
            while True:
                await self.frame(timeout)
        except Closed as closed:
            return closed.code

    async def nothing(self, timeout: float = 0.3) -> bool:
        return await self.communicator.receive_nothing(timeout)

    async def send(self, payload: dict[str, Any] | str | bytes) -> None:
        if isinstance(payload, bytes):
            await self.communicator.send_to(bytes_data=payload)
        elif isinstance(payload, str):
            await self.communicator.send_to(text_data=payload)
        else:
            await self.communicator.send_to(text_data=json.dumps(payload))

    async def request(self, action: str, **fields: Any) -> dict[str, Any]:
        """Send an action and return its ack or error (other frames before it are skipped)."""
        request_id = f"r{next(_request_ids)}"
        await self.send({"action": action, "request_id": request_id, **fields})
        while True:
            got = await self.frame_of("ack", "error")
            if got["data"]["request_id"] == request_id:
                return got

    async def disconnect(self) -> None:
        if not self.disconnected:
            self.disconnected = True
            await self.communicator.disconnect()


async def open_socket(
    path: str,
    *,
    cookie: str | None = None,
    origin: str | None = ORIGIN,
    host: str | None = HOST,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> Socket:
    """Connect (the server always accepts, then may close with a refusal code)."""
    all_headers = list(headers or [])
    if host is not None:
        all_headers.append((b"host", host.encode()))
    if origin is not None:
        all_headers.append((b"origin", origin.encode()))
    if cookie is not None:
        all_headers.append((b"cookie", cookie.encode()))
    communicator = WebsocketCommunicator(application, path, headers=all_headers)
    connected, code = await communicator.connect(timeout=10)
    sock = Socket(communicator)
    if not connected:
        sock.closed_with = code
        sock.disconnected = True
    return sock
