"""Outbound URL safety: replies reach public addresses only, checked when a channel's URL is
saved (400 on the field) and again on every connection, against the address actually dialled.

The loopback cases point at the local provider server, which would answer if the connection
were made: a refused request is one it never records.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import ipaddress
import ssl
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import trustme

from routing_service.chats.models import Channel, DeliveryStatus, Message
from routing_service.outbound import destinations
from routing_service.outbound.clients import (
    CLIENTS,
    ConfigurationError,
    OutboundMessage,
    RetryableError,
    deliver,
)
from routing_service.outbound.clients.base import PreparedRequest, execute, http_client
from routing_service.outbound.destinations import HostPort, refusal
from routing_service.outbound.tasks import QUEUE
from routing_service.outbound.transport import GuardedTransport
from routing_service.tenancy.models import Role, User
from tests.outbound.conftest import SECRET, Chat
from tests.support.fixtures import RunningWorker
from tests.support.provider_server import ProviderServer

PUBLIC_IP = "93.184.215.14"


@pytest.fixture
def nothing_allowed(settings: Any) -> None:
    """No exception: even the provider server's 127.0.0.1 is out of bounds."""
    settings.OUTBOUND_ALLOWED_HOSTS = []


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """Names answered from this dict (then the system's), as `destinations.resolve` sees them.

    A value is a list of answers consumed in turn (the last one repeats): a name can resolve to
    one address when a URL is saved and to another when it is used.
    """
    answers: dict[str, list[str]] = {}
    system = destinations.system_resolver

    def resolve(host: str, port: int) -> list[destinations.IPAddress]:
        if host not in answers:
            return system(host, port)
        queue = answers[host]
        value = queue.pop(0) if len(queue) > 1 else queue[0]
        return [ipaddress.ip_address(value)]

    monkeypatch.setattr(destinations, "resolve", resolve)
    return answers


def message_to(url: str) -> OutboundMessage:
    return OutboundMessage(
        message_id=7,
        conversation_id=3,
        provider="generic",
        text="hello",
        sent_at=dt.datetime(2025, 3, 14, tzinfo=dt.UTC),
        agent_id=None,
        agent_name="",
        client_external_id="c-1",
        secret=SECRET,
        config={"callback_url": url},
    )


# --- the rules -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "a loopback address"),
        ("127.8.9.10", "a loopback address"),
        ("::1", "a loopback address"),
        ("0.0.0.0", "an unspecified address"),  # noqa: S104
        ("::", "an unspecified address"),
        ("10.0.0.1", "a private address"),
        ("172.16.5.4", "a private address"),
        ("192.168.1.1", "a private address"),
        ("fc00::1", "a private address"),
        ("fd12:3456::1", "a private address"),
        ("169.254.169.254", "a link-local address"),
        ("fe80::1", "a link-local address"),
        ("224.0.0.1", "a multicast address"),
        ("ff02::1", "a multicast address"),
        ("240.0.0.1", "a private address"),  # 240/4 is reserved; Python lists it as private
        ("100.64.0.1", "not a public address"),  # carrier-grade NAT
        ("fec0::1", "a site-local address"),
        ("::ffff:127.0.0.1", "a loopback address (IPv4-mapped)"),
        ("::ffff:169.254.169.254", "a link-local address (IPv4-mapped)"),
        ("64:ff9b::7f00:1", "a loopback address (NAT64)"),
        ("64:ff9b::a00:1", "a private address (NAT64)"),
        ("64:ff9b:1::1", "a local-use NAT64 address"),
        ("2002:7f00:1::1", "a loopback address (6to4)"),
    ],
)
def test_every_non_public_address_class_is_refused(address: str, reason: str) -> None:
    assert refusal(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize(
    "address", [PUBLIC_IP, "1.1.1.1", "2606:4700:4700::1111", "::ffff:1.1.1.1", "64:ff9b::101:101"]
)
def test_public_addresses_pass_also_when_embedded_in_ipv6(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("2130706433", "127.0.0.1"),  # decimal
        ("0177.0.0.1", "127.0.0.1"),  # octal
        ("0x7f.1", "127.0.0.1"),  # hex, short form
        ("127.1", "127.0.0.1"),
        ("[::ffff:7f00:1]", "::ffff:7f00:1"),
        ("example.com", None),
        ("1.2.3.example", None),
    ],
)
def test_numeric_host_forms_the_c_resolver_accepts_are_addresses(
    host: str, expected: str | None
) -> None:
    literal = destinations.literal_address(host)
    assert (str(literal) if literal else None) == expected


