"""Site pages that belong to no single package: the landing page and JSON error pages."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _

from routing_service.api.docs import docs_allowed
from routing_service.security.forms import ThrottledAuthenticationForm, throttled_response
from routing_service.tenancy.models import Role

# What each role can open, in the order the landing page lists it.
# Titles and descriptions: text, or lazily translated text.
_LINKS: list[tuple[Any, str, Any, frozenset[str]]] = [
    (
        "Agent console",
        "/console/",
        "Take chats, reply and resolve.",
        frozenset({Role.AGENT, Role.SUPERVISOR}),
    ),
    (
        "Wallboard",
        "/wallboard/",
        "Live queue, agents and SLA at a glance.",
        frozenset({Role.SUPERVISOR, Role.COMPANY_ADMIN, Role.SUPERADMIN}),
    ),
    (
        _("Conversations"),
        "/conversations/",
        _("Every live chat: follow, whisper, take over."),
        frozenset({Role.SUPERVISOR, Role.COMPANY_ADMIN, Role.SUPERADMIN}),
    ),
    (
        "Chat dashboard",
        "/chat/dashboard/",
        "SLA compliance, response times, agents.",
        frozenset({Role.SUPERVISOR, Role.COMPANY_ADMIN, Role.SUPERADMIN}),
    ),
    (
        "Analytics",
        "/analytics/",
        "Imported sessions, dashboards and search.",
        frozenset({Role.SUPERVISOR, Role.COMPANY_ADMIN, Role.SUPERADMIN, Role.VIEWER}),
    ),
    (
        "Administration",
        "/admin/",
        "Companies, people, channels, SLAs and routing.",
        frozenset({Role.COMPANY_ADMIN, Role.SUPERADMIN}),
    ),
    (
        "API documentation",
        "/api/docs/",
        "The REST API and its OpenAPI schema.",
        frozenset(Role.values),
    ),
]


@login_required
def home(request: HttpRequest) -> HttpResponse:
    role = request.user.role  # type: ignore[union-attr]
    links = [
        {"title": t, "url": u, "description": d}
        for t, u, d, roles in _LINKS
        if role in roles and (u != "/api/docs/" or docs_allowed(request.user))
    ]
    return render(request, "switchboard/home.html", {"links": links})


class LoginView(auth_views.LoginView):
    """`/accounts/login/` under the login throttle: a locked-out attempt gets the form back with
    a readable message, as 429 with Retry-After."""

    authentication_form = ThrottledAuthenticationForm

    def form_invalid(self, form: Any) -> HttpResponse:
        return throttled_response(super().form_invalid(form), form)  # type: ignore[return-value]


def json_404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Not found."}, status=404)
    return render(request, "404.html", status=404)


def json_500(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Server error."}, status=500)
    return render(request, "500.html", status=500)


def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness: the process answers. No dependencies on purpose."""
    return JsonResponse({"status": "ok"})
