"""⑤ The pages on top of the sockets: `/console/` (agents) and `/wallboard/` (supervisors).

Thin on purpose: sign-in, role and company are checked here, and the page gets what the
browser needs to open its socket (a `json_script` config: who, which company, the socket path,
the CSRF token for the few REST calls, SLA warning windows). Everything live then comes over
`/ws/agent/` or `/ws/wallboard/` (realtime/PROTOCOL.md) and is drawn by
`frontend_static/console/` and `frontend_static/wallboard/`.

The roles mirror the sockets' (realtime/consumers/): the console's socket takes agents and
supervisors; a company admin may open the page but only gets a pointer to the wallboard, since
their role cannot take chats (the socket would close with 4403). The wallboard is for
supervisors, company admins and superadmins, who pick the company with `?company=<id>`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from realtime.wallboard import warning_windows
from routing_service.chats.models import Priority
from routing_service.tenancy import alert_preferences
from routing_service.tenancy.models import Company, Role, User
from routing_service.tenancy.pages import CONSOLE_ROLES, WALLBOARD_ROLES


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


def forbidden(request: HttpRequest, allowed: frozenset[str], why: str = "") -> HttpResponse:
    """A readable 403 page: who may open the page, and why this user may not."""
    labels = [label for value, label in Role.choices if value in allowed]
    context = {"allowed_roles": labels, "why": why}
    return render(request, "realtime/forbidden.html", context, status=403)


def _sla_windows(company_id: int) -> dict[str, dict[str, float]]:
    """Per priority, how many seconds before a due time a chat turns "at risk": the same
    wall-clock windows the wallboard's stats count with (realtime/wallboard.py)."""
    return {
        str(priority): {
            "first_response": first.total_seconds(),
            "resolution": resolution.total_seconds(),
        }
        for priority, (first, resolution) in warning_windows(company_id).items()
    }


def _base_config(request: HttpRequest, company: Company, ws_path: str) -> dict[str, Any]:
    user = _user(request)
    return {
        "user": {
            "id": user.pk,
            "username": user.username,
            "name": user.get_full_name() or user.username,
            "role": user.role,
        },
        "company": {"id": company.pk, "name": company.name},
        # A path: the browser resolves it against the page (ws: or wss: like the page).
        "ws_url": ws_path,
        "csrf_token": get_token(request),
        "heartbeat_seconds": settings.PRESENCE_HEARTBEAT_SECONDS,
        "sla_windows": _sla_windows(company.pk),
    }


@require_GET
@never_cache
@login_required
def console(request: HttpRequest) -> HttpResponse:
    """The agent console: queue, my chats with SLA countdowns, transcript and reply box."""
    user = _user(request)
    if user.role not in CONSOLE_ROLES:
        return forbidden(request, CONSOLE_ROLES)
    company = user.company
    if company is None or not company.is_active:
        return forbidden(request, CONSOLE_ROLES, _("Your company is not active."))
    config = {
        **_base_config(request, company, "/ws/agent/"),
        "api": {
            "conversations": reverse("conversation-list"),
            "users": reverse("user-list"),
            "notifications": reverse("notification-list"),
            "labels": reverse("label-list"),
            "canned": reverse("canned-response-list"),
            "clients": reverse("client-list"),
            "attachments": reverse("api-attachments"),
            "alerts": reverse("console-alerts"),
        },
        # Sounds and desktop notifications (tenancy/alert_preferences.py), switched per person.
        "alerts": alert_preferences.effective(user.console_alerts),
        # What the workspace panels offer (the API enforces the same rules).
        "can_manage_shared_canned": user.is_company_admin,
        "can_manage_labels": user.can_supervise,
    }
    context = {"config": config, "can_take_chats": user.can_handle_chats, "company": company}
    return render(request, "realtime/console.html", context)


def _superadmin_company(request: HttpRequest) -> Company | None:
    raw = request.GET.get("company", "")
    if not raw:
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
        raise Http404(_("No such company."))
    company = Company.objects.filter(pk=int(raw)).first()
    if company is None:
        raise Http404(_("No such company."))
    return company


def _choose_company(request: HttpRequest) -> HttpResponse:
    choices = [
        {"company": company, "url": f"{request.path}?{urlencode({'company': company.pk})}"}
        for company in Company.objects.order_by("name")
    ]
    return render(request, "realtime/choose_company.html", {"choices": choices})


@require_GET
@never_cache
@login_required
def wallboard(request: HttpRequest) -> HttpResponse:
    """The supervisors' wallboard: big numbers, the agent grid, the queue, SLA at risk."""
    user = _user(request)
    if user.role not in WALLBOARD_ROLES:
        return forbidden(request, WALLBOARD_ROLES)
    ws_path = "/ws/wallboard/"
    if user.is_superadmin:
        company = _superadmin_company(request)
        if company is None:
            return _choose_company(request)
        ws_path += f"?{urlencode({'company': company.pk})}"
    else:
        company = user.company
        if company is None:
            return forbidden(request, WALLBOARD_ROLES, _("You are not a member of a company."))
        if not company.is_active:  # the socket refuses members of an inactive company
            return forbidden(request, WALLBOARD_ROLES, _("Your company is not active."))
    context = {
        "config": _base_config(request, company, ws_path),
        "company": company,
        "is_superadmin": user.is_superadmin,
        # Most pressing first, with their names in the user's language.
        "priorities": list(reversed(Priority.choices)),
    }
    return render(request, "realtime/wallboard.html", context)
