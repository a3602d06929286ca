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
