"""Fixtures: one world of rows for company A ("Acme") and one for company B ("Globex")."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from routing_service.tenancy.models import Company, User
from tests.tenancy.world import World, build_world


@pytest.fixture
def world_a(company_a: Company, make_user: Callable[..., User]) -> World:
    return build_world(company_a, "Acme", make_user)


@pytest.fixture
def world_b(company_b: Company, make_user: Callable[..., User]) -> World:
    return build_world(company_b, "Globex", make_user)


@pytest.fixture
def worlds(world_a: World, world_b: World) -> tuple[World, World]:
    return world_a, world_b
