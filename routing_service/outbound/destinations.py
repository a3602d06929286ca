"""Outbound delivery: which network destinations a provider URL may reach (SSRF rules).

A company admin chooses a channel's `callback_url` and `api_base_url`, and every reply is then
POSTed there by our workers, from inside our network. Without a rule that would let any admin
reach loopback services (Redis, PostgreSQL), the cloud metadata endpoint (169.254.169.254) or
the private network. So an outbound call may only reach a *public* address: loopback, private,
link-local, multicast, reserved, unspecified and shared (CGNAT) addresses are refused, and so
are IPv6 addresses that embed a refused IPv4 one (IPv4-mapped `::ffff:127.0.0.1`, NAT64
`64:ff9b::7f00:1`, 6to4 `2002:7f00:1::`). `OUTBOUND_ALLOWED_HOSTS` names the exceptions
(`host` or `host:port`): on-premise providers and the test suite's local stand-in.

The rules are applied twice: when the URL is saved (`check_url`, a 400 on the field) and when a
connection is opened (`vet`, from `transport.py`), which resolves the name once, checks every
address and hands back the checked ones to connect to, so a name that resolved to a public
address at save time and to 127.0.0.1 later (DNS rebinding) is refused.

URLs are parsed with httpx's parser, the one that sends the request: a URL that another parser
reads differently (`http://a@127.0.0.1\\@b/`) cannot pass the check as one host and be sent to
another. Names are resolved by `resolve`, a module attribute so tests can replace it.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[IPAddress]]

DEFAULT_PORTS = {"http": 80, "https": 443}
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# RFC 8215: local-use NAT64 prefixes translate into whatever the operator's network holds.
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")


class UnsafeDestination(Exception):
    """An outbound call would reach an address it must not; `reason` is short and fixed."""

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(f"{host} is {reason}")
        self.host = host
        self.reason = reason


@dataclass(frozen=True)
class HostPort:
    """An `OUTBOUND_ALLOWED_HOSTS` entry: a host, on one port or (port None) on any."""

    host: str
    port: int | None = None


# --- pure rules ----------------------------------------------------------------------------------


def refusal(ip: IPAddress) -> str | None:
    """Why `ip` may not be reached ("a loopback address", ...), or None when it is public."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _NAT64_LOCAL:
            return "a local-use NAT64 address"
        embedded, kind = _embedded_ipv4(ip)
        if embedded is not None:
            inner = refusal(embedded)
            return f"{inner} ({kind})" if inner else None
    checks = (
        (ip.is_unspecified, "an unspecified address"),
        (ip.is_loopback, "a loopback address"),
        (ip.is_link_local, "a link-local address"),
        (ip.is_multicast, "a multicast address"),
        (ip.is_private, "a private address"),
        (ip.is_reserved, "a reserved address"),
        (isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local, "a site-local address"),
        # 100.64.0.0/10 (carrier-grade NAT) and the like: neither private nor global.
        (not ip.is_global, "not a public address"),
    )
    return next((reason for refused, reason in checks if refused), None)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[ipaddress.IPv4Address | None, str]:
    """The IPv4 address an IPv6 one stands for, where the network delivers it to that address."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped, "IPv4-mapped"
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "NAT64"
    if ip.sixtofour is not None:
        return ip.sixtofour, "6to4"
    if ip.teredo is not None:
        return ip.teredo[1], "Teredo"
    return None, ""


def literal_address(host: str) -> IPAddress | None:
    """`host` as an IP address if it is one, in any form the C resolver accepts.

    `getaddrinfo` reads "2130706433", "0x7f.1" and "0177.0.0.1" as 127.0.0.1 (inet_aton), so
    those forms are addresses here too, not names to look up.
    """
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if host and all(part and _is_number(part) for part in host.split(".")):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _is_number(part: str) -> bool:
    lowered = part.lower()
    if lowered.startswith("0x"):
        return all(c in "0123456789abcdef" for c in lowered[2:])
    return part.isdigit()


def normalise_host(host: str) -> str:
    """Lower case, no brackets or trailing dot; IP addresses in their canonical form."""
    host = host.strip().lower().strip("[]").rstrip(".")
    ip = literal_address(host)
    return str(ip) if ip is not None else host


def parse_allowed_hosts(entries: Iterable[str]) -> frozenset[HostPort]:
    """`OUTBOUND_ALLOWED_HOSTS` entries (`host`, `host:port`, `[v6]`, `[v6]:port`).

    Raises ValueError naming the first entry that is neither.
    """
    allowed: set[HostPort] = set()
    for raw in entries:
        entry = raw.strip()
        if not entry:
            continue
        host, port = entry, None
        if entry.startswith("["):
            host, _, rest = entry[1:].partition("]")
            if rest:
                if not rest.startswith(":") or not rest[1:].isdigit():
                    raise ValueError(f"not a host or host:port: {raw!r}")
                port = int(rest[1:])
        elif entry.count(":") == 1:
            host, _, port_text = entry.partition(":")
            if not port_text.isdigit():
                raise ValueError(f"not a host or host:port: {raw!r}")
            port = int(port_text)
        if not host or "/" in host or "@" in host or any(c.isspace() for c in host):
            raise ValueError(f"not a host or host:port: {raw!r}")
        if ":" in host and literal_address(host) is None:
            raise ValueError(f"not a host or host:port: {raw!r}")
        if port is not None and not 0 < port < 65536:
            raise ValueError(f"not a host or host:port (port out of range): {raw!r}")
        allowed.add(HostPort(normalise_host(host), port))
    return frozenset(allowed)


def is_allowed(host: str, port: int, allowed: frozenset[HostPort]) -> bool:
    name = normalise_host(host)
    return HostPort(name, None) in allowed or HostPort(name, port) in allowed


def check_addresses(host: str, addresses: Iterable[IPAddress]) -> list[IPAddress]:
    """The addresses, if every one is public; UnsafeDestination names the first that is not.

    Every address must pass, not only the first: the socket layer may try any of them.
    """
    checked = list(dict.fromkeys(addresses))
    for ip in checked:
        reason = refusal(ip)
        if reason is not None:
            raise UnsafeDestination(host, reason)
    return checked


def _named_loopback(name: str) -> bool:
    # RFC 6761: "localhost" and every name under it are loopback, whatever a resolver says.
    return name == "localhost" or name.endswith(".localhost")


# --- resolving --------------------------------------------------------------------------------


def system_resolver(host: str, port: int) -> list[IPAddress]:
    """Every address the system resolver gives for `host` (raises socket.gaierror)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


