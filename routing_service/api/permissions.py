"""Who may do what over the REST API: one role table per viewset, checked before any lookup.

Roles decide *what kind* of request is allowed; the company scope (see `mixins`) decides *which
rows* exist for the caller. So a role that may not write gets 403 whatever the id, and a row of
another company is simply not found (404), never "forbidden" — its existence is not revealed.

The provisioning matrix (R read, W write, - 403):

    endpoint             superadmin  company_admin  supervisor  agent  viewer
    companies/           RW          -              -           -      -
    users/ (+ me/)       RW          RW own co.     R           R      R
    channels/            RW          RW             R           -      -
    sla-policies/        RW          RW             R           R      R
    routing-policy/      RW          RW             R           R      R
    auth/token/, ws-ticket/: anyone with credentials / any signed-in user.

Agents read the roster because transfers name a colleague; they do not read channels, which
are configuration (the conversation APIs name each chat's channel). Company admins never grant
the superadmin role nor move anyone to another company.
"""

from __future__ import annotations

from typing import Any

from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from routing_service.tenancy.models import Role

EVERYONE = frozenset(Role.values)
ADMINS = frozenset({Role.SUPERADMIN, Role.COMPANY_ADMIN})
SUPERADMIN_ONLY = frozenset({Role.SUPERADMIN})
SUPERVISORS = frozenset({Role.SUPERADMIN, Role.COMPANY_ADMIN, Role.SUPERVISOR})


class RolePermission(BasePermission):
    """Reads need a role in `view.read_roles`, writes one in `view.write_roles`."""

    message = "Your role does not allow this."

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if user is None or not user.is_authenticated:
            return False
        role = getattr(user, "role", None)
        roles = view.read_roles if request.method in SAFE_METHODS else view.write_roles
        return role in roles