def test_allowed_hosts_are_hosts_or_host_ports() -> None:
    allowed = destinations.parse_allowed_hosts(
        ["Provider.Internal", "10.0.0.5:8443", "[::1]:9000", " ", "[0:0::2]"]
    )
    assert allowed == {
        HostPort("provider.internal"),
        HostPort("10.0.0.5", 8443),
        HostPort("::1", 9000),
        HostPort("::2"),
    }
    assert destinations.is_allowed("provider.internal.", 1, allowed)
    assert destinations.is_allowed("10.0.0.5", 8443, allowed)
    assert not destinations.is_allowed("10.0.0.5", 443, allowed)
    for bad in ("http://x", "host:port", "a:1:2", "[::1]x", "x:70000", "us er"):
        with pytest.raises(ValueError, match="host"):
            destinations.parse_allowed_hosts([bad])


def test_a_bad_allowed_hosts_setting_stops_the_process() -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "OUTBOUND_ALLOWED_HOSTS": "127.0.0.1,http://evil/"}
    result = subprocess.run(
        [sys.executable, "-c", "import routing_service.settings"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured: OUTBOUND_ALLOWED_HOSTS: not a host or host:port" in (
        result.stderr
    )


# --- at connect time -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("127.0.0.1", "a loopback address"),
        ("localhost", "a loopback address"),
        ("[::ffff:127.0.0.1]", "a loopback address (IPv4-mapped)"),
        ("[64:ff9b::7f00:1]", "a loopback address (NAT64)"),
        ("0.0.0.0", "an unspecified address"),  # noqa: S104
        # httpx passes it on as a name; getaddrinfo would dial 127.0.0.1.
        ("2130706433", "a loopback address"),
        ("[::1]", "a loopback address"),
        ("10.0.0.1", "a private address"),
        ("169.254.169.254", "a link-local address"),
        ("224.0.0.1", "a multicast address"),
        ("[fe80::1]", "a link-local address"),
    ],
)
def test_connect_time_refuses_each_address_class_without_dialling(
    host: str, reason: str, provider_server: ProviderServer, nothing_allowed: None
) -> None:
    url = f"http://{host}:{provider_server.port}/hooks"
    with pytest.raises(ConfigurationError) as refused:
        deliver(CLIENTS["generic"], message_to(url))

    assert str(refused.value).startswith("Refused to connect to ")
    assert reason in str(refused.value)
    assert provider_server.requests == []


def test_an_octal_address_is_an_invalid_url_for_the_sender(
    provider_server: ProviderServer, nothing_allowed: None
) -> None:
    with pytest.raises(ConfigurationError, match="Invalid provider URL"):
        deliver(CLIENTS["generic"], message_to(f"http://0177.0.0.1:{provider_server.port}/"))
    assert provider_server.requests == []


def test_a_listed_host_is_reached_on_its_loopback_address(
    provider_server: ProviderServer, settings: Any
) -> None:
    settings.OUTBOUND_ALLOWED_HOSTS = [f"127.0.0.1:{provider_server.port}"]

    result = deliver(CLIENTS["generic"], message_to(f"{provider_server.url}/hooks"))

    assert result.status_code == 200
    assert len(provider_server.requests) == 1


def test_a_listed_port_does_not_open_the_host_s_other_ports(
    provider_server: ProviderServer, settings: Any
) -> None:
    settings.OUTBOUND_ALLOWED_HOSTS = [f"127.0.0.1:{provider_server.port + 1}"]
    with pytest.raises(ConfigurationError, match="Refused"):
        deliver(CLIENTS["generic"], message_to(f"{provider_server.url}/hooks"))


