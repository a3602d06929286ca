"""Writes to companies and staff: the one place views, commands and tests create them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils.text import slugify

from routing_service.chats.models import RoutingPolicy
from routing_service.tenancy.models import AgentStatus, Company, Role, User


@transaction.atomic
def create_company(name: str, slug: str | None = None) -> Company:
    """A company with its default routing policy (every company has exactly one)."""
    company = Company.objects.create(name=name, slug=slug or slugify(name))
    RoutingPolicy.objects.create(company=company)
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
    user.save()
    return user


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
    }
)


@transaction.atomic
def update_user(user: User, *, password: str | None = None, **changes: Any) -> User:
    """Change a staff member's profile, role or company; `password` (if given) is re-hashed.

    A deactivated user also goes offline, so the router stops offering them chats.
    """
    unknown = set(changes) - _USER_FIELDS
    if unknown:
        raise TypeError(f"unknown user fields: {sorted(unknown)}")
    if "role" in changes and changes["role"] not in Role.values:
        raise ValueError(f"unknown role {changes['role']!r}")
    for tags in ("skills", "languages"):
        if tags in changes:
            changes[tags] = normalise_tags(changes[tags])
    for field, value in changes.items():
        setattr(user, field, value)
    if password:
        user.set_password(password)
    if changes.get("is_active") is False:
        _go_offline(user)
    user.save()
    return user


@transaction.atomic
def deactivate_user(user: User) -> User:
    """Stop a user from signing in or taking chats, keeping their history (assignments,
    messages and audit events point at them, so they are never deleted)."""
    user.is_active = False
    _go_offline(user)
    user.save(update_fields=["is_active", "status", "status_changed_at"])
    return user


def _go_offline(user: User) -> None:
    from django.utils import timezone

    if user.status != AgentStatus.OFFLINE:
        user.status = AgentStatus.OFFLINE
        user.status_changed_at = timezone.now()


def update_company(company: Company, **changes: Any) -> Company:
    """Rename, re-slug or (de)activate a tenant."""
    unknown = set(changes) - {"name", "slug", "is_active"}
    if unknown:
        raise TypeError(f"unknown company fields: {sorted(unknown)}")
    for field, value in changes.items():
        setattr(company, field, value)
    company.save()
    return company
