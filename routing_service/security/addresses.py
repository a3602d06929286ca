"""The address a request comes from, and address lists from settings.

Behind nginx every request reaches the web process from nginx, and the client's address is in
`X-Forwarded-For`, which nginx *appends* to (`$proxy_add_x_forwarded_for`): whatever the client
wrote there itself comes first, the address nginx saw last. So the client is the entry that the
outermost trusted proxy appended — the `TRUSTED_PROXY_COUNT`-th from the right — and never the
leftmost, which anyone can forge. With `TRUSTED_PROXY_COUNT=0` (the default: no proxy) the
header is ignored and the peer address is the client.

Why not the ASGI server's own proxy-header handling alone: uvicorn trusting any peer
(`FORWARDED_ALLOW_IPS=*`) and daphne's `--proxy-headers` both take the *leftmost* entry as
REMOTE_ADDR, which a client chooses. Counting hops from the right gives the same answer behind a
correctly configured server and a safe one behind a permissive one.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

UNKNOWN = "unknown"


def parse_address(value: str) -> IPAddress | None:
    """An IP address from a header or REMOTE_ADDR value (IPv4-mapped IPv6 unwrapped)."""
    text = value.strip()
    if text.startswith("[") and "]" in text:  # "[::1]:port" from some proxies
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "1.2.3.4:port"
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def client_ip(meta: Mapping[str, Any], trusted_proxies: int) -> IPAddress | None:
    """The client's address from a request's META, `trusted_proxies` proxies in front."""
    if trusted_proxies > 0:
        header = str(meta.get("HTTP_X_FORWARDED_FOR", ""))
        hops = [part.strip() for part in header.split(",") if part.strip()]
        # Fewer entries than trusted proxies: the request did not come through all of them (a
        # direct hit on the web port), so nothing in the header can be believed.
        if len(hops) >= trusted_proxies:
            return parse_address(hops[-trusted_proxies])
    return parse_address(str(meta.get("REMOTE_ADDR", "")))


def client_address(request: Any) -> IPAddress | None:
    """`client_ip` of a Django (or DRF) request with the `TRUSTED_PROXY_COUNT` setting."""
    return client_ip(request.META, int(getattr(settings, "TRUSTED_PROXY_COUNT", 0)))


def parse_networks(name: str, values: Iterable[str]) -> tuple[IPNetwork, ...]:
    """Addresses or CIDR networks from a setting; ImproperlyConfigured names the bad entry."""
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ImproperlyConfigured(
                f"{name}: {value!r} is not an IP address or network (CIDR)"
            ) from None
    return tuple(networks)


def in_networks(address: IPAddress | None, networks: Iterable[IPNetwork]) -> bool:
    return address is not None and any(address in network for network in networks)