def test_the_connection_goes_to_the_checked_address_with_the_url_s_host_header(
    provider_server: ProviderServer, settings: Any, fake_dns: dict[str, list[str]]
) -> None:
    settings.OUTBOUND_ALLOWED_HOSTS = ["provider.example"]
    fake_dns["provider.example"] = ["127.0.0.1"]

    deliver(CLIENTS["generic"], message_to(f"http://provider.example:{provider_server.port}/h"))

    (request,) = provider_server.requests
    assert request.header("host") == f"provider.example:{provider_server.port}"


def test_every_resolved_address_must_be_public(
    monkeypatch: pytest.MonkeyPatch, provider_server: ProviderServer, nothing_allowed: None
) -> None:
    def two_answers(host: str, port: int) -> list[destinations.IPAddress]:
        return [ipaddress.ip_address(PUBLIC_IP), ipaddress.ip_address("127.0.0.1")]

    monkeypatch.setattr(destinations, "resolve", two_answers)
    with pytest.raises(ConfigurationError, match=r"mixed\.example: a loopback address"):
        deliver(CLIENTS["generic"], message_to(f"http://mixed.example:{provider_server.port}/"))
    assert provider_server.requests == []


def test_proxy_variables_do_not_route_around_the_check(
    monkeypatch: pytest.MonkeyPatch, provider_server: ProviderServer, nothing_allowed: None
) -> None:
    # A proxy on loopback that would fetch anything for us: it must not be used at all.
    monkeypatch.setenv("HTTP_PROXY", provider_server.url)
    monkeypatch.setenv("ALL_PROXY", provider_server.url)
    client = httpx.Client(transport=GuardedTransport(), follow_redirects=False)
    request = PreparedRequest(
        method="POST", url=f"http://10.1.2.3:{provider_server.port}/", headers={}, body=b"{}"
    )
    with pytest.raises(ConfigurationError, match="a private address"):
        execute(client, request)
    assert provider_server.requests == []


def test_a_redirect_to_an_internal_address_is_not_followed(
    provider_server: ProviderServer, settings: Any
) -> None:
    settings.OUTBOUND_ALLOWED_HOSTS = [f"127.0.0.1:{provider_server.port}"]
    from tests.support.provider_server import Reply

    provider_server.respond_with(
        lambda r: (
            Reply(307, b"", {"Location": "http://169.254.169.254/latest/meta-data/"})
            if r.route == "/hooks"
            else Reply(200, {"ok": True})
        )
    )
    with pytest.raises(Exception, match="a redirect"):
        deliver(CLIENTS["generic"], message_to(f"{provider_server.url}/hooks"))
    assert [r.route for r in provider_server.requests] == ["/hooks"]


