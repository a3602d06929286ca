"""Who may open which page: the one list the page views check, the start page's tiles and the
shared navigation (templates/switchboard/site_nav.html) are drawn from.

Roles only, like the views: a page then still refuses a member of an inactive company or a
company role without a company (its own readable 403). The REST API keeps its own role sets
(routing_service/api/permissions.py); the analytics pages and their API agree because
``analytics.api`` reads ``ANALYTICS_ROLES`` from here.

Lives in tenancy (roles are accounts) so that the pages of every layer can import it: realtime
and analytics both sit above tenancy (tests/events/test_layers.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from routing_service.tenancy.models import HANDLING_ROLES, MANAGING_ROLES, Role, User

__all__ = [
    "ADMIN_ROLES",
    "ANALYTICS_ROLES",
    "CHAT_DASHBOARD_ROLES",
    "CONSOLE_ROLES",
    "CONSOLE_USERS",
    "CONVERSATIONS_ROLES",
    "PAGES",
    "WALLBOARD_ROLES",
    "SitePage",
    "may_open",
    "pages_for",
]

# The console opens for company admins too, but only to point them at the wallboard: their
# role cannot take chats (the agent socket refuses them), so navigation offers it to
# CONSOLE_USERS only.
CONSOLE_ROLES: Final = frozenset({Role.AGENT, Role.SUPERVISOR, Role.COMPANY_ADMIN})
CONSOLE_USERS: Final = HANDLING_ROLES
WALLBOARD_ROLES: Final = frozenset({Role.SUPERVISOR, Role.COMPANY_ADMIN, Role.SUPERADMIN})
CHAT_DASHBOARD_ROLES: Final = frozenset({Role.SUPERADMIN, Role.COMPANY_ADMIN, Role.SUPERVISOR})
# The supervisors' conversations page (/conversations/, realtime/monitoring_views.py).
CONVERSATIONS_ROLES: Final = frozenset({Role.SUPERVISOR, Role.COMPANY_ADMIN, Role.SUPERADMIN})
ANALYTICS_ROLES: Final = frozenset(
    {Role.SUPERADMIN, Role.COMPANY_ADMIN, Role.SUPERVISOR, Role.VIEWER}
)
# Django's admin takes staff, and `User.save` makes exactly these roles staff.
ADMIN_ROLES: Final = MANAGING_ROLES


@dataclass(frozen=True, slots=True)
class SitePage:
    """A page of the site as navigation shows it."""

    key: str
    path: str
    title: str | Promise
    description: str | Promise
    roles: frozenset[str]
    # Pages that show one company: a superadmin's link carries the company being looked at.
    per_company: bool = False


PAGES: Final = (
    SitePage(
        "console",
        "/console/",
        _("Console"),
        _("Take chats, reply and resolve."),
        CONSOLE_USERS,
    ),
    SitePage(
        "wallboard",
        "/wallboard/",
        _("Wallboard"),
        _("Live queue, agents and SLA at a glance."),
        WALLBOARD_ROLES,
        per_company=True,
    ),
    SitePage(
        "conversations",
        "/conversations/",
        _("Conversations"),
        _("Every live chat: follow, whisper, take over."),
        CONVERSATIONS_ROLES,
        per_company=True,
    ),
    SitePage(
        "chat-dashboard",
        "/chat/dashboard/",
        _("Chat dashboard"),
        _("SLA compliance, response times, agents."),
        CHAT_DASHBOARD_ROLES,
        per_company=True,
    ),
    SitePage(
        "analytics",
        "/analytics/",
        _("Analytics"),
        _("Imported sessions, dashboards and search."),
        ANALYTICS_ROLES,
        per_company=True,
    ),
    SitePage(
        "admin",
        "/admin/",
        _("Administration"),
        _("Companies, people, channels, SLAs and routing."),
        ADMIN_ROLES,
    ),
)
_BY_KEY: Final = {page.key: page for page in PAGES}


def may_open(user: User, key: str) -> bool:
    """Whether `user`'s role may use the page `key` (one of `PAGES`)."""
    return user.is_active and user.role in _BY_KEY[key].roles


def pages_for(user: User, pages: Iterable[SitePage] = PAGES) -> list[SitePage]:
    """The pages `user` may use, in navigation order."""
    return [page for page in pages if may_open(user, page.key)]
