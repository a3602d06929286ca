"""Writes to companies and staff: the one place views, commands and tests create them."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.text import slugify
from rest_framework.authtoken.models import Token

from routing_service.chats.actions.agents import set_agent_status
from routing_service.chats.models import RoutingPolicy
from routing_service.i18n.zones import is_time_zone
from routing_service.tenancy import sockets
from routing_service.tenancy.models import AgentStatus, Company, Role, Theme, User


@transaction.atomic
def create_company(name: str, slug: str | None = None, time_zone: str = "UTC") -> Company:
    """A company with its default routing policy and default queue (every company has exactly
    one of each)."""
    from routing_service.queues.actions import ensure_default_queue

    if not is_time_zone(time_zone):
        raise ValueError(f"unknown time zone {time_zone!r}")
    company = Company.objects.create(name=name, slug=slug or slugify(name), time_zone=time_zone)
    RoutingPolicy.objects.create(company=company)
    ensure_default_queue(company.pk)
    return company


def create_user(
    *,
    username: str,
    password: str | None,
    role: str,
    company: Company | None,
    email: str = "",
    first_name: str = "",
    last_name: str = "",
    max_chats: int = 3,
    skills: Iterable[str] = (),
    languages: Iterable[str] = (),
    status: str = AgentStatus.OFFLINE,
    **extra: Any,
) -> User:
    if role not in Role.values:
        raise ValueError(f"unknown role {role!r}")
    user = User(
        username=username,
        email=email,
        first_name=first_name,
        last_name=last_name,
        role=role,
        company=company if role != Role.SUPERADMIN else None,
        max_chats=max_chats,
        skills=normalise_tags(skills),
        languages=normalise_tags(languages),
        status=status,
        **extra,
    )
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    with transaction.atomic():
        user.save()
        _sync_queues(user)
    return user


def _sync_queues(user: User) -> None:
    """An agent or supervisor joins their company's default queue; a move or a role that
    takes no chats leaves the queues (routing_service/queues)."""
    from routing_service.queues.actions import sync_user_queues

    sync_user_queues(user)


def normalise_tags(values: Iterable[str]) -> list[str]:
    """Skills and languages compare case-insensitively: store them lower-cased, unique, sorted."""
    return sorted({v.strip().lower() for v in values if v and v.strip()})


_USER_FIELDS = frozenset(
    {
        "username",
        "email",
        "first_name",
        "last_name",
        "role",
        "company",
        "max_chats",
        "skills",
        "languages",
        "is_active",
        "language",
        "time_zone",
    }
)


@transaction.atomic
def update_user(user: User, *, password: str | None = None, **changes: Any) -> User:
    """Change a staff member's profile, role or company; `password` (if given) is re-hashed.

    A change of what the user's credentials vouch for — password, role, company, deactivation
    — revokes them (`_revoke`): their open sockets close, their websocket tickets die, and for
    a password or a deactivation their API tokens too. A deactivated user also goes offline
    first, so the router stops offering them chats and their pending offers move on.

    Only the given fields are written: the row's routing counters (`active_chats`, `status`)
    belong to the routing actions, and `user` may be an older copy of it.
    """
    unknown = set(changes) - _USER_FIELDS
    if unknown:
        raise TypeError(f"unknown user fields: {sorted(unknown)}")
    if "role" in changes and changes["role"] not in Role.values:
        raise ValueError(f"unknown role {changes['role']!r}")
    _check_locale(changes)
    for tags in ("skills", "languages"):
        if tags in changes:
            changes[tags] = normalise_tags(changes[tags])
    deactivating = changes.get("is_active") is False
    if deactivating:
        _take_offline(user)
    stored = _lock_user(user.pk)
    credentials_changed = bool(password) or (
        (deactivating and stored.is_active)
        or ("role" in changes and changes["role"] != stored.role)
        or ("company" in changes and _pk(changes["company"]) != stored.company_id)
    )
    for field, value in changes.items():
        setattr(user, field, value)
    fields = set(changes)
    if "role" in changes:
        fields |= {"is_staff", "is_superuser", "company"}  # derived from the role in save()
    if password:
        user.set_password(password)
        fields.add("password")
    if credentials_changed:
        _revoke(user, stored, fields, rotate_tokens=bool(password) or deactivating)
    else:
        user.save(update_fields=sorted(fields))
    if user.role != stored.role or user.company_id != stored.company_id:
        _sync_queues(user)
    return user


@transaction.atomic
def deactivate_user(user: User) -> User:
    """Stop a user from signing in or taking chats, keeping their history (assignments,
    messages and audit events point at them, so they are never deleted)."""
    return update_user(user, is_active=False)


@transaction.atomic
def change_password(user: User, raw_password: str | None) -> User:
    """Set the user's password (None: an unusable one) and revoke everything issued under the
    old one: API tokens, websocket tickets, open sockets. Django sessions end by themselves
    (their hash covers the password); a view that keeps the caller's own session calls
    `update_session_auth_hash` afterwards, as Django's password views do.

    Every way of changing a password comes here: the REST API (through `update_user`), the
    admin's forms and Django's password views (tenancy.forms), `manage.py changepassword`.
    """
    stored = _lock_user(user.pk)
    if raw_password is None:
        user.set_unusable_password()
    else:
        user.set_password(raw_password)
    _revoke(user, stored, {"password"}, rotate_tokens=True)
    return user


@transaction.atomic
def revoke_tokens(user: User) -> User:
    """ "Sign out my integrations": every API token, websocket ticket and open socket of the
    user stops working. Their password, and so their sessions, stay."""
    _revoke(user, _lock_user(user.pk), set(), rotate_tokens=True)
    return user


def set_theme(user: User, theme: str) -> User:
    """Remember the person's colour scheme (`Theme`) for every page they open, on any device.

    Only this column is written: a preference vouches for nothing, so no credential changes.
    """
    if theme not in Theme.values:
        raise ValueError(f"unknown theme {theme!r}")
    user.theme = theme
    User.objects.filter(pk=user.pk).update(theme=theme)
    return user


def _check_locale(changes: dict[str, Any]) -> None:
    """A language must be one the site speaks ("" follows the browser), a time zone an IANA
    name ("" follows the company's): the forms and serializers say so politely first."""
    language = changes.get("language")
    if language and language not in {code for code, _name in settings.LANGUAGES}:
        raise ValueError(f"unknown language {language!r}")
    zone = changes.get("time_zone")
    if zone and not is_time_zone(zone):
        raise ValueError(f"unknown time zone {zone!r}")


def set_preferences(
    user: User, *, language: str | None = None, time_zone: str | None = None
) -> User:
    """The user's own language and time zone (their preferences page, the language switcher,
    `PATCH /api/v1/users/me/`). Neither is a credential: nothing is revoked."""
    changes: dict[str, Any] = {}
    if language is not None:
        changes["language"] = language
    if time_zone is not None:
        changes["time_zone"] = time_zone
    return update_user(user, **changes) if changes else user


def _lock_user(user_id: int) -> User:
    """The stored row, locked until the transaction ends: two revocations of one user never
    hand out the same stamp, and what changed is judged against the row, not a caller's copy
    (the admin passes an instance its form has already changed).

    Lock order (chats/locks.py): the agent's row after the company's routing lock, never
    before it — so callers that go through `set_agent_status` do so first.
    """
    return (
        User.objects.select_for_update()
        .only("credentials_version", "role", "company_id", "is_active")
        .get(pk=user_id)
    )


def _revoke(user: User, stored: User, fields: set[str], *, rotate_tokens: bool) -> None:
    """Save `fields` of `user` with the next credentials stamp; after commit, close the
    sockets opened under an older one. Precondition: `stored` is `_lock_user`'s row."""
    user.credentials_version = stored.credentials_version + 1
    user.save(update_fields=sorted({*fields, "credentials_version"}))
    if rotate_tokens:
        # DRF keeps one token per user; the next `POST /api/v1/auth/token/` makes a new key.
        Token.objects.filter(user_id=user.pk).delete()
    transaction.on_commit(
        functools.partial(sockets.close_user_sockets, user.pk, user.credentials_version),
        robust=True,  # the sockets' own re-checks are the backstop if Redis is down
    )


def _take_offline(user: User) -> None:
    """Offline through the routing action (which re-routes the user's pending offers and tells
    the supervisors), before the deactivation itself is written."""
    status, company_id = User.objects.filter(pk=user.pk).values_list("status", "company_id").get()
    if status == AgentStatus.OFFLINE:
        return
    if company_id is not None:
        set_agent_status(user.pk, AgentStatus.OFFLINE, reason="deactivated")
    else:  # a superadmin: no company, no routing
        User.objects.filter(pk=user.pk).update(
            status=AgentStatus.OFFLINE, status_changed_at=timezone.now()
        )
    user.refresh_from_db(fields=["status", "status_changed_at", "active_chats", "idle_since"])


def _pk(value: Company | int | None) -> int | None:
    return value.pk if isinstance(value, Company) else value


@transaction.atomic
def update_company(company: Company, **changes: Any) -> Company:
    """Rename, re-slug or (de)activate a tenant. Deactivating one revokes the credentials of
    all its people, as deactivating each of them would (their sockets close)."""
    unknown = set(changes) - {"name", "slug", "is_active", "time_zone"}
    if unknown:
        raise TypeError(f"unknown company fields: {sorted(unknown)}")
    if "time_zone" in changes:
        changes["time_zone"] = changes["time_zone"] or "UTC"
    if "time_zone" in changes and not is_time_zone(changes["time_zone"]):
        raise ValueError(f"unknown time zone {changes['time_zone']!r}")
    was_active = Company.objects.filter(pk=company.pk).values_list("is_active", flat=True).get()
    for field, value in changes.items():
        setattr(company, field, value)
    company.save()
    if was_active and not company.is_active:
        staff = User.objects.filter(company=company)
        staff.update(credentials_version=F("credentials_version") + 1)
        for user_id, version in staff.values_list("pk", "credentials_version"):
            transaction.on_commit(
                functools.partial(sockets.close_user_sockets, user_id, version), robust=True
            )
    return company