# Replaced in tests (a resolver that answers differently at save and at connect time).
resolve: Resolver = system_resolver


def vet(host: str, port: int, allowed: frozenset[HostPort]) -> list[IPAddress]:
    """The addresses to connect to for `host`: resolved once, each one checked.

    Hosts in `allowed` may resolve anywhere. Raises UnsafeDestination, or socket.gaierror when
    the name does not resolve.
    """
    name = normalise_host(host)
    permitted = is_allowed(name, port, allowed)
    literal = literal_address(name)
    if literal is not None:
        return [literal] if permitted else check_addresses(name, [literal])
    if not permitted and _named_loopback(name):
        raise UnsafeDestination(name, "a loopback address")
    addresses = list(resolve(name, port))
    if not addresses:
        raise socket.gaierror(socket.EAI_NONAME, "no address")
    return addresses if permitted else check_addresses(name, addresses)


def url_host_port(url: str) -> tuple[str, int]:
    """The host (ASCII, as it is sent) and port an http(s) URL connects to.

    Raises ValueError for anything else, including URLs httpx itself refuses.
    """
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ValueError(str(exc)) from None
    if parsed.scheme not in DEFAULT_PORTS or not parsed.raw_host:
        raise ValueError("not an http(s) URL with a host")
    return parsed.raw_host.decode("ascii"), parsed.port or DEFAULT_PORTS[parsed.scheme]


def check_url(url: str, allowed: frozenset[HostPort]) -> None:
    """Refuse a URL whose host is, or now resolves to, an address outbound calls may not reach.

    For saving a channel's settings. A name that does not resolve (yet) passes: it is checked
    again, like every name, each time a connection is opened. Raises UnsafeDestination or
    ValueError (not an http(s) URL).
    """
    host, port = url_host_port(url)
    try:
        vet(host, port, allowed)
    except (socket.gaierror, UnicodeError):
        return
