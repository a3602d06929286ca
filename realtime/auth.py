"""⑤ Who may open a socket: query string, origin, credentials (session or ticket), company.

What keeps an open socket honest afterwards (its user's credentials changing) is
realtime/revocation.py.

Every refusal raises `protocol.Refused` with the close code the client will see; the consumer
accepts the handshake first so that the code reaches the browser (a refused handshake is only
an HTTP 403, which browsers report as 1006 with no reason).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.contrib import auth
from django.http.cookie import parse_cookie
from django.http.request import split_domain_port, validate_host
from django.utils.http import is_same_domain

from realtime.batching import Coalescer
from realtime.db import in_thread
from realtime.protocol import CloseCode, Refused
from realtime.tickets import aredeem_ticket
from routing_service.tenancy.models import Company, User


@dataclass(frozen=True)
class Query:
    ticket: str | None = None
    last_seq: int | None = None
    company_id: int | None = None


def _single(values: dict[str, list[str]], name: str) -> str | None:
    found = values.get(name)
    if not found:
        return None
    if len(found) > 1:
        raise Refused(CloseCode.BAD_REQUEST, f"?{name} given twice")
    return found[0]


def _non_negative(raw: str | None, name: str) -> int | None:
    if raw is None:
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise Refused(CloseCode.BAD_REQUEST, f"?{name} must be a non-negative integer")
    return int(raw)


def parse_query(scope: dict[str, Any]) -> Query:
    raw = scope.get("query_string", b"")
    text = raw.decode("latin-1") if isinstance(raw, bytes) else str(raw)
    values = parse_qs(text, keep_blank_values=True)
    company_id = _non_negative(_single(values, "company"), "company")
    return Query(
        ticket=_single(values, "ticket"),
        last_seq=_non_negative(_single(values, "last_seq"), "last_seq"),
        company_id=company_id,
    )


def header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def _origin(value: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of a serialized origin, the default port filled in; None when it
    is not an http(s) origin (`null`, `file://`, a path, a bad port)."""
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    if parts.path not in {"", "/"} or parts.query or parts.fragment or "@" in parts.netloc:
        return None
    return parts.scheme, parts.hostname, port or _DEFAULT_PORTS[parts.scheme]


_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_allowed(origin: str | None, site: str | None) -> bool:
    """Whether a page of `origin` may open this socket: as Django's CSRF origin check, the
    site's own origin (`site`: scheme, host and port) or one of CSRF_TRUSTED_ORIGINS, with its
    `https://*.example.com` wildcards. Same host on another port or scheme is another site.

    Browsers always send Origin on a websocket handshake, so a cross-site page cannot hide it;
    a missing Origin is a non-browser client (an integration, a test), which carries its own
    credentials and is allowed.
    """
    if origin is None:
        return True
    wanted = _origin(origin)
    if wanted is None:
        return False
    if site is not None and wanted == _origin(site):
        return True
    netloc = urlsplit(origin).netloc.lower()
    for trusted in settings.CSRF_TRUSTED_ORIGINS:
        parts = urlsplit(trusted)
        if parts.scheme != wanted[0]:
            continue
        if parts.netloc.startswith("*."):
            if is_same_domain(netloc, parts.netloc[1:].lower()):
                return True
        elif _origin(trusted) == wanted:
            return True
    return False


