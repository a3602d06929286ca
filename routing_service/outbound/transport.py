"""Outbound delivery: the HTTP transport that only connects to checked addresses.

httpx resolves and connects in one step (`socket.create_connection(host)`), which leaves no
place to check the address it picked, and a second lookup after our own check could answer
differently (DNS rebinding). So the check sits in httpcore's network backend, the one call
that opens sockets: `GuardedBackend.connect_tcp` resolves the host once
(`destinations.vet`), refuses it if any address is not public (unless the host is in
`OUTBOUND_ALLOWED_HOSTS`), and connects to the checked IP itself. Everything above the socket
is unchanged: httpcore still wraps TLS with the URL's host name as SNI and verifies the
certificate against it, and httpx sends the URL's `Host` header. Each pooled connection was
checked when it was opened.

Proxies from the environment are not used (a proxy would connect on our behalf to an address
we never saw), and redirects are not followed (`clients/base.py`).
"""

from __future__ import annotations

import functools
import socket
import time
import typing

import httpcore
import httpx
from django.conf import settings

from . import destinations

SocketOption = typing.Any  # httpcore's SOCKET_OPTION union


@functools.lru_cache(maxsize=8)
def _allowed(entries: tuple[str, ...]) -> frozenset[destinations.HostPort]:
    return destinations.parse_allowed_hosts(entries)


def allowed_hosts() -> frozenset[destinations.HostPort]:
    """`OUTBOUND_ALLOWED_HOSTS`, read at each use so a changed setting applies at once."""
    return _allowed(tuple(getattr(settings, "OUTBOUND_ALLOWED_HOSTS", ())))


class RefusedDestination(httpcore.ConnectError):
    """The connection was refused by our rules, not by the network (see destinations.py).

    A subclass of httpcore's ConnectError so httpcore cleans up as for any failed connect;
    `clients/base.execute` tells it apart by the `UnsafeDestination` it is raised from.
    """


class GuardedBackend(httpcore.SyncBackend):
    """httpcore's socket backend, connecting only to addresses `destinations.vet` accepts."""

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[SocketOption] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = destinations.vet(host, port, allowed_hosts())
        except destinations.UnsafeDestination as exc:
            raise RefusedDestination(str(exc)) from exc
        except (OSError, UnicodeError) as exc:
            raise httpcore.ConnectError(f"DNS lookup failed for {host}") from exc
        deadline = None if timeout is None else time.monotonic() + timeout
        options = list(socket_options or ())
        error: Exception | None = None
        # In the resolver's order, each within what is left of the connect timeout.
        for ip in addresses:
            left = None if deadline is None else max(0.01, deadline - time.monotonic())
            try:
                return super().connect_tcp(str(ip), port, left, local_address, options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
            if deadline is not None and time.monotonic() >= deadline:
                break
        assert error is not None
        raise error


class GuardedTransport(httpx.HTTPTransport):
    """httpx's default transport with `GuardedBackend` opening its sockets.

    Given to a client as `transport=`, so the client mounts no proxy from the environment (a
    proxy would connect on our behalf to an address we never saw).
    """

    def __init__(self, *, verify: typing.Any = True) -> None:
        super().__init__(verify=verify)
        # httpx offers no parameter for httpcore's network backend; the pool reads this
        # attribute each time it opens a connection. httpx is pinned to 0.28.x (pyproject.toml)
        # and tests/outbound/test_destinations.py fails if this stops taking effect.
        pool = typing.cast(httpcore.ConnectionPool, self._pool)
        pool._network_backend = GuardedBackend()


def refused_reason(exc: BaseException) -> destinations.UnsafeDestination | None:
    """The UnsafeDestination behind an httpx error, if our rules refused the connection."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, destinations.UnsafeDestination):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def network_reason(exc: BaseException) -> str:
    """A short, fixed description of a transport failure (never the peer's words)."""
    import ssl

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, socket.gaierror) or "DNS lookup failed" in str(seen):
            return "DNS lookup failed"
        if isinstance(seen, ssl.SSLCertVerificationError):
            return "TLS certificate not valid for the host"
        if isinstance(seen, ssl.SSLError):
            return "TLS handshake failed"
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        if isinstance(seen, ConnectionResetError | BrokenPipeError):
            return "connection reset"
        if isinstance(seen, httpx.RemoteProtocolError | httpcore.RemoteProtocolError):
            return "the server broke the HTTP protocol or closed the connection"
        seen = seen.__cause__ or seen.__context__
    return "network error"
