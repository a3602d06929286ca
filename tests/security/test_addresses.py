"""The client address behind proxies, and address lists: pure functions of META and settings."""

from __future__ import annotations

import ipaddress

import pytest
from django.core.exceptions import ImproperlyConfigured

from routing_service.security.addresses import client_ip, in_networks, parse_networks
from routing_service.security.login_throttle import address_bucket


@pytest.mark.parametrize(
    ("meta", "proxies", "expected"),
    [
        ({"REMOTE_ADDR": "203.0.113.5"}, 0, "203.0.113.5"),
        # No proxy trusted: the header is the client's own writing.
        ({"REMOTE_ADDR": "203.0.113.5", "HTTP_X_FORWARDED_FOR": "1.1.1.1"}, 0, "203.0.113.5"),
        # nginx appended what it saw; the forged entry in front is ignored.
        (
            {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "1.1.1.1, 203.0.113.5"},
            1,
            "203.0.113.5",
        ),
        # A load balancer, then nginx: the balancer's entry is the client.
        (
            {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "6.6.6.6, 203.0.113.5, 10.0.0.9"},
            2,
            "203.0.113.5",
        ),
        # Fewer entries than trusted proxies: not through them all, the header is not believed.
        ({"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "6.6.6.6"}, 2, "10.0.0.2"),
        ({"REMOTE_ADDR": "10.0.0.2"}, 1, "10.0.0.2"),
        (
            {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": " 203.0.113.5:4711 "},
            1,
            "203.0.113.5",
        ),
        (
            {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "[2001:db8::1]:443"},
            1,
            "2001:db8::1",
        ),
        ({"REMOTE_ADDR": "::ffff:192.0.2.1"}, 0, "192.0.2.1"),
        ({"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "not-an-address"}, 1, None),
        ({}, 0, None),
    ],
)
def test_client_ip(meta: dict[str, str], proxies: int, expected: str | None) -> None:
    found = client_ip(meta, proxies)
    assert (str(found) if found is not None else None) == expected


def test_ipv6_clients_are_bucketed_per_64_and_ipv4_per_address() -> None:
    assert address_bucket(ipaddress.ip_address("2001:db8:1:2::10")) == "2001:db8:1:2::/64"
    assert address_bucket(ipaddress.ip_address("2001:db8:1:2:ff::1")) == "2001:db8:1:2::/64"
    assert address_bucket(ipaddress.ip_address("192.0.2.1")) == "192.0.2.1"
    assert address_bucket(None) == "unknown"


def test_networks_match_addresses_of_their_family_only() -> None:
    networks = parse_networks("X", ["10.0.0.0/8", "::1", "192.0.2.7"])
    assert in_networks(ipaddress.ip_address("10.1.2.3"), networks)
    assert in_networks(ipaddress.ip_address("::1"), networks)
    assert in_networks(ipaddress.ip_address("192.0.2.7"), networks)
    assert not in_networks(ipaddress.ip_address("192.0.2.8"), networks)
    assert not in_networks(None, networks)


def test_a_bad_network_names_the_setting() -> None:
    with pytest.raises(ImproperlyConfigured, match=r"METRICS_ALLOWED_IPS: '10\.0\.0\.300'"):
        parse_networks("METRICS_ALLOWED_IPS", ["10.0.0.300"])