def site_origin(scope: dict[str, Any]) -> str | None:
    """The origin of the site the socket was opened on, built from the handshake as Django
    builds it for its CSRF check (`request.get_host()`, `request.is_secure()`: the Host header,
    or X-Forwarded-Host with USE_X_FORWARDED_HOST; the scheme, or SECURE_PROXY_SSL_HEADER).
    None when that host is not in ALLOWED_HOSTS: then only trusted origins are allowed."""
    host = None
    if settings.USE_X_FORWARDED_HOST:
        host = header(scope, b"x-forwarded-host")
    host = host or header(scope, b"host")
    if not host and scope.get("server"):
        server_host, server_port = scope["server"][0], scope["server"][1]
        host = f"{server_host}:{server_port}" if server_port else str(server_host)
    if not host:
        return None
    domain, _ = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return None
    secure = scope.get("scheme", "ws") in {"wss", "https"}
    if settings.SECURE_PROXY_SSL_HEADER:
        meta_name, secure_value = settings.SECURE_PROXY_SSL_HEADER
        proxied = header(scope, meta_name.removeprefix("HTTP_").lower().replace("_", "-").encode())
        if proxied is not None:
            secure = proxied.split(",", 1)[0].strip() == secure_value
    return f"{'https' if secure else 'http'}://{host}"


def _load_user(user_id: int) -> User | None:
    return User.objects.select_related("company").filter(pk=user_id).first()


def _load_users(user_ids: list[int]) -> list[User | None]:
    """The users (with their company) of many sockets: one query for a storm's worth."""
    found = User.objects.select_related("company").in_bulk(set(user_ids))
    return [found.get(user_id) for user_id in user_ids]


_ticket_users: Coalescer[int, User | None] = Coalescer(in_thread(_load_users))


def _load_company(company_id: int) -> Company | None:
    return Company.objects.filter(pk=company_id).first()


def _session_user(session_key: str) -> User | None:
    """The user logged in under this session, checked as Django's own middleware does
    (backend, session auth hash: a password change or logout ends it)."""
    engine = import_module(settings.SESSION_ENGINE)
    request = SimpleNamespace(session=engine.SessionStore(session_key))
    user = auth.get_user(request)  # type: ignore[arg-type]  # reads `.session` only
    if not isinstance(user, User):
        return None
    return _load_user(user.pk)


async def authenticate(scope: dict[str, Any], query: Query) -> User:
    """The user behind the ticket (when one is given) or the session cookie.

    The session is read here, after the handshake was accepted and on the shared thread pool,
    rather than by channels' AuthMiddlewareStack, which reads it before accepting and on one
    thread per process: under a reconnect storm of browsers that single thread decides how
    fast handshakes complete (and they time out after 5 s).
    """
    user: User | None
    if query.ticket is not None:
        redeemed = await aredeem_ticket(query.ticket)
        if redeemed is None:
            raise Refused(CloseCode.UNAUTHENTICATED, "bad, expired or already used ticket")
        user = await _ticket_users(redeemed.user_id)
        if user is not None and user.credentials_version != redeemed.credentials_version:
            # Issued before a password, role or company change (or a revocation).
            raise Refused(CloseCode.UNAUTHENTICATED, "ticket issued under older credentials")
    else:
        cookies = parse_cookie(header(scope, b"cookie") or "")
        session_key = cookies.get(settings.SESSION_COOKIE_NAME)
        if not session_key:
            raise Refused(CloseCode.UNAUTHENTICATED, "log in or present a ?ticket=")
        user = await in_thread(_session_user)(session_key)
    if user is None or not user.is_active:
        raise Refused(CloseCode.UNAUTHENTICATED, "unknown or inactive user, or session ended")
    return user


async def company_for(user: User, query: Query) -> Company:
    """The company a socket watches: the user's own; a superadmin names one with ?company=."""
    if user.is_superadmin:
        if query.company_id is None:
            raise Refused(CloseCode.BAD_REQUEST, "a superadmin names the company: ?company=<id>")
        company = await in_thread(_load_company)(query.company_id)
        if company is None:
            raise Refused(CloseCode.NOT_FOUND, "no such company")
        return company
    company = user.company
    if company is None:
        raise Refused(CloseCode.FORBIDDEN, "not a member of a company")
    if query.company_id is not None and query.company_id != company.pk:
        raise Refused(CloseCode.FORBIDDEN, "another company")
    if not company.is_active:
        raise Refused(CloseCode.FORBIDDEN, "the company is inactive")
    return company