# --- TLS: the pinned connection still checks the certificate against the host name ------------


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_server(ca: trustme.CA) -> Iterator[tuple[ProviderServer, list[str | None]]]:
    """An HTTPS provider for "provider.example" on 127.0.0.1, recording the SNI it was sent."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("provider.example").configure_cert(context)
    names: list[str | None] = []

    def record(_sock: Any, name: str | None, _context: Any) -> None:
        names.append(name)

    context.sni_callback = record
    with ProviderServer(ssl_context=context) as server:
        yield server, names


def tls_client(ca: trustme.CA) -> httpx.Client:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return httpx.Client(transport=GuardedTransport(verify=context), follow_redirects=False)


def test_tls_sends_the_host_name_as_sni_and_verifies_its_certificate(
    ca: trustme.CA,
    tls_server: tuple[ProviderServer, list[str | None]],
    settings: Any,
    fake_dns: dict[str, list[str]],
) -> None:
    server, names = tls_server
    settings.OUTBOUND_ALLOWED_HOSTS = ["provider.example", "other.example"]
    fake_dns["provider.example"] = ["127.0.0.1"]
    fake_dns["other.example"] = ["127.0.0.1"]
    url = f"https://provider.example:{server.port}/hooks"

    result = deliver(CLIENTS["generic"], message_to(url), http=tls_client(ca))

    assert result.status_code == 200
    assert names == ["provider.example"]
    assert server.requests[0].header("host") == f"provider.example:{server.port}"
    # Same address, another name: the certificate does not match, nothing is sent.
    with pytest.raises(RetryableError, match="TLS certificate not valid for the host"):
        deliver(
            CLIENTS["generic"],
            message_to(f"https://other.example:{server.port}/hooks"),
            http=tls_client(ca),
        )
    assert len(server.requests) == 1


# --- at write time: the channels API -------------------------------------------------------------

GENERIC = {"name": "Widget", "provider": "generic", "secret": SECRET}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("provider", "key", "url", "message"),
    [
        ("generic", "callback_url", "http://127.0.0.1:6379/", "a loopback address"),
        ("generic", "callback_url", "http://169.254.169.254/latest/", "a link-local address"),
        ("generic", "callback_url", "http://[::1]:5432/", "a loopback address"),
        ("generic", "callback_url", "http://10.0.0.1/hook", "a private address"),
        ("generic", "callback_url", "http://[::ffff:127.0.0.1]/", "(IPv4-mapped)"),
        ("generic", "callback_url", "http://[64:ff9b::a9fe:a9fe]/", "(NAT64)"),
        ("generic", "callback_url", "http://0.0.0.0:8000/", "an unspecified address"),
        ("generic", "callback_url", "http://localhost:8000/", "a loopback address"),
        ("generic", "api_base_url", "http://192.168.0.10/", "a private address"),
        ("telegram", "api_base_url", "http://[fd00::1]:8080", "a private address"),
        ("generic", "callback_url", "http://2130706433/", "Enter a valid URL."),
        ("generic", "callback_url", "http://0177.0.0.1/", "Enter a valid URL."),
    ],
)
def test_saving_a_non_public_url_is_a_400_on_the_field(
    api: Callable[[User | None], Any],
    admin_a: User,
    nothing_allowed: None,
    provider: str,
    key: str,
    url: str,
    message: str,
) -> None:
    config: dict[str, Any] = {key: url}
    payload: dict[str, Any] = {**GENERIC, "provider": provider, "config": config}
    if provider == "telegram":
        payload |= {"secret": "tg-secret", "config": {**config, "bot_token": "1:A"}}

    response = api(admin_a).post("/api/v1/channels/", payload, format="json")

    assert response.status_code == 400, response.json()
    (error,) = response.json()["config"][key]
    assert message in error
    assert not Channel.objects.unscoped().exists()


@pytest.mark.django_db
def test_updating_a_channel_to_an_internal_url_is_refused(
    api: Callable[[User | None], Any], admin_a: User, nothing_allowed: None
) -> None:
    created = api(admin_a).post(
        "/api/v1/channels/",
        {**GENERIC, "config": {"callback_url": f"http://{PUBLIC_IP}/hook"}},
        format="json",
    )
    assert created.status_code == 201, created.json()

    response = api(admin_a).patch(
        f"/api/v1/channels/{created.json()['id']}/",
        {"config": {"callback_url": "http://169.254.169.254/latest/meta-data/"}},
        format="json",
    )

    assert response.status_code == 400
    assert "callback_url" in response.json()["config"]
    channel = Channel.objects.unscoped().get(pk=created.json()["id"])
    assert channel.config["callback_url"] == f"http://{PUBLIC_IP}/hook"


@pytest.mark.django_db
def test_a_name_resolving_to_a_private_address_is_refused_when_saved(
    api: Callable[[User | None], Any],
    admin_a: User,
    nothing_allowed: None,
    fake_dns: dict[str, list[str]],
) -> None:
    fake_dns["intranet.example"] = ["10.20.30.40"]
    response = api(admin_a).post(
        "/api/v1/channels/",
        {**GENERIC, "config": {"callback_url": "https://intranet.example/hook"}},
        format="json",
    )
    assert response.status_code == 400
    assert "intranet.example" in response.json()["config"]["callback_url"][0]


@pytest.mark.django_db
def test_a_listed_host_may_be_saved(
    api: Callable[[User | None], Any], admin_a: User, settings: Any
) -> None:
    settings.OUTBOUND_ALLOWED_HOSTS = ["10.0.0.7:8080"]
    response = api(admin_a).post(
        "/api/v1/channels/",
        {**GENERIC, "config": {"callback_url": "http://10.0.0.7:8080/hook"}},
        format="json",
    )
    assert response.status_code == 201, response.json()


# --- DNS rebinding, end to end ----------------------------------------------------------------


def test_dns_rebinding_is_refused_when_the_reply_is_sent(
    api: Callable[[User | None], Any],
    make_chat: Callable[..., Chat],
    make_user: Callable[..., User],
    provider_server: ProviderServer,
    dramatiq_worker: RunningWorker,
    nothing_allowed: None,
    fake_dns: dict[str, list[str]],
) -> None:
    """The name is public when the admin saves it, loopback when the worker connects."""
    fake_dns["rebind.example"] = [PUBLIC_IP, "127.0.0.1"]
    url = f"http://rebind.example:{provider_server.port}/hooks"
    chat = make_chat("generic", {"callback_url": f"http://{PUBLIC_IP}/placeholder"})
    admin = make_user(chat.company, Role.COMPANY_ADMIN)
    saved = api(admin).patch(
        f"/api/v1/channels/{chat.channel.pk}/", {"config": {"callback_url": url}}, format="json"
    )
    assert saved.status_code == 200, saved.json()

    reply = chat.reply()
    dramatiq_worker.join(QUEUE)

    message = Message.objects.unscoped().get(pk=reply.pk)
    assert provider_server.requests == []
    assert message.delivery_status == DeliveryStatus.FAILED
    assert message.delivery_error == (
        "Refused to connect to rebind.example: a loopback address "
        "(outbound calls reach public addresses only)."
    )


# --- what comes back from a refused or failed call ---------------------------------------------


SECRETS_IN_BODY = "redis_version:7.0.15\r\nrole:master\r\nroot:x:0:0:root:/root:/bin/bash"


@pytest.mark.parametrize("provider", ["generic", "twilio", "whatsapp", "telegram"])
@pytest.mark.parametrize("status", [400, 401, 404, 500, 503])
def test_no_part_of_an_error_body_is_kept(
    provider: str, status: int, provider_server: ProviderServer
) -> None:
    bodies: list[Any] = [
        SECRETS_IN_BODY,
        {"error": SECRETS_IN_BODY, "message": SECRETS_IN_BODY, "detail": SECRETS_IN_BODY},
        {"code": 21211, "message": SECRETS_IN_BODY, "more_info": SECRETS_IN_BODY},
        {"error": {"message": SECRETS_IN_BODY, "code": 131047, "error_data": {"details": "x"}}},
        {"ok": False, "description": SECRETS_IN_BODY},
    ]
    config = {
        "generic": {"callback_url": f"{provider_server.url}/h"},
        "twilio": {"api_base_url": provider_server.url, "account_sid": "AC1", "from_number": "+1"},
        "whatsapp": {
            "api_base_url": provider_server.url,
            "phone_number_id": "1",
            "access_token": "EAAG-token-0123",
        },
        "telegram": {"api_base_url": provider_server.url, "bot_token": "1:A"},
    }[provider]
    external = {"generic": "c-1", "twilio": "twilio:+1", "whatsapp": "whatsapp:1"}.get(
        provider, "telegram:1"
    )
    message = dataclasses.replace(
        message_to(""), provider=provider, config=config, client_external_id=external
    )
    for body in bodies:
        provider_server.fail_next(1, status=status, body=body)
        with pytest.raises(Exception) as failed:
            deliver(CLIENTS[provider], message, http=http_client())
        text = str(failed.value)
        assert text.startswith(f"{provider} answered HTTP {status}: ")
        for fragment in ("redis_version", "root:x", "master", "bin/bash"):
            assert fragment not in text


def test_an_unreachable_port_is_described_not_quoted(provider_server: ProviderServer) -> None:
    with ProviderServer() as gone:
        url = f"{gone.url}/h"
    with pytest.raises(RetryableError) as failed:
        deliver(CLIENTS["generic"], message_to(url))
    assert str(failed.value) == "Connection failed (connection refused)."
