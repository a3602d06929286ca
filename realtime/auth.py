"""⑤ Who may open a socket: query string, origin, credentials (session or ticket), company.

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
from django.http.request import validate_host
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


def origin_allowed(origin: str | None) -> bool:
    """Browsers always send Origin on a websocket handshake, so a cross-site page cannot hide
    it; a missing Origin is a non-browser client (an integration, a test), which carries its
    own credentials and is allowed. A present Origin must be one of CSRF_TRUSTED_ORIGINS
    (wildcards like Django's CSRF check) or name a host in ALLOWED_HOSTS."""
    if origin is None:
        return True
    try:
        parsed = urlsplit(origin)
        parsed.port  # noqa: B018 -- raises ValueError for a malformed port
    except ValueError:
        return False
    if parsed.scheme not in {"http", "https"} or not parsed.hostname:
        return False
    netloc = parsed.netloc.lower()
    for trusted in settings.CSRF_TRUSTED_ORIGINS:
        wanted = urlsplit(trusted)
        if wanted.scheme != parsed.scheme:
            continue
        if wanted.netloc.startswith("*."):
            if is_same_domain(netloc, wanted.netloc[1:].lower()):
                return True
        elif wanted.netloc.lower() == netloc:
            return True
    host = parsed.hostname
    if ":" in host:  # IPv6 literal: ALLOWED_HOSTS spells it in brackets
        host = f"[{host}]"
    return validate_host(host, settings.ALLOWED_HOSTS)


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
        user_id = await aredeem_ticket(query.ticket)
        if user_id is None:
            raise Refused(CloseCode.UNAUTHENTICATED, "bad, expired or already used ticket")
        user = await _ticket_users(user_id)
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
