"""Helpers for tests that talk to a real daphne with the `websockets` client."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

# `dial`'s default Origin: the page a browser would have opened the socket from.
SAME_ORIGIN = "same-origin"


def page_origin(url: str) -> str:
    """The origin of a page served next to the websocket `url` (ws → http, wss → https)."""
    parts = urlsplit(url)
    return f"{'https' if parts.scheme == 'wss' else 'http'}://{parts.netloc}"


async def dial(
    url: str, *, cookie: str | None = None, origin: str | None = SAME_ORIGIN
) -> ClientConnection:
    if origin == SAME_ORIGIN:
        origin = page_origin(url)
    headers = {"Cookie": cookie} if cookie else None
    return await connect(url, origin=origin, additional_headers=headers, open_timeout=10)  # type: ignore[arg-type]


async def next_frame(conn: ClientConnection, timeout: float = 5) -> dict[str, Any]:
    import asyncio

    raw = await asyncio.wait_for(conn.recv(), timeout)
    return json.loads(raw)


async def close_code(conn: ClientConnection, timeout: float = 5) -> int | None:
    """Read until the server closes; the code it closed with."""
    import asyncio

    try:
        while True:
            await asyncio.wait_for(conn.recv(), timeout)
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None
